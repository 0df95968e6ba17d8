/**
 * The control-plane store on one machine: a SQLite file through Node's built-in `node:sqlite`
 * (no native addon to compile). The API and the worker open the same file at the same time, so
 * the file is in WAL mode (readers never block the writer) with a busy timeout (a second writer
 * waits instead of failing with SQLITE_BUSY).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { appliedMigrationsProblem, assertWellFormed, migrations as knownMigrations, type Migration } from './migrations.ts';
import { SqliteAuditLog } from './sqlite/audit-log.ts';
import { SqliteReviewInbox } from './sqlite/review-inbox.ts';
import { SqlitePipelineRegistry } from './sqlite/pipelines.ts';
import { SqliteFingerprintStore } from './sqlite/fingerprints.ts';
import { SqliteLlmTokenUsage } from './sqlite/llm-token-usage.ts';
import { SqliteIndexAliases } from './sqlite/index-aliases.ts';
import { SqliteHandoffs } from './sqlite/handoffs.ts';
import { SqliteIdempotencyStore } from './sqlite/idempotency.ts';
import { SqliteConsoleSessions } from './sqlite/console-sessions.ts';
import { SqliteWebhooks } from './sqlite/webhooks.ts';
import { SqliteTenants } from './sqlite/tenants.ts';
import { SqlitePayloadKeyRegistry } from './sqlite/payload-key-registry.ts';
import { DuplicateApiKeyError, StoreOpenError, toApiKey, type ApiKeyRecord, type ApiKeyRow, type NewApiKey, type Store } from './store.ts';
import { ProcessRateLimits } from './rate-limits.ts';
import type { Leadership } from './leadership.ts';

export interface SqliteStoreOptions {
  /** Defaults to the migrations this code ships; tests pass their own lists. */
  migrations?: readonly Migration[];
  /** How long a writer waits for another process's write lock before failing. */
  busyTimeoutMs?: number;
  now?: () => Date;
}

const SQLITE_NOTADB = 26;

function sqliteErrcode(err: unknown): number | undefined {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' ? code : undefined;
}

export class SqliteStore implements Store {
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #now: () => Date;
  readonly audit: SqliteAuditLog;
  readonly reviews: SqliteReviewInbox;
  readonly pipelines: SqlitePipelineRegistry;
  readonly fingerprints: SqliteFingerprintStore;
  readonly llmTokenUsage: SqliteLlmTokenUsage;
  readonly indexAliases: SqliteIndexAliases;
  readonly handoffs: SqliteHandoffs;
  readonly idempotency: SqliteIdempotencyStore;
  readonly consoleSessions: SqliteConsoleSessions;
  readonly webhooks: SqliteWebhooks;
  readonly tenants: SqliteTenants;
  readonly payloadKeys: SqlitePayloadKeyRegistry;
  readonly rateLimits: ProcessRateLimits;

  /** Use `openSqliteStore`, which also checks the file and migrates it. */
  constructor(file: string, db: DatabaseSync, now: () => Date) {
    this.file = file;
    this.#db = db;
    this.#now = now;
    this.audit = new SqliteAuditLog(db, now);
    this.reviews = new SqliteReviewInbox(db, now);
    this.pipelines = new SqlitePipelineRegistry(db, now);
    this.fingerprints = new SqliteFingerprintStore(db, now);
    this.llmTokenUsage = new SqliteLlmTokenUsage(db, now);
    this.indexAliases = new SqliteIndexAliases(db, now);
    this.handoffs = new SqliteHandoffs(db, now);
    this.idempotency = new SqliteIdempotencyStore(db, now);
    this.consoleSessions = new SqliteConsoleSessions(db, now);
    this.webhooks = new SqliteWebhooks(db, now);
    this.tenants = new SqliteTenants(db, now);
    this.payloadKeys = new SqlitePayloadKeyRegistry(db, now);
    this.rateLimits = new ProcessRateLimits(now);
  }

  leadership(): Leadership {
    // One machine: every process leads (see Store.leadership); closed stores lead nothing.
    return { holds: async () => this.#db.isOpen, release: async () => {} };
  }

  async ping(): Promise<void> {
    this.#db.prepare('SELECT 1').get();
  }

  async createApiKey(key: NewApiKey): Promise<ApiKeyRecord> {
    return this.#createApiKey(key);
  }

  #createApiKey(key: NewApiKey): ApiKeyRecord {
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
      this.#db.prepare(
        `INSERT INTO api_keys (id, name, key_hash, role, department, created_at, expires_at)
         VALUES (:id, :name, :keyHash, :role, :department, :createdAt, :expiresAt)`,
      ).run({
        id: record.id,
        name: record.name,
        keyHash: key.keyHash,
        role: record.role,
        department: record.department,
        createdAt: record.createdAt,
        expiresAt: record.expiresAt,
      });
    } catch (err) {
      if (String((err as Error).message).includes('UNIQUE constraint failed: api_keys.key_hash')) {
        throw new DuplicateApiKeyError('an API key with this hash already exists', { cause: err });
      }
      throw err;
    }
    return record;
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM api_keys WHERE key_hash = ?').get(keyHash);
    return row ? toApiKey(row as unknown as ApiKeyRow) : undefined;
  }

  async listApiKeys(page: { after?: { createdAt: string; id: string }; limit?: number; department?: string } = {}): Promise<ApiKeyRecord[]> {
    const rows = this.#db.prepare(
      `SELECT * FROM api_keys WHERE (created_at, id) > (:afterCreatedAt, :afterId) AND (:department IS NULL OR department = :department)
       ORDER BY created_at, id LIMIT :limit`,
    ).all({ afterCreatedAt: page.after?.createdAt ?? '', afterId: page.after?.id ?? '', limit: page.limit ?? -1, department: page.department ?? null });
    return rows.map((row) => toApiKey(row as unknown as ApiKeyRow));
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.#getApiKey(id);
  }

  #getApiKey(id: string): ApiKeyRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id);
    return row ? toApiKey(row as unknown as ApiKeyRow) : undefined;
  }

  async touchApiKey(id: string, at: string): Promise<void> {
    this.#db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)').run(at, id, at);
  }

  async rotateApiKey(id: string, replacement: { keyHash: string; expiresAt: string | null }, oldExpiresAt: string): Promise<{ old: ApiKeyRecord; created: ApiKeyRecord } | undefined> {
    // No await inside the transaction: another call on this connection would find it open.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const old = this.#getApiKey(id);
      const now = this.#now().toISOString();
      if (!old || old.revokedAt || (old.expiresAt && old.expiresAt <= now)) {
        this.#db.exec('ROLLBACK');
        return undefined;
      }
      const created = this.#createApiKey({ name: old.name, role: old.role, department: old.department, keyHash: replacement.keyHash, expiresAt: replacement.expiresAt });
      const expiresAt = old.expiresAt && old.expiresAt < oldExpiresAt ? old.expiresAt : oldExpiresAt;
      this.#db.prepare('UPDATE api_keys SET expires_at = ?, rotated_to = ? WHERE id = ?').run(expiresAt, created.id, id);
      this.#db.exec('COMMIT');
      return { old: this.#getApiKey(id)!, created };
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async revokeApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    this.#db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(
      this.#now().toISOString(),
      id,
    );
    const row = this.#db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id);
    return row ? toApiKey(row as unknown as ApiKeyRow) : undefined;
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

/**
 * Opens (creating if needed) the store file and brings its schema up to date. Refuses, with a
 * message naming the file, a file that is not SQLite, a SQLite file that is not a tandem store, and
 * a store migrated by a newer tandem. It never deletes or rewrites a file it refuses.
 */
/**
 * A connection that prepares each SQL text once: every store method runs the same few statements
 * over and over, and preparing one costs more than running it (a list of pipelines spent most of
 * its time in `prepare`). SQLite re-prepares a cached statement itself after a schema change.
 */
class StatementCachingDatabase extends DatabaseSync {
  readonly #statements = new Map<string, StatementSync>();

  override prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = super.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

export function openSqliteStore(file: string, options: SqliteStoreOptions = {}): SqliteStore {
  const migrations = options.migrations ?? knownMigrations;
  assertWellFormed(migrations);
  const now = options.now ?? (() => new Date());

  mkdirSync(path.dirname(file), { recursive: true });
  let db: DatabaseSync;
  try {
    db = new StatementCachingDatabase(file);
  } catch (err) {
    throw new StoreOpenError(`cannot open store ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
    // The first statement that reads the file: fails on a non-SQLite file before anything is written.
    const tables = db
      .prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      .all()
      .map((row) => String(row.name));
    if (tables.length > 0 && !tables.includes('schema_migrations')) {
      throw new StoreOpenError(
        `${file} is a SQLite database but not a tandem store (it has tables ${tables.join(', ')} and no ` +
          `schema_migrations); point TANDEM_STATE_DIR at another directory or move the file aside`,
      );
    }
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA foreign_keys = ON');
    migrate(db, file, migrations, now);
  } catch (err) {
    db.close();
    if (err instanceof StoreOpenError) throw err;
    if (sqliteErrcode(err) === SQLITE_NOTADB) {
      throw new StoreOpenError(
        `${file} is not a SQLite database (or is encrypted or corrupt); tandem left it untouched — ` +
          `move it aside or point TANDEM_STATE_DIR at another directory`,
        { cause: err },
      );
    }
    throw new StoreOpenError(`cannot open store ${file}: ${(err as Error).message}`, { cause: err });
  }
  return new SqliteStore(file, db, now);
}

function migrate(db: DatabaseSync, file: string, migrations: readonly Migration[], now: () => Date): void {
  // IMMEDIATE takes the write lock first, so when the API and the worker start together one
  // migrates and the other waits (busy_timeout), then finds nothing left to do.
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at TEXT NOT NULL
    ) STRICT`);
    const applied = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as unknown as {
      version: number;
      name: string;
    }[];
    const problem = appliedMigrationsProblem(`store ${file}`, applied, migrations);
    if (problem) throw new StoreOpenError(problem);
    const newest = applied.at(-1)?.version ?? 0;
    const insert = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of migrations.slice(newest)) {
      db.exec(migration.sql);
      insert.run(migration.version, migration.name, now().toISOString());
    }
    db.exec('COMMIT');
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}
