/**
 * The store at start-up, on PostgreSQL, through the real commands: the migrate command moves the
 * schema; the API and the worker refuse an unreachable database and a schema older or newer than
 * their code with one line on stderr and a non-zero exit, having written nothing (no table, no
 * file in the state dir).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { repoRoot, statePaths } from '../../shared/config.ts';
import { ensureCredentials } from '../../shared/credentials.ts';
import { migrations } from '../../shared/store/migrations.ts';
import { freshPostgresDatabase } from '../../test/support/postgres.ts';

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-store-start-'));
  ensureCredentials(statePaths(stateDir).credentials);
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

function run(script: string, databaseUrl: string) {
  // Only these TANDEM_ settings, whatever the environment of the test run holds.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TANDEM_')));
  const env = { ...inherited, TANDEM_STATE_DIR: stateDir, TANDEM_DATABASE_URL: databaseUrl, TANDEM_LOG_LEVEL: 'warn' };
  const result = spawnSync(process.execPath, [path.join(repoRoot, script)], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr.trim() };
}

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

const processes = [
  ['api', 'services/api/server.ts'],
  ['worker', 'services/worker/worker.ts'],
] as const;

describe('the migrate command', () => {
  it('brings an empty database to the latest schema, and says so', async () => {
    const url = await freshPostgresDatabase();
    const result = run('deploy/store/migrate.ts', url);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(new RegExp(`PostgreSQL 127\\.0\\.0\\.1:\\d+/t_\\w+ is at schema version ${migrations.length}`));
    expect(await sql(url, 'SELECT version FROM schema_migrations')).toHaveLength(migrations.length);
    expect(run('deploy/store/migrate.ts', url).code).toBe(0);
  });
});

describe.each(processes)('the %s at start', (_name, script) => {
  const filesBefore = () => readdirSync(stateDir).sort();

  it('refuses an unreachable database in one line, exit 1, nothing written', async () => {
    const url = new URL(await freshPostgresDatabase());
    url.port = '9';
    const before = filesBefore();
    const result = run(script, url.toString());
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^\S.*cannot reach PostgreSQL at 127\.0\.0\.1:9\/t_\w+ \(ECONNREFUSED\); start it, or fix TANDEM_DATABASE_URL$/);
    expect(result.stderr.split('\n')).toHaveLength(1);
    expect(filesBefore()).toEqual(before);
  });

  it('refuses a schema older than its code (an empty database too), naming the migrate command; creates no table', async () => {
    const url = await freshPostgresDatabase();
    const result = run(script, url);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/has schema version 0, older than this tandem \(\d+\); migrate it first with "node deploy\/store\/migrate\.ts"/);
    expect(await sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).toEqual([]);
  });

  it('refuses a schema newer than its code, and leaves it as it was', async () => {
    const url = await freshPostgresDatabase();
    expect(run('deploy/store/migrate.ts', url).code).toBe(0);
    await sql(url, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (${migrations.length + 1}, 'from_the_future', 'x')`);
    const before = filesBefore();
    const result = run(script, url);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(new RegExp(`has schema version ${migrations.length + 1}, newer than this tandem knows \\(${migrations.length}\\)`));
    expect(await sql(url, 'SELECT version FROM schema_migrations')).toHaveLength(migrations.length + 1);
    expect(filesBefore()).toEqual(before);
  });
});
