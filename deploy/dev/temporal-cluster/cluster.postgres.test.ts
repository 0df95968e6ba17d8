// The Temporal cluster on the postgres tier's server: its four services start on databases of
// this file's own, run a workflow start and a visibility query, a second start writes nothing,
// and a schema older or newer than the binary, or a server that cannot be reached, is refused
// with one sentence before anything is written or started. Builds temporal-server first when
// the cache lacks it (cold ~4 min).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { departmentSearchAttribute, registerDepartmentSearchAttribute } from '../../../services/flows/department-search-attribute.ts';
import { freeConsecutivePorts, freePorts } from '../ports.ts';
import { runCommand } from '../supervisor.ts';
import {
  clusterPorts,
  expectedSchemaVersions,
  startTemporalCluster,
  temporalBuildStep,
  TemporalClusterError,
  temporalServerDir,
  type TemporalClusterOptions,
  type TemporalDatabases,
} from './cluster.ts';

const adminUrl = inject('postgresAdminUrl');
let dir: string;
let options: TemporalClusterOptions;
const logs: string[] = [];
const log = (line: string) => logs.push(line);

async function query<T extends pg.QueryResultRow>(database: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const versionRow = (database: string) =>
  query<{ curr_version: string; creation_time: Date }>(database, 'SELECT curr_version, creation_time FROM schema_version WHERE db_name = $1', [database]);

beforeAll(async () => {
  await temporalBuildStep().run({ signal: new AbortController().signal, exec: runCommand });
  dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-temporal-cluster-'));
  const suffix = randomBytes(4).toString('hex');
  const [frontend, frontendHttp] = await freePorts('127.0.0.1', 2);
  const ports = clusterPorts(frontend!, frontendHttp!, await freeConsecutivePorts('127.0.0.1', 7, [frontend!, frontendHttp!]));
  const databases: TemporalDatabases = { default: `temporal_${suffix}`, visibility: `temporal_visibility_${suffix}` };
  options = { postgresUrl: adminUrl, ports, dir, namespaces: ['default'], databases, log } as TemporalClusterOptions;
}, 900_000);

afterAll(() => {
  if (dir && !process.env.TANDEM_TEST_KEEP_STATE) rmSync(dir, { recursive: true, force: true });
});

describe('startTemporalCluster', () => {
  it('creates both databases, applies the schema, runs four services, and a second start writes nothing', async () => {
    const cluster = await startTemporalCluster({ ...options, log });
    try {
      expect(Object.keys(cluster.supervisor.pids()).sort()).toEqual(['temporal-frontend', 'temporal-history', 'temporal-matching', 'temporal-worker']);
      const connection = await Connection.connect({ address: cluster.address });
      try {
        expect((await connection.workflowService.getSystemInfo({})).serverVersion).toBe('1.32.2');
        // A start through the frontend lands on a history shard; the list query reads visibility on PostgreSQL.
        const client = new Client({ connection, namespace: 'default' });
        const workflowId = `cluster-test-${randomBytes(4).toString('hex')}`;
        await client.workflow.start('nobodyRunsThis', { taskQueue: 'cluster-test', workflowId });
        const listed = async () => {
          const ids: string[] = [];
          for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) ids.push(w.workflowId);
          return ids;
        };
        const deadline = Date.now() + 15_000;
        while ((await listed()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
        expect(await listed()).toEqual([workflowId]);
        await client.workflow.getHandle(workflowId).terminate('test done');
        // The department attribute on the fresh namespace: a start carrying it right after it is
        // registered is accepted (the frontend's namespace cache would otherwise refuse it for ~1 s).
        expect(await registerDepartmentSearchAttribute(client)).toBe(true);
        const tagged = await client.workflow.start('nobodyRunsThis', {
          taskQueue: 'cluster-test',
          workflowId: `${workflowId}-tagged`,
          typedSearchAttributes: [{ key: departmentSearchAttribute, value: 'cardiology' }],
        });
        await tagged.terminate('test done');
      } finally {
        await connection.close();
      }
      expect((await query<{ n: string }>(options.databases!.default, 'SELECT count(*)::text AS n FROM shards'))[0]!.n).toBe('4');
    } finally {
      await cluster.stop();
    }

    const expected = expectedSchemaVersions();
    const before = { default: await versionRow(options.databases!.default), visibility: await versionRow(options.databases!.visibility) };
    expect(before.default.map((r) => r.curr_version)).toEqual([expected.default]);
    expect(before.visibility.map((r) => r.curr_version)).toEqual([expected.visibility]);
    const again = await startTemporalCluster({ ...options, log });
    await again.stop();
    // Nothing re-applied: the sql tool rewrites schema_version (and its creation_time) whenever it runs.
    expect(await versionRow(options.databases!.default)).toEqual(before.default);
    expect(await versionRow(options.databases!.visibility)).toEqual(before.visibility);
  }, 300_000);

  it('refuses a schema older than the binary, naming the upgrade, and one newer than it, writing and starting nothing', async () => {
    const database = options.databases!.default;
    const expected = expectedSchemaVersions().default;
    for (const [version, problem] of [
      ['1.10', /^Temporal schema of 127\.0\.0\.1:\d+\/temporal_\w+ is v1\.10, older than temporal-server 1\.32\.2 needs \(v1\.\d+\): back the database up, then start once with --upgrade-temporal-schema/],
      ['9.0', /^Temporal schema of 127\.0\.0\.1:\d+\/temporal_\w+ is v9\.0, newer than temporal-server 1\.32\.2 knows .*a newer Temporal wrote it/],
    ] as const) {
      await query(database, 'UPDATE schema_version SET curr_version = $1 WHERE db_name = $2', [version, database]);
      rmSync(path.join(dir, 'config.yaml'), { force: true });
      const err = await startTemporalCluster({ ...options, log }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TemporalClusterError);
      expect((err as Error).message).toMatch(problem);
      expect((err as Error).message).not.toContain('\n');
      expect((await versionRow(database)).map((r) => r.curr_version)).toEqual([version]);
      expect(existsSync(path.join(dir, 'config.yaml'))).toBe(false);
      expect(logs.filter((l) => l.startsWith('starting temporal-')).length).toBe(8); // the two starts of the first test only
    }
    await query(database, 'UPDATE schema_version SET curr_version = $1 WHERE db_name = $2', [expected, database]);
  }, 120_000);

  it('upgrades a schema really left at an older version when asked, then starts', async () => {
    // A database set up by the sql tool only to v1.10, as an older Temporal would have left it.
    const suffix = randomBytes(4).toString('hex');
    const databases: TemporalDatabases = { default: `temporal_old_${suffix}`, visibility: `temporal_visibility_old_${suffix}` };
    const url = new URL(adminUrl);
    const tool = path.join(temporalServerDir(), 'bin', 'temporal-sql-tool');
    const common = (db: string) => ['--plugin', 'postgres12', '--endpoint', url.hostname, '--port', url.port, '--user', decodeURIComponent(url.username), '--database', db];
    const env = { ...process.env, SQL_PASSWORD: decodeURIComponent(url.password) };
    await query('postgres', `CREATE DATABASE ${databases.default}`);
    await runCommand(tool, [...common(databases.default), 'setup-schema', '-v', '0.0'], { env });
    const versioned = path.join(temporalServerDir(), 'schema', 'postgresql', 'v12', 'temporal', 'versioned');
    await runCommand(tool, [...common(databases.default), 'update-schema', '-d', versioned, '-v', '1.10'], { env });
    expect((await versionRow(databases.default)).map((r) => r.curr_version)).toEqual(['1.10']);

    const refused = await startTemporalCluster({ ...options, databases, log }).catch((e: unknown) => e);
    expect((refused as Error).message).toMatch(/is v1\.10, older than temporal-server/);
    const upgraded = await startTemporalCluster({ ...options, databases, upgradeSchema: true, log });
    try {
      expect((await versionRow(databases.default)).map((r) => r.curr_version)).toEqual([expectedSchemaVersions().default]);
      // The visibility database did not exist: created and set up in the same start.
      expect((await versionRow(databases.visibility)).map((r) => r.curr_version)).toEqual([expectedSchemaVersions().visibility]);
    } finally {
      await upgraded.stop();
    }
  }, 180_000);

  it('refuses a PostgreSQL it cannot reach, before writing anything', async () => {
    const [closed] = await freePorts('127.0.0.1', 1);
    const unreachable = new URL(adminUrl);
    unreachable.port = String(closed);
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'tandem-temporal-cluster-'));
    try {
      const err = await startTemporalCluster({ ...options, postgresUrl: unreachable.toString(), dir: elsewhere, log }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TemporalClusterError);
      expect((err as Error).message).toBe(`cannot reach PostgreSQL at 127.0.0.1:${closed}/postgres (ECONNREFUSED); start it, or fix TANDEM_DATABASE_URL`);
      expect(existsSync(path.join(elsewhere, 'config.yaml'))).toBe(false);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
