/**
 * `npm run bench -- store`: the store on PostgreSQL against the SQLite file, same machine, same run.
 *
 * - `api_get_rps_postgres`: authenticated `GET /v1/pipelines` (50 pipelines; API key lookup, rate
 *   limit count, store query, serialisation) in requests per second with the PostgreSQL store,
 *   against the same app on the SQLite store. autocannon in a second process, 10 connections,
 *   A B A B, the median of each side. The PostgreSQL server is Debian's, started here
 *   (deploy/dev/postgres.ts) with its default durability (fsync on).
 * - `audit_appends_per_s_postgres`: audit log appends per second from two stores (two replicas'
 *   pools) on one PostgreSQL database, 8 appends in flight each, against one SQLite store (its
 *   appends are synchronous: one at a time).
 *
 * `--quick`: 3 s load rounds and 3 s of appends (else 10 s each).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { buildApp } from '../services/api/app.ts';
import type { TemporalGateway } from '../services/api/plugins/app/temporal.ts';
import { createDatabase, startPostgres } from '../deploy/dev/postgres.ts';
import { loadConfig, statePaths } from '../shared/config.ts';
import { newApiKey } from '../shared/credentials.ts';
import { hashApiKey } from '../shared/store/api-key-hash.ts';
import type { NewAuditEntry } from '../shared/store/audit-log.ts';
import { openPostgresStore } from '../shared/store/postgres-store.ts';
import { openSqliteStore } from '../shared/store/sqlite-store.ts';
import type { Store } from '../shared/store/store.ts';
import { load, median, type LoadResult } from './api.ts';
import { localRegion } from '../shared/regions.ts';
import { figure, round, writeReport, type Figure } from './report.ts';

/** GET /v1/pipelines touches neither engine: a gateway that answers nothing is enough. */
const noTemporal: TemporalGateway = { regions: [{ region: localRegion, client: {} as Client, departmentSearchAttribute: false }], taskQueue: 'tandem-bench', ping: async () => {}, close: async () => {} };

async function seed(store: Store): Promise<string> {
  const key = newApiKey('key');
  await store.createApiKey({ name: 'bench-admin', role: 'admin', department: '*', keyHash: hashApiKey(key) });
  for (let i = 0; i < 50; i++) {
    const id = `bench-${String(i).padStart(2, '0')}`;
    await store.pipelines.save({ id, department: 'cardiology', spec: { id, department: 'cardiology', stages: [] }, specHash: 'h', dagId: `tandem__${id}`, fileName: `tandem__${id}.py`, status: 'deployed', deployedAt: null, lastError: null });
  }
  return key;
}

export const entry = (i: number): NewAuditEntry => ({
  actor: { kind: 'system', name: 'bench' },
  department: 'cardiology',
  subject: `workflow:bench-${i}`,
  event: 'workflow-started',
  workflowId: `bench-${i}`,
  details: { i },
});

/** Appends from every store, `inFlight` at a time each, for `seconds`; appends per second. */
export async function appendRate(stores: Store[], inFlight: number, seconds: number): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    stores.flatMap((store) =>
      Array.from({ length: inFlight }, async () => {
        while (performance.now() < deadline) await store.audit.append(entry(done++));
      }),
    ),
  );
  return done / ((performance.now() - t0) / 1000);
}

export async function storeBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const seconds = quick ? 3 : 10;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-store-'));
  const server = await startPostgres({ throwaway: false });
  const opened: Store[] = [];
  const apps: Awaited<ReturnType<typeof buildApp>>[] = [];
  try {
    const config = loadConfig({
      cwd: dir,
      env: { TANDEM_STATE_DIR: dir, TANDEM_LOG_LEVEL: 'silent', TANDEM_HANDOFF_RECONCILE_SCHEDULE: 'off', TANDEM_API_RATE_LIMIT_PER_MINUTE: '100000000' },
    });
    const sqlite = openSqliteStore(statePaths(dir).store);
    const postgres = await openPostgresStore(await createDatabase(server.url, 'tandem'), { migrate: true });
    opened.push(sqlite, postgres);
    const urls: Record<'sqlite' | 'postgres', { url: string; auth: Record<string, string> }> = {} as never;
    for (const [name, store] of [['sqlite', sqlite], ['postgres', postgres]] as const) {
      const key = await seed(store);
      const app = await buildApp({ config, store, temporal: noTemporal, airflowProbe: { ping: async () => {} } });
      apps.push(app);
      await app.listen({ host: '127.0.0.1', port: 0 });
      urls[name] = { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/pipelines`, auth: { authorization: `Bearer ${key}` } };
    }
    const runs: Record<'sqlite' | 'postgres', LoadResult[]> = { sqlite: [], postgres: [] };
    for (let round = 0; round < 2; round++) {
      for (const name of ['postgres', 'sqlite'] as const) runs[name].push(await load(urls[name].url, urls[name].auth, seconds));
    }
    const rps = { sqlite: median(runs.sqlite.map((r) => r.rps)), postgres: median(runs.postgres.map((r) => r.rps)) };

    const auditUrl = await createDatabase(server.url, 'tandem_audit');
    const replica = await openPostgresStore(auditUrl, { migrate: true });
    const second = await openPostgresStore(auditUrl, { migrate: false });
    opened.push(replica, second);
    const postgresAppends = await appendRate([replica, second], 8, seconds);
    const sqliteAppends = await appendRate([sqlite], 1, seconds);
    const verified = await replica.audit.verify();
    if (!verified.ok) throw new Error(`the audit chain written by two PostgreSQL stores does not verify: ${verified.reason}`);

    const figures = [
      figure({
        metric: 'api_get_rps_postgres',
        unit: 'rps',
        value: rps.postgres,
        baseline: 'the same app on the SQLite store (rps)',
        baseline_value: round(rps.sqlite, 0),
        note: `GET /v1/pipelines p99 ${median(runs.postgres.map((r) => r.p99))} ms on PostgreSQL, ${median(runs.sqlite.map((r) => r.p99))} ms on SQLite; 10 connections, ${seconds} s rounds, A B A B`,
      }),
      figure({
        metric: 'audit_appends_per_s_postgres',
        unit: 'appends/s',
        value: postgresAppends,
        baseline: 'one SQLite store (appends/s)',
        baseline_value: round(sqliteAppends, 0),
        note: `two stores on one PostgreSQL database, 8 appends in flight each, ${seconds} s; the chain of ${verified.entries} entries verifies`,
      }),
    ];
    writeReport('store', figures);
    return figures;
  } finally {
    for (const app of apps) await app.close();
    for (const store of opened) await store.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
