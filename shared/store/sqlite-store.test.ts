import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashApiKey } from './api-key-hash.ts';
import { migrations, type Migration } from './migrations.ts';
import { openSqliteStore, type SqliteStore } from './sqlite-store.ts';
import { StoreOpenError, type Store } from './store.ts';
import { storeContract } from '../../test/support/store-contract.ts';

let dir: string;
let file: string;
const opened: SqliteStore[] = [];
const open = (options?: Parameters<typeof openSqliteStore>[1]) => {
  const store = openSqliteStore(file, options);
  opened.push(store);
  return store;
};
/** Reads the file behind the store's back, as an operator with the sqlite3 shell would. */
const inspect = <T>(sql: string): T[] => {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
};

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-store-'));
  file = path.join(dir, 'tandem.db');
});
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const extraMigration: Migration = { version: migrations.length + 1, name: 'test_extra', sql: 'CREATE TABLE extra (x TEXT) STRICT;' };

describe('opening and migrating', () => {
  it('creates a fresh store at the latest schema version, in WAL mode', async () => {
    const store = open();
    await store.ping();
    const applied = inspect<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
    expect(applied.map((m) => [m.version, m.name])).toEqual(migrations.map((m) => [m.version, m.name]));
    expect(inspect<{ journal_mode: string }>('PRAGMA journal_mode')[0]?.journal_mode).toBe('wal');
  });

  it('re-opening an up-to-date store changes nothing', async () => {
    await open().close();
    const before = inspect('SELECT * FROM schema_migrations');
    await open().close();
    expect(inspect('SELECT * FROM schema_migrations')).toEqual(before);
  });

  it('applies only the migrations a store has not run yet', async () => {
    await open().close();
    const first = inspect<{ version: number; applied_at: string }>('SELECT * FROM schema_migrations');
    await open({ migrations: [...migrations, extraMigration], now: () => new Date('2030-01-01T00:00:00Z') }).close();
    const after = inspect<{ version: number; applied_at: string }>('SELECT * FROM schema_migrations ORDER BY version');
    expect(after.slice(0, first.length)).toEqual(first);
    expect(after.at(-1)).toMatchObject({ version: extraMigration.version, applied_at: '2030-01-01T00:00:00.000Z' });
    expect(inspect("SELECT name FROM sqlite_schema WHERE name = 'extra'")).toHaveLength(1);
  });

  it('refuses a store migrated by a newer tandem, and leaves it as it was', async () => {
    await open({ migrations: [...migrations, extraMigration] }).close();
    expect(() => open()).toThrow(StoreOpenError);
    expect(() => open()).toThrow(
      new RegExp(`${file}.*schema version ${extraMigration.version}, newer than this tandem knows \\(${migrations.length}\\)`),
    );
    expect(inspect('SELECT version FROM schema_migrations')).toHaveLength(migrations.length + 1);
  });

  it('refuses a store whose applied migration was renamed in the code', async () => {
    await open().close();
    const renamed = migrations.map((m, i) => (i === 0 ? { ...m, name: 'renamed' } : m));
    expect(() => open({ migrations: renamed })).toThrow(/applied migration 1 "api_keys", but this tandem calls it "renamed"/);
  });

  it('refuses a file that is not SQLite, names it, and leaves it intact', () => {
    const garbage = 'this is a log file, not a database\n'.repeat(200);
    writeFileSync(file, garbage);
    expect(() => open()).toThrow(StoreOpenError);
    expect(() => open()).toThrow(`${file} is not a SQLite database`);
    expect(readFileSync(file, 'utf8')).toBe(garbage);
  });

  it('refuses a SQLite database that belongs to something else', () => {
    const foreign = new DatabaseSync(file);
    foreign.exec('CREATE TABLE dag (dag_id TEXT)');
    foreign.close();
    expect(() => open()).toThrow(/is a SQLite database but not a tandem store \(it has tables dag/);
    expect(inspect("SELECT name FROM sqlite_schema WHERE name = 'schema_migrations'")).toHaveLength(0);
  });

  it('lets two processes use the same file (API and worker)', async () => {
    const api = open();
    const worker = open();
    await api.createApiKey({ name: 'a', role: 'admin', department: '*', keyHash: hashApiKey('a') });
    expect(await worker.findApiKeyByHash(hashApiKey('a'))).toMatchObject({ name: 'a' });
  });
});

describe('the SQLite file', () => {
  it('never holds an API key in plaintext', async () => {
    const store = open();
    await store.createApiKey({ name: 'a', role: 'reviewer', department: 'cardiology', keyHash: hashApiKey('tdm_key_secret-value') });
    await store.close();
    expect(readFileSync(file).includes('secret-value')).toBe(false);
  });
});

describe('store contract on SQLite', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  storeContract({
    async open(options) {
      const d = mkdtempSync(path.join(os.tmpdir(), 'tandem-contract-'));
      dirs.push(d);
      return openSqliteStore(path.join(d, 'tandem.db'), options);
    },
    async reopen(store: Store, options) {
      return openSqliteStore((store as SqliteStore).file, options);
    },
    async exec(store: Store, sql: string) {
      const db = new DatabaseSync((store as SqliteStore).file);
      try {
        db.exec(sql);
      } finally {
        db.close();
      }
    },
    dropAuditTriggersSql: 'DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;',
  });
});
