/**
 * The control-plane store: what tandem itself remembers (API keys now; audit log, fingerprints and
 * reviews later). Implementations: SQLite for one machine (`sqlite-store.ts`), PostgreSQL for
 * replicas (`postgres-store.ts`); `open-store.ts` opens the one the config names.
 * Methods are async even though SQLite is synchronous, so that the PostgreSQL store fits behind the
 * same interface. Pure: types, error classes and the API-key row mapper both stores share.
 */
import type { DepartmentScope, Role } from '../contracts/roles.ts';
import type { AuditLog } from './audit-log.ts';
import type { ReviewInbox } from './review-inbox.ts';
import type { PipelineRegistry } from './pipelines.ts';
import type { FingerprintStore } from './fingerprints.ts';
import type { LlmTokenUsage } from './llm-token-usage.ts';
import type { IndexAliasStore } from './index-aliases.ts';
import type { PayloadKeyRegistry } from './payload-key-registry.ts';
import type { HandoffStore } from './handoffs.ts';
import type { IdempotencyStore } from './idempotency.ts';
import type { ConsoleSessionStore } from './console-sessions.ts';
import type { WebhookStore } from './webhooks.ts';
import type { TenantStore } from './tenants.ts';
import type { Leadership, SingletonJob } from './leadership.ts';
import type { RateLimitCounter } from './rate-limits.ts';

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: Role;
  department: DepartmentScope;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601; revoked keys are kept (never deleted) so old audit entries still resolve. */
  revokedAt: string | null;
  /** ISO 8601; from then on the key is refused. Null: it does not expire. */
  expiresAt: string | null;
  /** ISO 8601, to the minute: when the key last authenticated a request. */
  lastUsedAt: string | null;
  /** The key that replaced this one by rotation. */
  rotatedTo: string | null;
}

export interface NewApiKey {
  name: string;
  role: Role;
  department: DepartmentScope;
  /** sha256 hex of the plaintext key (see `hashApiKey`); the store never sees the plaintext. */
  keyHash: string;
  expiresAt?: string | null;
}

export interface Store {
  /** Hash-chained, append-only audit log (audit-log.ts). */
  readonly audit: AuditLog;
  /** The built-in reviewer inbox (review-inbox.ts). */
  readonly reviews: ReviewInbox;
  /** Applied pipeline specs and their deploy state (pipelines.ts). */
  readonly pipelines: PipelineRegistry;
  /** Source fingerprints per (pipeline, source, partition) and partition outcomes (fingerprints.ts). */
  readonly fingerprints: FingerprintStore;
  /** Tokens spent on LLM calls per department, for the token budget (llm-token-usage.ts). */
  readonly llmTokenUsage: LlmTokenUsage;
  /** Index/model version aliases with switch history and per-version metrics (index-aliases.ts). */
  readonly indexAliases: IndexAliasStore;
  /** Airflow → Temporal hand-offs: task instance, current run, outcome (handoffs.ts). */
  readonly handoffs: HandoffStore;
  /** Idempotency-Key records of the control API: claims and responses to replay (idempotency.ts). */
  readonly idempotency: IdempotencyStore;
  /** Web console sessions and their used form ids (console-sessions.ts). */
  readonly consoleSessions: ConsoleSessionStore;
  /** Webhook subscriptions and their delivery log (webhooks.ts). */
  readonly webhooks: WebhookStore;
  /** Departments as tenants: namespace, quota, off-peak window, budgets (tenants.ts). */
  readonly tenants: TenantStore;
  /** The payload keys the deployment's processes encrypt with, by fingerprint (payload-key-registry.ts). */
  readonly payloadKeys: PayloadKeyRegistry;
  /** Request counts for the API's rate limit, shared by replicas on PostgreSQL (rate-limits.ts). */
  readonly rateLimits: RateLimitCounter;

  /**
   * Leadership of a job one replica runs at a time (leadership.ts). Released when the store closes.
   * On SQLite (one machine) every process holds it: the jobs are idempotent, and the lock is
   * only what keeps many replicas from multiplying their calls.
   */
  leadership(job: SingletonJob): Leadership;

  /** Cheap round trip, for readiness checks. Rejects when the store cannot serve queries. */
  ping(): Promise<void>;

  /** Throws `DuplicateApiKeyError` when a key with the same hash exists. */
  createApiKey(key: NewApiKey): Promise<ApiKeyRecord>;
  /** Includes revoked keys, so callers can tell "revoked" from "unknown" in their logs. */
  findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | undefined>;
  /** Oldest first; includes revoked keys; `after` and `limit` page through them. */
  listApiKeys(page?: { after?: { createdAt: string; id: string }; limit?: number; department?: string }): Promise<ApiKeyRecord[]>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  /** Records that the key authenticated a request at `at` (callers throttle: this is a write). */
  touchApiKey(id: string, at: string): Promise<void>;
  /**
   * Rotation in one transaction: creates `replacement` with the old key's name, role and
   * department, and lets the old key work until `oldExpiresAt` (an earlier expiry is kept).
   * Returns undefined when no live key has this id.
   */
  rotateApiKey(id: string, replacement: { keyHash: string; expiresAt: string | null }, oldExpiresAt: string): Promise<{ old: ApiKeyRecord; created: ApiKeyRecord } | undefined>;
  /**
   * Marks the key revoked (idempotent: an already revoked key keeps its first revocation time).
   * Returns undefined when no key has this id.
   */
  revokeApiKey(id: string): Promise<ApiKeyRecord | undefined>;

  /** Idempotent. */
  close(): Promise<void>;
}

/** The store file cannot be used as it is. The message names the file and what to do. */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

export class DuplicateApiKeyError extends Error {
  override name = 'DuplicateApiKeyError';
}

/** An `api_keys` row as both stores read it. */
export interface ApiKeyRow {
  id: string;
  name: string;
  role: string;
  department: string;
  created_at: string;
  revoked_at: string | null;
  expires_at: string | null;
  last_used_at: string | null;
  rotated_to: string | null;
}

export function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    // Written only by createApiKey from validated input; see the migration for why no CHECK.
    role: row.role as Role,
    department: row.department as DepartmentScope,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    rotatedTo: row.rotated_to,
  };
}
