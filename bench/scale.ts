/**
 * `npm run bench -- scale`: the cluster profile's engines against the embedded ones, same machine,
 * same run, each figure beside its baseline.
 *
 * - `scale_start_knee_cluster`: workflow starts per second through the API at the knee, on the
 *   Temporal cluster (frontend, history, matching and worker services, 4 history shards, on
 *   Debian's PostgreSQL with its default durability, fsync on), against the same API on the dev
 *   server (SQLite file, WAL, synchronous=normal) — bench/start-throughput.ts's curve and knee
 *   (`apiStartCurve`), no worker, so only the starts are measured.
 * - `scale_audit_appends_two_replicas_postgres`: audit appends per second from two replica
 *   processes (bench/audit-appender.ts: the store code the API runs, no HTTP) on one PostgreSQL
 *   database, 8 in flight each, against one process on the SQLite store (one at a time: its
 *   appends are synchronous). The chain both wrote must verify.
 * - `scale_handoff_completion_p95_cluster`: hand-off completion (review workflow close → Airflow
 *   task end) p95 on a cluster-profile stack (Airflow on PostgreSQL too), against an embedded
 *   stack, the same hand-offs decided one a second (bench/handoff.ts's `handoffBenchKit`).
 *
 * `--quick`: 1, 4, 16, 64 starts in flight for 4 s each, 4 s of appends, 10 hand-offs (else
 * 1 … 128 doubling for 10 s each, 10 s of appends, 50 hand-offs: a p95 from 50 samples).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDatabase, startPostgres } from '../deploy/dev/postgres.ts';
import { startStack } from '../deploy/dev/stack.ts';
import { clusterPorts, numHistoryShards, startTemporalCluster } from '../deploy/dev/temporal-cluster/cluster.ts';
import { loadConfig, repoRoot, type TandemConfig } from '../shared/config.ts';
import { openPostgresStore } from '../shared/store/postgres-store.ts';
import { openSqliteStore } from '../shared/store/sqlite-store.ts';
import { connectTemporal } from '../shared/temporal-connection.ts';
import { freeConsecutivePorts } from '../deploy/dev/ports.ts';
import { isolatedClusterEnv, isolatedStackEnv } from '../test/support/free-ports.ts';
import { startTemporal } from './engines.ts';
import { handoffBenchKit } from './handoff.ts';
import { percentile } from './measure.ts';
import { figure, round, writeReport, type Figure } from './report.ts';
import { apiStartCurve, type ThroughputPoint } from './start-throughput.ts';

const log = (line: string) => console.log(`[bench scale] ${line}`);

function benchConfig(stateDir: string, env: Record<string, string>): TandemConfig {
  return loadConfig({
    cwd: stateDir,
    env: { ...env, TANDEM_LOG_LEVEL: 'warn', TANDEM_HANDOFF_RECONCILE_SCHEDULE: 'off', TANDEM_API_RATE_LIMIT_PER_MINUTE: '100000000' },
  });
}

/** The start curve through the API on a Temporal that `start` brings up and the returned stop ends. */
async function startCurve(
  config: TandemConfig,
  levels: number[],
  seconds: number,
  start: () => Promise<() => Promise<void>>,
): Promise<{ points: ThroughputPoint[]; knee: { point: ThroughputPoint; saturated: boolean } }> {
  const stop = await start();
  try {
    const client = await connectTemporal(config);
    try {
      return await apiStartCurve(config, client, levels, seconds, log);
    } finally {
      await client.connection.close();
    }
  } finally {
    await stop();
  }
}

/** One audit-appender process; resolves with its append count. */
function appender(where: string, inFlight: number, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bench', 'audit-appender.ts'), where, String(inFlight), String(seconds)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve((JSON.parse(out) as { appends: number }).appends) : reject(new Error(`audit-appender exited ${code}`))));
  });
}

async function handoffP95(profile: 'embedded' | 'cluster', n: number): Promise<number[]> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), `tandem-bench-scale-${profile}-`));
  const stackEnv = { ...(await isolatedStackEnv(stateDir)), TANDEM_LOG_LEVEL: 'warn' };
  const env = { ...stackEnv, ...(profile === 'cluster' ? await isolatedClusterEnv(stackEnv) : {}) };
  const stack = await startStack(loadConfig({ cwd: stateDir, env }), log, { profile });
  let kit: Awaited<ReturnType<typeof handoffBenchKit>> | undefined;
  try {
    kit = await handoffBenchKit(stack);
    return await kit.completionLatencies(n);
  } finally {
    await kit?.close();
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

export async function scaleBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const levels = quick ? [1, 4, 16, 64] : [1, 2, 4, 8, 16, 32, 64, 128];
  const seconds = quick ? 4 : 10;
  const appendSeconds = quick ? 4 : 10;
  const nHandoffs = quick ? 10 : 50;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-scale-'));
  const server = await startPostgres({ throwaway: false });
  try {
    // --- starts/s until the knee: dev server, then the cluster -----------------------------------
    const devDir = path.join(dir, 'dev');
    const devConfig = benchConfig(devDir, { ...(await isolatedStackEnv(devDir)), TANDEM_STATE_DIR: devDir });
    log('starts through the API on the Temporal dev server');
    const dev = await startCurve(devConfig, levels, seconds, async () => {
      const supervisor = await startTemporal(devConfig, log, { worker: false });
      return () => supervisor.stop();
    });

    const clusterDir = path.join(dir, 'cluster');
    const clusterConfig = benchConfig(clusterDir, { ...(await isolatedStackEnv(clusterDir)), TANDEM_STATE_DIR: clusterDir });
    log(`starts through the API on the Temporal cluster (${numHistoryShards} history shards, PostgreSQL)`);
    const cluster = await startCurve(clusterConfig, levels, seconds, async () => {
      const t = clusterConfig.temporal;
      const running = await startTemporalCluster({
        postgresUrl: server.url,
        ports: clusterPorts(t.port, t.httpPort, await freeConsecutivePorts('127.0.0.1', 7, [t.port, t.httpPort, t.uiPort, t.metricsPort, clusterConfig.api.port])),
        dir: path.join(clusterDir, 'temporal-cluster'),
        namespaces: [t.namespace],
        log,
      });
      return () => running.stop();
    });

    // --- audit appends: two replica processes on PostgreSQL vs one on SQLite ----------------------
    const auditUrl = await createDatabase(server.url, 'tandem_audit');
    await (await openPostgresStore(auditUrl, { migrate: true })).close();
    const sqliteFile = path.join(dir, 'audit.db');
    await openSqliteStore(sqliteFile).close(); // migrated before the appender opens it
    log('audit appends: two replica processes on PostgreSQL, then one on SQLite');
    const postgresAppends = (await Promise.all([appender(auditUrl, 8, appendSeconds), appender(auditUrl, 8, appendSeconds)])).reduce((a, b) => a + b, 0);
    const sqliteAppends = await appender(sqliteFile, 1, appendSeconds);
    const verifier = await openPostgresStore(auditUrl, { migrate: false });
    const verified = await verifier.audit.verify();
    await verifier.close();
    if (!verified.ok) throw new Error(`the audit chain two replica processes wrote does not verify: ${verified.reason}`);

    // --- hand-off completion on the cluster profile, the embedded stack as baseline ---------------
    log(`hand-off completion: ${nHandoffs} hand-offs on a cluster-profile stack, then on an embedded one`);
    const clusterLatency = await handoffP95('cluster', nHandoffs);
    const embeddedLatency = await handoffP95('embedded', nHandoffs);

    const knee = (c: typeof dev) => `knee at ${c.knee.point.concurrency} in flight (p99 ${c.knee.point.p99_ms} ms)${c.knee.saturated ? '' : ', not saturated at the highest level tried'}`;
    const figures = [
      figure({
        metric: 'scale_start_knee_cluster',
        unit: 'starts/s',
        value: cluster.knee.point.starts_per_second,
        baseline: 'the same API on the Temporal dev server, at its knee (starts/s)',
        baseline_value: dev.knee.point.starts_per_second,
        note: `cluster: ${knee(cluster)}; dev server: ${knee(dev)}; ${levels.join(', ')} in flight, ${seconds} s each; 2 cores shared by API, autocannon and Temporal`,
      }),
      figure({
        metric: 'scale_start_max_cluster',
        unit: 'starts/s',
        value: Math.max(...cluster.points.map((p) => p.starts_per_second)),
        baseline: 'the dev server, best level (starts/s)',
        baseline_value: Math.max(...dev.points.map((p) => p.starts_per_second)),
      }),
      figure({
        metric: 'scale_audit_appends_two_replicas_postgres',
        unit: 'appends/s',
        value: postgresAppends / appendSeconds,
        baseline: 'one process on the SQLite store (appends/s)',
        baseline_value: round(sqliteAppends / appendSeconds, 0),
        note: `two processes on one PostgreSQL database, 8 in flight each, ${appendSeconds} s; the chain of ${verified.entries} entries verifies`,
      }),
      figure({
        metric: 'scale_handoff_completion_p95_cluster',
        unit: 'ms',
        value: percentile(clusterLatency, 95),
        baseline: 'the embedded stack, same hand-offs, p95 (ms)',
        baseline_value: percentile(embeddedLatency, 95),
        target: '<= 1000',
        note: `review workflow close → Airflow task end, ${nHandoffs} hand-offs decided one a second; p50 ${percentile(clusterLatency, 50)} ms on the cluster profile, ${percentile(embeddedLatency, 50)} ms embedded`,
      }),
    ];
    writeReport('scale', figures, {
      series: { starts_dev_server: dev.points, starts_cluster: cluster.points, handoff_latency_cluster_ms: clusterLatency, handoff_latency_embedded_ms: embeddedLatency },
    });
    return figures;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
