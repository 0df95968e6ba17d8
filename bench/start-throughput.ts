/**
 * `npm run bench -- start-throughput`: how many workflows per second the API starts before the
 * Temporal dev server saturates, and where the knee is.
 *
 * The Temporal dev server as the dev stack runs it (SQLite file in a temp state dir, free ports;
 * no worker, so only the starts are measured), the real API app (buildApp) in this process, and
 * autocannon in a second process sending `POST /v1/workflows` (smoke.echo, a fresh workflow id
 * each) with 1, 2, 4, … requests in flight, a fixed time at each level. The knee is the lowest
 * concurrency past which doubling it gains less than 10 % throughput. Baseline, same server, at
 * the knee's concurrency: `client.workflow.start` from this process, with no API in between.
 *
 * `--quick`: 1, 4, 16, 64 in flight, 4 s each (else 1 … 128, doubling, 10 s each).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../services/api/app.ts';
import { temporalGateway } from '../services/api/plugins/app/temporal.ts';
import { registerDepartmentSearchAttribute } from '../services/flows/department-search-attribute.ts';
import { loadConfig, repoRoot, statePaths, type TandemConfig } from '../shared/config.ts';
import type { Client } from '@temporalio/client';
import { newApiKey } from '../shared/credentials.ts';
import { hashApiKey } from '../shared/store/api-key-hash.ts';
import { openSqliteStore } from '../shared/store/sqlite-store.ts';
import { connectTemporal } from '../shared/temporal-connection.ts';
import { isolatedStackEnv } from '../test/support/free-ports.ts';
import { startTemporal } from './engines.ts';
import { localRegion } from '../shared/regions.ts';
import { figure, round, writeReport, type Figure } from './report.ts';

const log = (line: string) => console.log(`[bench start-throughput] ${line}`);

export interface ThroughputPoint {
  concurrency: number;
  starts_per_second: number;
  p50_ms: number;
  p99_ms: number;
}

/** The lowest concurrency past which the next level gains less than `gain` (10 %) throughput; the last level if none. */
export function kneeOf(points: ThroughputPoint[], gain = 0.1): { point: ThroughputPoint; saturated: boolean } {
  for (let i = 0; i + 1 < points.length; i++) {
    if (points[i + 1]!.starts_per_second < points[i]!.starts_per_second * (1 + gain)) return { point: points[i]!, saturated: true };
  }
  return { point: points.at(-1)!, saturated: false };
}

interface Autocannon {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}

function postLoad(url: string, headers: Record<string, string>, body: string, connections: number, seconds: number): Promise<Autocannon> {
  return new Promise((resolve, reject) => {
    const args = ['-c', String(connections), '-d', String(seconds), '-m', 'POST', '-b', body, '-j'];
    for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}=${value}`);
    const child = spawn(path.join(repoRoot, 'node_modules/.bin/autocannon'), [...args, url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}`));
      const result = JSON.parse(out) as Autocannon;
      if (result.non2xx > 0 || result.errors > 0) return reject(new Error(`autocannon saw ${result.non2xx} non-2xx answers and ${result.errors} errors at ${url}`));
      resolve(result);
    });
  });
}

export async function startThroughputBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const levels = quick ? [1, 4, 16, 64] : [1, 2, 4, 8, 16, 32, 64, 128];
  const seconds = quick ? 4 : 10;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-starts-'));
  const saved = { ...process.env };
  Object.assign(process.env, await isolatedStackEnv(stateDir), {
    TANDEM_LOG_LEVEL: 'warn',
    TANDEM_HANDOFF_RECONCILE_SCHEDULE: 'off',
    TANDEM_API_RATE_LIMIT_PER_MINUTE: '100000000',
  });
  const config = loadConfig();
  const supervisor = await startTemporal(config, log, { worker: false });
  const client = await connectTemporal(config);
  try {
    const { knee, points } = await apiStartCurve(config, client, levels, seconds, log);

    // Baseline at the knee's concurrency: the client alone, as many in flight, for as long.
    let direct = 0;
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: knee.point.concurrency }, async (_, lane) => {
        for (let i = 0; performance.now() < until; i++) {
          await client.workflow.start('echoWorkflow', { taskQueue: config.temporal.taskQueue, workflowId: `bench-direct-${lane}-${i}-${Date.now()}`, args: [{ message: 'bench' }] });
          direct++;
        }
      }),
    );
    const directRate = direct / seconds;

    const figures = [
      figure({
        metric: 'start_throughput_knee',
        unit: 'starts/s',
        value: knee.point.starts_per_second,
        baseline: `client.workflow.start at ${knee.point.concurrency} in flight (starts/s)`,
        baseline_value: round(directRate, 1),
        note: knee.saturated
          ? `knee at ${knee.point.concurrency} in flight (p99 ${knee.point.p99_ms} ms); doubling it gains < 10 %`
          : `not saturated at ${knee.point.concurrency} in flight, the highest level tried`,
      }),
      figure({ metric: 'start_throughput_knee_concurrency', unit: 'in flight', value: knee.point.concurrency }),
      figure({
        metric: 'start_throughput_max',
        unit: 'starts/s',
        value: Math.max(...points.map((p) => p.starts_per_second)),
        note: `over ${levels.join(', ')} in flight, ${seconds} s each`,
      }),
    ];
    writeReport('start-throughput', figures, { series: { throughput_vs_concurrency: points, knee_concurrency: knee.point.concurrency } });
    return figures;
  } finally {
    await client.connection.close();
    await supervisor.stop();
    process.env = saved;
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/**
 * The real API app (buildApp) in this process on `client`'s Temporal, with a SQLite store in the
 * state dir, and autocannon in a second process sending `POST /v1/workflows` (smoke.echo, a fresh
 * workflow id each) at each level of requests in flight for `seconds`: the curve and its knee.
 * Shared with `npm run bench -- scale`, which runs it on the dev server and on the Temporal cluster.
 */
export async function apiStartCurve(
  config: TandemConfig,
  client: Client,
  levels: number[],
  seconds: number,
  progress: (line: string) => void,
): Promise<{ points: ThroughputPoint[]; knee: ReturnType<typeof kneeOf> }> {
  const store = openSqliteStore(statePaths(config.stateDir).store);
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  try {
    const key = newApiKey('key');
    await store.createApiKey({ name: `bench-admin-${Date.now()}`, role: 'admin', department: '*', keyHash: hashApiKey(key) });
    const temporal = { ...temporalGateway([{ region: localRegion, client, departmentSearchAttribute: await registerDepartmentSearchAttribute(client) }], config.temporal.taskQueue), close: async () => {} };
    app = await buildApp({ config, store, temporal, airflowProbe: { ping: async () => {} } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/workflows`;
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const body = JSON.stringify({ type: 'smoke.echo', input: { message: 'bench' } });

    await postLoad(url, headers, body, 4, 2); // warm-up (JIT, connections, the first SQLite pages); discarded
    const points: ThroughputPoint[] = [];
    for (const concurrency of levels) {
      const r = await postLoad(url, headers, body, concurrency, seconds);
      const point = { concurrency, starts_per_second: round(r.requests.average, 1), p50_ms: r.latency.p50, p99_ms: r.latency.p99 };
      points.push(point);
      progress(`${concurrency} in flight: ${point.starts_per_second} starts/s, p50 ${point.p50_ms} ms, p99 ${point.p99_ms} ms`);
    }
    return { points, knee: kneeOf(points) };
  } finally {
    // autocannon ends its last requests by closing their connections; their handlers still finish
    // the start (Temporal, then the audit entry), so the store stays open until they have.
    await new Promise((r) => setTimeout(r, 2_000));
    await app?.close();
    await store.close();
  }
}
