import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { freshPostgresDatabase } from '../../test/support/postgres.ts';
import { storeContract } from '../../test/support/store-contract.ts';
import { migrations } from './migrations.ts';
import { postgresMigrations } from './postgres/migrations.ts';
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from './postgres-store.ts';
import { StoreOpenError, type Store } from './store.ts';

const urls = new WeakMap<Store, string>();
const opened: Store[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

async function open(url: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  const store = await openPostgresStore(url, { migrate: true, ...options });
  urls.set(store, url);
  opened.push(store);
  return store;
}

/** Reads the database behind the store's back, as an operator with psql would. */
async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const extraMigration = { version: postgresMigrations.length + 1, name: 'test_extra', sql: 'CREATE TABLE extra (x text);' };

describe('opening and migrating', () => {
  it('creates a fresh store at the latest schema version, the same versions as SQLite', async () => {
    const url = await freshPostgresDatabase();
    await (await open(url)).ping();
    const applied = await query<{ version: number; name: string }>(url, 'SELECT version, name FROM schema_migrations ORDER BY version');
    expect(applied.map((m) => [m.version, m.name])).toEqual(migrations.map((m) => [m.version, m.name]));
  });

  it('re-opening an up-to-date store changes nothing; without migrate it opens too', async () => {
    const url = await freshPostgresDatabase();
    await open(url);
    const before = await query(url, 'SELECT * FROM schema_migrations ORDER BY version');
    await open(url);
    await open(url, { migrate: false });
    expect(await query(url, 'SELECT * FROM schema_migrations ORDER BY version')).toEqual(before);
  });

  it('applies only the migrations a store has not run yet', async () => {
    const url = await freshPostgresDatabase();
    await open(url);
    const first = await query<{ version: number }>(url, 'SELECT * FROM schema_migrations ORDER BY version');
    await open(url, { migrations: [...postgresMigrations, extraMigration], now: () => new Date('2030-01-01T00:00:00Z') });
    const after = await query<{ version: number; applied_at: string }>(url, 'SELECT * FROM schema_migrations ORDER BY version');
    expect(after.slice(0, first.length)).toEqual(first);
    expect(after.at(-1)).toMatchObject({ version: extraMigration.version, applied_at: '2030-01-01T00:00:00.000Z' });
    expect(await query(url, "SELECT 1 FROM pg_tables WHERE tablename = 'extra'")).toHaveLength(1);
  });

  it('replicas starting together migrate once', async () => {
    const url = await freshPostgresDatabase();
    await Promise.all([open(url), open(url), open(url)]);
    expect(await query(url, 'SELECT version FROM schema_migrations')).toHaveLength(postgresMigrations.length);
  });

  it('refuses a schema older than the code without migrate, naming the fix, and writes nothing', async () => {
    const url = await freshPostgresDatabase();
    await open(url, { migrations: postgresMigrations.slice(0, 3) });
    const before = await query(url, 'SELECT * FROM schema_migrations ORDER BY version');
    const attempt = openPostgresStore(url, { migrate: false });
    await expect(attempt).rejects.toThrow(StoreOpenError);
    await expect(openPostgresStore(url, { migrate: false })).rejects.toThrow(
      new RegExp(`has schema version 3, older than this tandem \\(${postgresMigrations.length}\\); migrate it first with "node deploy/store/migrate.ts"`),
    );
    expect(await query(url, 'SELECT * FROM schema_migrations ORDER BY version')).toEqual(before);
    expect(await query(url, "SELECT 1 FROM pg_tables WHERE tablename = 'llm_token_usage'")).toHaveLength(0);
  });

  it('refuses an empty database without migrate, and creates nothing in it', async () => {
    const url = await freshPostgresDatabase();
    await expect(openPostgresStore(url, { migrate: false })).rejects.toThrow(/has schema version 0, older than this tandem/);
    expect(await query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).toEqual([]);
  });

  it('refuses a store migrated by a newer tandem, and leaves it as it was', async () => {
    const url = await freshPostgresDatabase();
    await open(url, { migrations: [...postgresMigrations, extraMigration] });
    await expect(openPostgresStore(url, { migrate: true })).rejects.toThrow(
      new RegExp(`PostgreSQL store 127\\.0\\.0\\.1:\\d+/t_\\w+ has schema version ${extraMigration.version}, newer than this tandem knows \\(${postgresMigrations.length}\\)`),
    );
    expect(await query(url, 'SELECT version FROM schema_migrations')).toHaveLength(postgresMigrations.length + 1);
  });

  it('refuses a store whose applied migration was renamed in the code', async () => {
    const url = await freshPostgresDatabase();
    await open(url);
    const renamed = postgresMigrations.map((m, i) => (i === 0 ? { ...m, name: 'renamed' } : m));
    await expect(openPostgresStore(url, { migrate: true, migrations: renamed })).rejects.toThrow(/applied migration 1 "api_keys", but this tandem calls it "renamed"/);
  });

  it('refuses a database that belongs to something else', async () => {
    const url = await freshPostgresDatabase();
    await query(url, 'CREATE TABLE dag (dag_id text)');
    await expect(openPostgresStore(url, { migrate: true })).rejects.toThrow(/is not a tandem store \(it has tables dag and no schema_migrations\)/);
    expect(await query(url, "SELECT 1 FROM pg_tables WHERE tablename = 'schema_migrations'")).toHaveLength(0);
  });

  it('names an unreachable server, a wrong password and a missing database, without the password', async () => {
    const url = new URL(await freshPostgresDatabase());
    const closedPort = new URL(url);
    closedPort.port = '9';
    const attempt = openPostgresStore(closedPort.toString(), { migrate: false });
    await expect(attempt).rejects.toThrow(/^cannot reach PostgreSQL at 127\.0\.0\.1:9\/t_\w+ \(ECONNREFUSED\); start it, or fix TANDEM_DATABASE_URL$/);
    const wrongPassword = new URL(url);
    wrongPassword.password = 'not-the-password';
    await expect(openPostgresStore(wrongPassword.toString(), { migrate: false })).rejects.toThrow(/refused the credentials .*fix the user or password in TANDEM_DATABASE_URL/);
    const missing = new URL(url);
    missing.pathname = '/no_such_db';
    const error = await openPostgresStore(missing.toString(), { migrate: false }).catch((err: Error) => err);
    expect(String(error)).toMatch(/database "no_such_db" does not exist; create it/);
    expect(String(error)).not.toContain(url.password);
  });

  it('refuses TRUNCATE of the audit log too', async () => {
    const url = await freshPostgresDatabase();
    const store = await open(url);
    await store.audit.append({ actor: { kind: 'system', name: 't' }, department: '*', subject: 's', event: 'created' });
    await expect(query(url, 'TRUNCATE audit_log')).rejects.toThrow(/append-only/);
  });
});

describe('what replicas share', () => {
  it('rate limit counts: two API processes count into one window', async () => {
    const url = await freshPostgresDatabase();
    const clock = () => new Date('2030-01-01T00:00:10Z');
    const [a, b] = [await open(url, { now: clock }), await open(url, { migrate: false, now: clock })];
    const hits = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).rateLimits.hit('ip:1', 60_000)));
    expect(hits.map((h) => h.hits).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('the reconciler\'s leadership: one holder at a time, taken over when the holder closes or loses its session', async () => {
    const url = await freshPostgresDatabase();
    const [a, b, c] = [await open(url), await open(url, { migrate: false }), await open(url, { migrate: false })];
    const [la, lb, lc] = [a, b, c].map((s) => s.leadership('handoff-reconciler'));
    expect(await la!.holds()).toBe(true);
    expect(await lb!.holds()).toBe(false);
    expect(await la!.holds()).toBe(true);
    await a.close(); // the holder's process ends
    expect(await lb!.holds()).toBe(true);
    expect(await lc!.holds()).toBe(false);
    // The holder's session is killed (a network cut, a failover): the lock is free again, and
    // whichever asks first takes it — the old holder on a new session, or the other — never both.
    await query(url, "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()");
    const afterCut = [await lb!.holds(), await lc!.holds()];
    expect(afterCut.filter(Boolean)).toHaveLength(1);
    const [holder, other] = afterCut[0] ? [lb!, lc!] : [lc!, lb!];
    await holder.release();
    expect(await holder.holds()).toBe(false);
    expect(await other.holds()).toBe(true);
  });
});

describe('store contract on PostgreSQL', () => {
  storeContract({
    async open(options) {
      const url = await freshPostgresDatabase();
      const store = await openPostgresStore(url, { migrate: true, now: options?.now });
      urls.set(store, url);
      return store;
    },
    async reopen(store, options) {
      const url = urls.get(store)!;
      const other = await openPostgresStore(url, { migrate: false, now: options?.now });
      urls.set(other, url);
      return other;
    },
    async exec(store, sql) {
      await query(urls.get(store)!, sql);
    },
    dropAuditTriggersSql: 'DROP TRIGGER audit_log_no_update ON audit_log; DROP TRIGGER audit_log_no_delete ON audit_log;',
  });
});
