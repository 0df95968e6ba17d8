// Replicas on one PostgreSQL: two API processes and two workers (the real server.ts and worker.ts,
// started by the launcher's supervisor from its own process specs) on one store, with a Temporal
// dev server and no Airflow. Concurrent traffic goes through both APIs while one API and one
// worker are killed (SIGKILL) mid-run: every accepted start runs to its end exactly once, the
// audit chain written by all four processes verifies, the Idempotency-Key race between replicas
// starts one workflow, and the hand-off reconciler moves to the surviving API within a tick.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiProcess } from '../deploy/dev/api.ts';
import { createDatabase, startPostgres, type RunningPostgres } from '../deploy/dev/postgres.ts';
import { Supervisor } from '../deploy/dev/supervisor.ts';
import { temporalPrepareSteps, temporalProcess } from '../deploy/dev/temporal.ts';
import { workerProcess } from '../deploy/dev/worker.ts';
import { prebuildWorkflowBundle } from '../services/worker/bundle.ts';
import { configToEnv, loadConfig, statePaths, type TandemConfig } from '../shared/config.ts';
import { ensureCredentials } from '../shared/credentials.ts';
import { openPostgresStore, type PostgresStore } from '../shared/store/postgres-store.ts';
import type { ProcessSpec } from '../deploy/dev/process-spec.ts';
import { api, eventually, workflowFinished } from './support/api-client.ts';
import { freePorts } from '../deploy/dev/ports.ts';
import { isolatedStackEnv } from './support/free-ports.ts';

/** How often the reconciler ticks here: "within one tick" is then a few seconds. */
const tickSeconds = 2;

let stateDir: string;
let postgres: RunningPostgres | undefined;
let supervisor: Supervisor | undefined;
let store: PostgresStore | undefined;
let adminKey: string;
const apis: { name: string; url: string }[] = [];

function withEnv(spec: ProcessSpec, config: TandemConfig, name: string): ProcessSpec {
  return { ...spec, name, env: { ...configToEnv(config), ...spec.env } };
}

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-replicas-'));
  postgres = await startPostgres();
  const databaseUrl = await createDatabase(postgres.url, 'tandem');
  // What the launcher's migrate step does, once, before any replica starts.
  await (await openPostgresStore(databaseUrl, { migrate: true })).close();

  const env = {
    ...(await isolatedStackEnv(stateDir)),
    TANDEM_DATABASE_URL: databaseUrl,
    TANDEM_TEMPORAL_NAMESPACE: 'default',
    TANDEM_LOG_LEVEL: 'info',
    TANDEM_API_RATE_LIMIT_PER_MINUTE: '100000',
    TANDEM_HANDOFF_RECONCILE_SCHEDULE: `*/${tickSeconds} * * * * *`,
  };
  const config = loadConfig({ env });
  adminKey = ensureCredentials(statePaths(stateDir).credentials).credentials.adminApiKey;
  await prebuildWorkflowBundle();

  supervisor = new Supervisor({ host: config.host, logDir: statePaths(stateDir).logs, progress: (line) => console.log(`[replicas] ${line}`) });
  await supervisor.prepare(temporalPrepareSteps(config));
  await supervisor.start(withEnv(temporalProcess(config), config, 'temporal'));
  await Promise.all([
    supervisor.start(withEnv(workerProcess(config), config, 'worker-1')),
    supervisor.start(withEnv(workerProcess(config), config, 'worker-2')),
  ]);
  await supervisor.start(withEnv(apiProcess(config), config, 'api-1'));
  // Looked for once the others listen, so it cannot be one of their ports.
  const [secondPort] = await freePorts(config.host, 1);
  const second: TandemConfig = { ...config, api: { ...config.api, port: secondPort!, url: `http://${config.host}:${secondPort}` } };
  await supervisor.start(withEnv(apiProcess(second), second, 'api-2'));
  apis.push({ name: 'api-1', url: config.api.url }, { name: 'api-2', url: second.api.url });
  store = await openPostgresStore(databaseUrl, { migrate: false });
}, 300_000);

afterAll(async () => {
  await store?.close();
  await supervisor?.stop();
  await postgres?.stop();
  if (stateDir && !process.env.TANDEM_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
});

/** Reconciler passes this API has run (its own counter: one process, one registry). */
async function reconcilerTicks(url: string): Promise<number | undefined> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  if (!res?.ok) return undefined;
  const text = await res.text();
  return [...text.matchAll(/^tandem_handoff_reconciler_ticks_total\{outcome="(ok|error)"\} (\d+)/gm)].reduce((n, m) => n + Number(m[2]), 0);
}

const startBody = (i: number) => ({ type: 'smoke.echo', input: { message: `replica traffic ${i}` } });

function post(url: string, idempotencyKey: string, body: unknown) {
  return api<any>(url, 'POST', '/v1/workflows', { key: adminKey, body, headers: { 'idempotency-key': idempotencyKey } });
}

describe('two APIs and two workers on one PostgreSQL', () => {
  it('an Idempotency-Key raced through both APIs starts one workflow', async () => {
    for (let round = 0; round < 8; round++) {
      const key = `race-${round}`;
      const results = await Promise.all([0, 1, 0, 1].map((i) => post(apis[i]!.url, key, startBody(1000 + round))));
      // Exactly one request did the work; every other one was told it is in flight, or replayed it.
      const firsthand = results.filter((r) => r.headers.get('idempotency-replayed') !== 'true' && r.status !== 409);
      expect(firsthand.map((r) => [r.status, r.body.created])).toEqual([[201, true]]);
      for (const r of results) {
        if (r.status !== 409) expect(r.body.workflowId).toBe(firsthand[0]!.body.workflowId);
      }
      const started = await store!.audit.list({ workflowId: firsthand[0]!.body.workflowId });
      expect(started.filter((e) => e.event === 'workflow-started')).toHaveLength(1);
    }
  });

  it('concurrent starts through both while an API and a worker are killed: nothing accepted is lost, the chain verifies', async () => {
    // Which API reconciles now: only the leader's counter moves.
    const leader = await eventually(
      async () => {
        const ticks = await Promise.all(apis.map((a) => reconcilerTicks(a.url)));
        const moving = apis.filter((_, i) => (ticks[i] ?? 0) > 0);
        return moving.length === 1 ? moving[0] : undefined;
      },
      30_000,
      'one API to run the reconciler',
    );
    const survivor = apis.find((a) => a !== leader)!;
    expect(await reconcilerTicks(survivor.url)).toBe(0);

    const total = 40;
    const concurrency = 4;
    let next = 0;
    let answered = 0;
    const killed = new Set<string>();
    const accepted = new Map<number, string>();
    const stuck: number[] = [];
    const kills: Promise<void>[] = [];

    const startOne = async (i: number) => {
      const key = `traffic-${i}`;
      let target = apis[i % 2]!;
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (killed.has(target.name)) target = survivor;
        const res = await post(target.url, key, startBody(i)).catch(() => undefined);
        if (!res) {
          // Connection refused or cut: the replica died; retry the same key on the other one.
          target = survivor;
          continue;
        }
        if (res.status === 409) {
          // In flight: the first request is still running, or died with its replica (its claim
          // is then abandoned only after the in-flight timeout, longer than this test waits).
          if (Date.now() > deadline) return void stuck.push(i);
          await new Promise((r) => setTimeout(r, 250));
          continue;
        }
        expect([200, 201]).toContain(res.status);
        accepted.set(i, res.body.workflowId as string);
        answered += 1;
        if (answered === 10) {
          killed.add(leader!.name);
          kills.push(supervisor!.kill(leader!.name));
        }
        if (answered === 20) kills.push(supervisor!.kill('worker-1'));
        return;
      }
    };
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) await startOne(next++);
      }),
    );
    await Promise.all(kills);

    console.log(`[replicas] ${leader!.name} (reconciler leader) and worker-1 killed mid-run; ${accepted.size} of ${total} starts answered, ${stuck.length} still in flight on the dead API`);
    // Only requests that were in flight on the killed API when it died may be without an answer.
    expect(stuck.length).toBeLessThanOrEqual(concurrency);
    expect(accepted.size + stuck.length).toBe(total);

    // Every accepted start runs to its end on the surviving worker, exactly once.
    for (const workflowId of new Set(accepted.values())) {
      expect((await workflowFinished(survivor.url, adminKey, workflowId, 120_000)).status).toBe('completed');
    }
    const entries = await store!.audit.list({ limit: 100_000 });
    for (const workflowId of new Set(accepted.values())) {
      const events = entries.filter((e) => e.workflowId === workflowId).map((e) => e.event);
      expect(events.filter((e) => e === 'workflow-started')).toHaveLength(1);
      expect(events.filter((e) => e === 'workflow-finished')).toHaveLength(1);
    }
    // Four processes appended to one chain (two of them killed mid-run), and it holds.
    expect(await store!.audit.verify()).toMatchObject({ ok: true, entries: entries.length });
    const verified = await api<any>(survivor.url, 'GET', '/v1/audit/verify', { key: adminKey });
    expect(verified.body).toMatchObject({ ok: true });

    // The reconciler moved to the surviving API within a tick or two of the leader's death.
    await eventually(async () => ((await reconcilerTicks(survivor.url))! > 0 ? true : undefined), (tickSeconds * 2 + 5) * 1000, 'the surviving API to take the reconciler over');
  });
});
