/**
 * The audit log: an append-only, hash-chained record of who did what to which review or workflow.
 * Each entry carries the hash of the entry before it, and its own hash covers its content and
 * that previous hash, so editing or deleting any stored row breaks the chain at that row and
 * `verify()` names it. Pure: types and the hashing rule only (the SQLite class stores rows).
 */
import { createHash } from 'node:crypto';
import type { Principal } from '../contracts/principal.ts';

/** Who caused an entry: an API key (identity from the key, never from a request body), or tandem. */
export type AuditActor =
  | { kind: 'key'; keyId: string; name: string; role: string }
  | { kind: 'system' | 'workflow'; name: string };

/** An API caller as an audit log actor: identity from the API key, never from a request body. */
export function auditActorOf(principal: Pick<Principal, 'keyId' | 'name' | 'role'>): AuditActor {
  return { kind: 'key', keyId: principal.keyId, name: principal.name, role: principal.role };
}

export const auditEvents = [
  'created',
  'viewed',
  'notified',
  'escalated',
  'reassigned',
  'commented',
  'decided',
  'expired',
  'decision-rejected',
  'workflow-started',
  'workflow-finished',
  'handoff-cancelled',
  'handoff-restarted',
  // Airflow's side of a pipeline, reported by the generated DAG's callbacks: a partition's task
  // failed, and a DAG run ended (with its partitions by outcome, read from Airflow).
  'partition-failed',
  'pipeline-run-finished',
  // The web console: sign-in and sign-out, and every post it refused (bad CSRF token, replayed
  // form, tampered field, expired session or revoked key), with the reason.
  'console-signed-in',
  'console-signed-out',
  'console-refused',
  // A platform admin created, replaced or deleted a department's tenant (its quota among others).
  'tenant-changed',
  'tenant-deleted',
] as const;
export type AuditEvent = (typeof auditEvents)[number];

export interface NewAuditEntry {
  actor: AuditActor;
  /** The department the subject belongs to; `*` for tandem-wide events. */
  department: string;
  /** What the entry is about, e.g. `review:<id>`, `workflow:<id>`. */
  subject: string;
  event: AuditEvent;
  workflowId?: string | null;
  artifactVersion?: string | null;
  details?: Record<string, unknown>;
  /**
   * Makes the append idempotent: a second append with the same key returns the first entry and
   * writes nothing. Activities pass `<workflowId>:<step>` so a retried activity never writes twice.
   */
  dedupeKey?: string | null;
}

export interface AuditEntry {
  seq: number;
  /** ISO 8601, taken by the store when the entry was appended. */
  at: string;
  actor: AuditActor;
  department: string;
  subject: string;
  event: AuditEvent;
  workflowId: string | null;
  artifactVersion: string | null;
  details: Record<string, unknown>;
  dedupeKey: string | null;
  /** Hash of the entry before this one; 64 zeros for the first entry. */
  prevHash: string;
  hash: string;
}

export interface AuditFilter {
  subject?: string;
  workflowId?: string;
  /** Only entries of this department (a department-scoped caller passes its own). */
  department?: string;
  /** Oldest first; at most this many (default 500). */
  limit?: number;
  /** Only entries after this sequence number (paging). */
  afterSeq?: number;
}

export type AuditVerification =
  | { ok: true; entries: number; headHash: string }
  | { ok: false; entries: number; firstBrokenSeq: number; reason: string };

export interface AuditLog {
  append(entry: NewAuditEntry): Promise<AuditEntry>;
  list(filter?: AuditFilter): Promise<AuditEntry[]>;
  /** Recomputes every hash from the first entry on and reports the first link that does not hold. */
  verify(): Promise<AuditVerification>;
}

export const genesisHash = '0'.repeat(64);

/** JSON with object keys sorted at every level, so the same entry always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** sha256 over the canonical form of everything in the entry except its own hash. */
export function auditEntryHash(entry: Omit<AuditEntry, 'hash'>): string {
  return createHash('sha256').update(canonicalJson(entry)).digest('hex');
}
