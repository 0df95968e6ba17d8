/**
 * The control-plane store on PostgreSQL, for more than one machine: several API and worker
 * replicas on one database (`TANDEM_DATABASE_URL=postgres://…`), through a `pg` pool per process.
 * What SQLite serialises with its single writer is serialised here by the database too —
 * transactions with row locks or advisory locks (postgres/sql.ts) — never in process memory,
 * since the other replicas cannot see that.
 *
 * Unlike the embedded SQLite file, the API and the worker do not migrate a PostgreSQL database
 * when they start: with replicas of two versions running during an upgrade, the schema moves
 * once, on purpose (`node deploy/store/migrate.ts`, which the launcher runs), and a process whose
 * code and schema disagree refuses to start instead of serving on the wrong tables.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { appliedMigrationsProblem, assertWellFormed, type Migration } from './migrations.ts';
import { postgresMigrations } from './postgres/migrations.ts';
import { PostgresAuditLog } from './postgres/audit-log.ts';
import { PostgresReviewInbox } from './postgres/review-inbox.ts';
import { PostgresPipelineRegistry } from './postgres/pipelines.ts';
import { PostgresFingerprintStore } from './postgres/fingerprints.ts';
import { PostgresLlmTokenUsage } from './postgres/llm-token-usage.ts';
import { PostgresIndexAliases } from './postgres/index-aliases.ts';
import { PostgresHandoffs } from './postgres/handoffs.ts';
import { PostgresIdempotencyStore } from './postgres/idempotency.ts';
import { PostgresConsoleSessions } from './postgres/console-sessions.ts';
import { PostgresWebhooks } from './postgres/webhooks.ts';
import { PostgresTenants } from './postgres/tenants.ts';
import { PostgresPayloadKeyRegistry } from './postgres/payload-key-registry.ts';
import { inTransaction, lockKeys, lockSpace, sqlState, uniqueViolation } from './postgres/sql.ts';
import { PostgresLeadership } from './postgres/leadership.ts';
import { PostgresRateLimits } from './postgres/rate-limits.ts';
import type { Leadership, SingletonJob } from './leadership.ts';
import { DuplicateApiKeyError, StoreOpenError, toApiKey, type ApiKeyRecord, type ApiKeyRow, type NewApiKey, type Store } from './store.ts';

export interface PostgresStoreOptions {
  /**
   * `true`: bring the schema up to date (the migrate command, tests). `false` (the API and the
   * worker): refuse a schema older than the code, and write nothing.
   */
  migrate: boolean;
  /** Defaults to the migrations this code ships; tests pass their own lists. */
  migrations?: readonly Migration[];
  /** Connections in this process's pool. */
  poolSize?: number;
  now?: () => Date;
}

/** `host:port/database` of a URL, without the password: what messages name. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'the configured database';
  }
}

export class PostgresStore implements Store {
  /** `host:port/database`, for messages. */
  readonly where: string;
  readonly pool: pg.Pool;
  readonly #url: string;
  readonly #now: () => Date;
  readonly #leaderships: PostgresLeadership[] = [];
  #closed: Promise<void> | undefined;
  readonly audit: PostgresAuditLog;
  readonly reviews: PostgresReviewInbox;
  readonly pipelines: PostgresPipelineRegistry;
  readonly fingerprints: PostgresFingerprintStore;
  readonly llmTokenUsage: PostgresLlmTokenUsage;
  readonly indexAliases: PostgresIndexAliases;
  readonly handoffs: PostgresHandoffs;
  readonly idempotency: PostgresIdempotencyStore;
  readonly consoleSessions: PostgresConsoleSessions;
  readonly webhooks: PostgresWebhooks;
  readonly tenants: PostgresTenants;
  readonly payloadKeys: PostgresPayloadKeyRegistry;
  readonly rateLimits: PostgresRateLimits;

  /** Use `openPostgresStore`, which also checks (or migrates) the schema. */
  constructor(url: string, pool: pg.Pool, now: () => Date) {
    this.where = describeDatabaseUrl(url);
    this.#url = url;
    this.pool = pool;
    this.#now = now;
    this.audit = new PostgresAuditLog(pool, now);
    this.reviews = new PostgresReviewInbox(pool, now);
    this.pipelines = new PostgresPipelineRegistry(pool, now);
    this.fingerprints = new PostgresFingerprintStore(pool, now);
    this.llmTokenUsage = new PostgresLlmTokenUsage(pool, now);
    this.indexAliases = new PostgresIndexAliases(pool, now);
    this.handoffs = new PostgresHandoffs(pool, now);
    this.idempotency = new PostgresIdempotencyStore(pool, now);
    this.consoleSessions = new PostgresConsoleSessions(pool, now);
    this.webhooks = new PostgresWebhooks(pool, now);
    this.tenants = new PostgresTenants(pool, now);
    this.payloadKeys = new PostgresPayloadKeyRegistry(pool, now);
    this.rateLimits = new PostgresRateLimits(pool, now);
  }

  leadership(job: SingletonJob): Leadership {
    const leadership = new PostgresLeadership(this.#url, job);
    this.#leaderships.push(leadership);
    return leadership;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async createApiKey(key: NewApiKey): Promise<ApiKeyRecord> {
    const record: ApiKeyRecord = {
      id: randomUUID(),
      name: key.name,
      role: key.role,
      department: key.department,
      createdAt: this.#now().toISOString(),
      revokedAt: null,
      expiresAt: key.expiresAt ?? null,
      lastUsedAt: null,
      rotatedTo: null,
    };
    try {
      await this.pool.query(
        `INSERT INTO api_keys (id, name, key_hash, role, department, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [record.id, record.name, key.keyHash, record.role, record.department, record.createdAt, record.expiresAt],
      );
    } catch (err) {
      if (sqlState(err) === uniqueViolation && (err as { constraint?: string }).constraint === 'api_keys_key_hash_key') {
        throw new DuplicateApiKeyError('an API key with this hash already exists', { cause: err });
      }
      throw err;
    }
    return record;
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const { rows } = await this.pool.query<ApiKeyRow>('SELECT * FROM api_keys WHERE key_hash = $1', [keyHash]);
    return rows[0] && toApiKey(rows[0]);
  }

  async listApiKeys(page: { after?: { createdAt: string; id: string }; limit?: number; department?: string } = {}): Promise<ApiKeyRecord[]> {
    const { rows } = await this.pool.query<ApiKeyRow>(
      `SELECT * FROM api_keys WHERE (created_at, id) > ($1, $2) AND ($3::text IS NULL OR department = $3)
       ORDER BY created_at, id LIMIT $4`,
      [page.after?.createdAt ?? '', page.after?.id ?? '', page.department ?? null, page.limit ?? null],
    );
    return rows.map(toApiKey);
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const { rows } = await this.pool.query<ApiKeyRow>('SELECT * FROM api_keys WHERE id = $1', [id]);
    return rows[0] && toApiKey(rows[0]);
  }

  async touchApiKey(id: string, at: string): Promise<void> {
    await this.pool.query('UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)', [id, at]);
  }

  async rotateApiKey(id: string, replacement: { keyHash: string; expiresAt: string | null }, oldExpiresAt: string): Promise<{ old: ApiKeyRecord; created: ApiKeyRecord } | undefined> {
    try {
      return await inTransaction(this.pool, async (db) => {
        // FOR UPDATE: two replicas rotating one key at once give it one successor.
        const oldRow = (await db.query<ApiKeyRow>('SELECT * FROM api_keys WHERE id = $1 FOR UPDATE', [id])).rows[0];
        const now = this.#now().toISOString();
        if (!oldRow || oldRow.revoked_at || (oldRow.expires_at && oldRow.expires_at <= now)) return undefined;
        const old = toApiKey(oldRow);
        const created: ApiKeyRecord = {
          id: randomUUID(),
          name: old.name,
          role: old.role,
          department: old.department,
          createdAt: now,
          revokedAt: null,
          expiresAt: replacement.expiresAt,
          lastUsedAt: null,
          rotatedTo: null,
        };
        await db.query(
          `INSERT INTO api_keys (id, name, key_hash, role, department, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [created.id, created.name, replacement.keyHash, created.role, created.department, created.createdAt, created.expiresAt],
        );
        const expiresAt = old.expiresAt && old.expiresAt < oldExpiresAt ? old.expiresAt : oldExpiresAt;
        const updated = await db.query<ApiKeyRow>('UPDATE api_keys SET expires_at = $2, rotated_to = $3 WHERE id = $1 RETURNING *', [id, expiresAt, created.id]);
        return { old: toApiKey(updated.rows[0]!), created };
      });
    } catch (err) {
      if (sqlState(err) === uniqueViolation) throw new DuplicateApiKeyError('an API key with this hash already exists', { cause: err });
      throw err;
    }
  }

  async revokeApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    await this.pool.query('UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL', [id, this.#now().toISOString()]);
    return this.getApiKey(id);
  }

  close(): Promise<void> {
    this.#closed ??= Promise.all(this.#leaderships.map((l) => l.release())).then(() => this.pool.end());
    return this.#closed;
  }
}

/** Why a connection failed, in words an operator acts on. */
export function connectionProblem(err: unknown, where: string): string {
  const code = (err as { code?: string } | null)?.code;
  const message = (err as Error | null)?.message ?? String(err);
  const fix = 'start it, or fix TANDEM_DATABASE_URL';
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || /timeout/i.test(message)) {
    return `cannot reach PostgreSQL at ${where} (${code ?? message}); ${fix}`;
  }
  if (code === '28P01' || code === '28000') return `PostgreSQL at ${where} refused the credentials (${message}); fix the user or password in TANDEM_DATABASE_URL`;
  if (code === '3D000') return `PostgreSQL at ${where}: ${message}; create it (createdb) or fix the database name in TANDEM_DATABASE_URL`;
  return `cannot use PostgreSQL at ${where}: ${message}; ${fix}`;
}

/**
 * Connects, checks the schema and (with `migrate`) brings it up to date. Refuses — with one
 * sentence naming the database, the problem and the fix, having written nothing — a database it
 * cannot reach, one that holds something other than a tandem store, a schema newer than the code
 * or disagreeing with it, and (without `migrate`) a schema older than the code.
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions): Promise<PostgresStore> {
  const migrations = options.migrations ?? postgresMigrations;
  assertWellFormed(migrations);
  const now = options.now ?? (() => new Date());
  const where = describeDatabaseUrl(url);
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, connectionTimeoutMillis: 5000 });
  // A pooled connection the server drops while idle (a restart, a failover) is an 'error' event;
  // unhandled it would end the process. The pool replaces it; the next query reports real trouble.
  pool.on('error', () => {});
  try {
    await migrate(pool, where, migrations, options.migrate, now);
  } catch (err) {
    await pool.end().catch(() => {});
    if (err instanceof StoreOpenError) throw err;
    throw new StoreOpenError(connectionProblem(err, where), { cause: err });
  }
  return new PostgresStore(url, pool, now);
}

async function migrate(pool: pg.Pool, where: string, migrations: readonly Migration[], apply: boolean, now: () => Date): Promise<void> {
  await inTransaction(pool, async (db) => {
    // Replicas starting together: one migrates, the others wait here and find nothing left to do.
    await db.query('SELECT pg_advisory_xact_lock($1, $2)', [lockSpace, lockKeys.migrations]);
    const tables = (
      await db.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`)
    ).rows.map((r) => r.name);
    if (tables.length > 0 && !tables.includes('schema_migrations')) {
      throw new StoreOpenError(
        `PostgreSQL database ${where} is not a tandem store (it has tables ${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', …' : ''} ` +
          `and no schema_migrations); point TANDEM_DATABASE_URL at an empty database of its own`,
      );
    }
    const applied = tables.includes('schema_migrations')
      ? (await db.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')).rows
      : [];
    const problem = appliedMigrationsProblem(`PostgreSQL store ${where}`, applied, migrations);
    if (problem) throw new StoreOpenError(problem);
    const newest = applied.at(-1)?.version ?? 0;
    const latest = migrations.at(-1)?.version ?? 0;
    if (newest === latest) return;
    if (!apply) {
      throw new StoreOpenError(
        `PostgreSQL store ${where} has schema version ${newest}, older than this tandem (${latest}); ` +
          `migrate it first with "node deploy/store/migrate.ts" (same TANDEM_DATABASE_URL; the launcher runs it on start)`,
      );
    }
    await db.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at text NOT NULL
    )`);
    for (const migration of migrations.slice(newest)) {
      await db.query(migration.sql);
      await db.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, now().toISOString()]);
    }
  });
}
