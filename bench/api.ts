/**
 * `npm run bench -- api`: what the control API costs on top of what it fronts, side by side in one
 * run, over loopback.
 *
 * - `api_get_rps_ratio`: authenticated `GET /v1/pipelines` (50 pipelines in a real SQLite store:
 *   API key lookup, role check, rate limit, store query, zod serialisation, the request log) in
 *   requests per second, against a bare Fastify app answering `{}` from an empty handler. Load comes
 *   from autocannon in a second process (10 connections), A B A B, the median of each side.
 * - `api_start_overhead_pct`: `POST /v1/workflows` (smoke.echo) latency p50 against
 *   `client.workflow.start` of the same workflow called directly, on the same Temporal dev server,
 *   interleaved one by one. The difference is HTTP, auth, input validation, the idempotency and
 *   audit records in the store.
 * - `webhook_delivery_p95`: from emitting an event (one subscriber) to the receiver reading the
 *   signed POST, through the delivery workflow on a worker in this process; against a plain POST
 *   to the same receiver, interleaved.
 *
 * `--quick`: 3 s load rounds, 50 starts and 20 deliveries (else 10 s, 200 and 60, after 10
 * warm-up starts each and 3 warm-up deliveries).
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import Fastify from 'fastify';
import { buildApp } from '../services/api/app.ts';
import { temporalGateway } from '../services/api/plugins/app/temporal.ts';
import { registerDepartmentSearchAttribute } from '../services/flows/department-search-attribute.ts';
import { loadConfig, repoRoot, statePaths } from '../shared/config.ts';
import { newApiKey } from '../shared/credentials.ts';
import { hashApiKey } from '../shared/store/api-key-hash.ts';
import { openSqliteStore } from '../shared/store/sqlite-store.ts';
import { emitWebhookEvent, webhookDeliveryWorkflowId, webhookDeliveryWorkflowName } from '../services/webhooks/events.ts';
import { createActivities } from '../services/worker/activities/index.ts';
import { prebuildWorkflowBundle } from '../services/worker/bundle.ts';
import { percentile } from './measure.ts';
import { localRegion } from '../shared/regions.ts';
import { figure, round, writeReport, type Figure } from './report.ts';

export interface LoadResult {
  rps: number;
  p99: number;
}

/** autocannon in its own process, so the load generator does not share the API's event loop. */
export function load(url: string, headers: Record<string, string>, seconds: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const args = ['-c', '10', '-d', String(seconds), '-j'];
    for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}=${value}`);
    const child = spawn(path.join(repoRoot, 'node_modules/.bin/autocannon'), [...args, url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}`));
      const result = JSON.parse(out) as { requests: { average: number }; latency: { p99: number }; non2xx: number; errors: number };
      if (result.non2xx > 0 || result.errors > 0) return reject(new Error(`autocannon saw ${result.non2xx} non-2xx answers and ${result.errors} errors at ${url}`));
      resolve({ rps: result.requests.average, p99: result.latency.p99 });
    });
  });
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function apiBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const seconds = quick ? 3 : 10;
  const starts = quick ? 50 : 200;
  const deliveries = quick ? 20 : 60;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-api-'));
  const env = await TestWorkflowEnvironment.createLocal({
    server: { ip: '127.0.0.1', ui: false, executable: { type: 'existing-path', path: path.join(repoRoot, '.venv/bin/temporal') } },
  });
  const config = loadConfig({
    cwd: dir,
    env: { TANDEM_STATE_DIR: dir, TANDEM_LOG_LEVEL: 'silent', TANDEM_HANDOFF_RECONCILE_SCHEDULE: 'off', TANDEM_API_RATE_LIMIT_PER_MINUTE: '100000000' },
  });
  const store = openSqliteStore(statePaths(dir).store);
  const bare = Fastify();
  bare.get('/empty', async () => ({}));
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  // The webhook receiver: resolves the waiter of each event id as its POST arrives.
  const arrivals = new Map<string, () => void>();
  const receiver: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals.get(String(req.headers['webhook-id'] ?? 'plain'))?.();
      res.writeHead(204).end();
    });
  });
  try {
    const key = newApiKey('key');
    await store.createApiKey({ name: 'bench-admin', role: 'admin', department: '*', keyHash: hashApiKey(key) });
    for (let i = 0; i < 50; i++) {
      const id = `bench-${String(i).padStart(2, '0')}`;
      await store.pipelines.save({ id, department: 'cardiology', spec: { id, department: 'cardiology', stages: [] }, specHash: 'h', dagId: `tandem__${id}`, fileName: `tandem__${id}.py`, status: 'deployed', deployedAt: null, lastError: null });
    }
    const client = new Client({ connection: env.connection, namespace: env.namespace ?? 'default' });
    // The test environment owns the connection and closes it in teardown.
    const temporal = { ...temporalGateway([{ region: localRegion, client, departmentSearchAttribute: await registerDepartmentSearchAttribute(client) }], 'tandem-bench'), close: async () => {} };
    app = await buildApp({ config, store, temporal, airflowProbe: { ping: async () => {} } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    await bare.listen({ host: '127.0.0.1', port: 0 });
    const apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const bareUrl = `http://127.0.0.1:${(bare.server.address() as AddressInfo).port}`;
    const auth = { authorization: `Bearer ${key}` };

    // --- GET throughput, A B A B ---
    const tandemRuns: LoadResult[] = [];
    const bareRuns: LoadResult[] = [];
    for (let round = 0; round < 2; round++) {
      tandemRuns.push(await load(`${apiUrl}/v1/pipelines`, auth, seconds));
      bareRuns.push(await load(`${bareUrl}/empty`, {}, seconds));
    }
    const apiRps = median(tandemRuns.map((r) => r.rps));
    const bareRps = median(bareRuns.map((r) => r.rps));

    // --- webhook delivery, interleaved with a plain POST to the same receiver ---
    const { codePath } = await prebuildWorkflowBundle();
    worker = await Worker.create({ connection: env.nativeConnection, taskQueue: 'tandem-bench', workflowBundle: { codePath }, activities: createActivities({ store, config }) });
    workerRun = worker.run();
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    await store.webhooks.createSubscription({
      id: 'whs_bench', department: 'cardiology', url: receiverUrl, eventTypes: ['review.decided'], description: null, secret: `whsec_${Buffer.from('bench-secret-0123456789ab').toString('base64')}`, createdBy: 'bench',
    });
    const arrived = (key: string) => new Promise<void>((resolve) => arrivals.set(key, resolve));
    const deliveryMs: number[] = [];
    const plainMs: number[] = [];
    for (let i = 0; i < deliveries + 3; i++) {
      const eventId = `evt_bench_${i}_${Date.now()}`;
      let t0 = performance.now();
      const got = arrived(eventId);
      await emitWebhookEvent(
        store.webhooks,
        async ({ deliveryId, department }) => {
          await client.workflow.start(webhookDeliveryWorkflowName, { workflowId: webhookDeliveryWorkflowId(deliveryId), taskQueue: 'tandem-bench', args: [{ deliveryId, department }] });
        },
        { id: eventId, type: 'review.decided', department: 'cardiology', timestamp: new Date().toISOString(), data: { reviewId: `r${i}` } },
      );
      await got;
      const delivered = performance.now() - t0;
      t0 = performance.now();
      const plain = arrived('plain');
      await fetch(receiverUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      await plain;
      const direct = performance.now() - t0;
      if (i >= 3) {
        deliveryMs.push(delivered);
        plainMs.push(direct);
      }
    }
    deliveryMs.sort((a, b) => a - b);
    plainMs.sort((a, b) => a - b);

    // --- start latency, interleaved ---
    const apiMs: number[] = [];
    const directMs: number[] = [];
    const body = JSON.stringify({ type: 'smoke.echo', input: { message: 'bench' } });
    for (let i = 0; i < starts + 10; i++) {
      let t0 = performance.now();
      const res = await fetch(`${apiUrl}/v1/workflows`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
      if (res.status !== 201) throw new Error(`POST /v1/workflows answered ${res.status}: ${await res.text()}`);
      const api = performance.now() - t0;
      t0 = performance.now();
      await client.workflow.start('echoWorkflow', { taskQueue: 'tandem-bench', workflowId: `bench-direct-${i}-${Date.now()}`, args: [{ message: 'bench' }] });
      const direct = performance.now() - t0;
      if (i >= 10) {
        apiMs.push(api);
        directMs.push(direct);
      }
    }
    apiMs.sort((a, b) => a - b);
    directMs.sort((a, b) => a - b);
    const apiP50 = percentile(apiMs, 50);
    const directP50 = percentile(directMs, 50);

    const figures = [
      figure({
        metric: 'api_get_rps_ratio',
        unit: 'ratio',
        value: apiRps / bareRps,
        baseline: 'empty Fastify handler (rps)',
        baseline_value: round(bareRps, 0),
        ratio: round(apiRps / bareRps, 3),
        target: '>= 0.5',
        note: `GET /v1/pipelines ${round(apiRps, 0)} rps, p99 ${median(tandemRuns.map((r) => r.p99))} ms; empty handler p99 ${median(bareRuns.map((r) => r.p99))} ms; 10 connections, ${seconds} s rounds`,
      }),
      figure({
        metric: 'api_start_overhead_pct',
        unit: '%',
        value: ((apiP50 - directP50) / directP50) * 100,
        baseline: 'client.workflow.start p50 (ms)',
        baseline_value: round(directP50, 2),
        ratio: round(apiP50 / directP50, 3),
        target: '<= 10',
        note: `POST /v1/workflows p50 ${round(apiP50, 2)} ms, p95 ${round(percentile(apiMs, 95), 2)} ms; direct p95 ${round(percentile(directMs, 95), 2)} ms; ${starts} each after 10 warm-up`,
      }),
    ];
    figures.push(
      figure({
        metric: 'webhook_delivery_p95',
        unit: 'ms',
        value: percentile(deliveryMs, 95),
        baseline: 'plain POST to the receiver p95 (ms)',
        baseline_value: round(percentile(plainMs, 95), 2),
        note: `event to receiver p50 ${round(percentile(deliveryMs, 50), 1)} ms over ${deliveries} deliveries (record, start the delivery workflow, worker, sign, POST)`,
      }),
    );
    writeReport('api', figures);
    return figures;
  } finally {
    worker?.shutdown();
    await workerRun;
    receiver.close();
    await app?.close();
    await bare.close();
    await store.close();
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  }
}
