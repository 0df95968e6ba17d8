// The reconciler inside the API: scheduled with node-cron, stopped (after its pass) on close, and
// run on demand by POST /v1/handoffs/reconcile. No hand-off is running here, so only the fake
// Airflow client's deferred list is read; the reconciliation rules are tested in
// services/handoffs/reconciler.temporal.test.ts.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { AirflowClient, AirflowTaskInstance, AirflowTaskInstanceCollection } from '../../../airflow/client.ts';
import { appFixture, type AppFixture } from '../../../../test/support/app-fixture.ts';

class FakeAirflow {
  lists = 0;
  deferred: Partial<AirflowTaskInstance>[] = [];
  /** When set, listing waits for it (to hold a pass open). */
  gate: Promise<void> | undefined;

  async listTaskInstances(): Promise<AirflowTaskInstanceCollection> {
    this.lists++;
    await this.gate;
    return { task_instances: this.deferred as AirflowTaskInstance[], total_entries: this.deferred.length };
  }

  readonly username = 'tandem';

  /** No parked task was answered by anyone. */
  async listHitlDetails() {
    return { hitl_details: [], total_entries: 0 };
  }
}

const open: AppFixture[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((f) => f.close()));
});

async function app(airflow?: FakeAirflow, env: Record<string, string> = {}) {
  const f = await appFixture({ env, ...(airflow ? { airflowClient: airflow as unknown as AirflowClient } : {}) });
  open.push(f);
  return f;
}

const reconcile = (f: AppFixture, role: Parameters<AppFixture['headers']>[0]) =>
  f.app.inject({ method: 'POST', url: '/v1/handoffs/reconcile', headers: f.headers(role) });

async function until(what: string, done: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('POST /v1/handoffs/reconcile', () => {
  it('runs one pass for an admin or service key and answers what it did', async () => {
    const airflow = new FakeAirflow();
    airflow.deferred = [{ dag_id: 'tandem__notes', dag_run_id: `manual__${randomUUID()}`, task_id: 'review', map_index: -1, state: 'deferred' }];
    const f = await app(airflow);

    for (const role of ['service', 'admin'] as const) {
      const res = await reconcile(f, role);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        skipped: false,
        cancelled: [],
        restarted: [],
        closed: [],
        resumed: [],
        refused: [],
        unrecoverable: [`handoff:tandem__notes:${airflow.deferred[0]!.dag_run_id}:review:-1`],
        errors: [],
      });
    }
    expect(airflow.lists).toBe(2);
    const metrics = (await f.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('tandem_handoff_reconciler_ticks_total{outcome="ok"} 2');
    expect(metrics).toContain('tandem_handoff_reconciler_actions_total{action="unrecoverable"} 2');
  });

  it('refuses other roles', async () => {
    const airflow = new FakeAirflow();
    const f = await app(airflow);
    for (const role of ['data-engineer', 'ai-engineer', 'reviewer'] as const) {
      expect((await reconcile(f, role)).statusCode).toBe(403);
    }
    expect(airflow.lists).toBe(0);
  });

  it('answers 503 when the API runs without an Airflow client', async () => {
    const f = await app();
    expect(f.app.handoffReconciler).toBeNull();
    const res = await reconcile(f, 'admin');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ type: 'urn:tandem:problem:airflow-unavailable', detail: expect.stringMatching(/without an Airflow client/) });
  });

  it('answers skipped while a pass is already running', async () => {
    const airflow = new FakeAirflow();
    let release!: () => void;
    airflow.gate = new Promise((r) => (release = r));
    const f = await app(airflow);
    const first = reconcile(f, 'service');
    await until('the first pass', () => airflow.lists === 1);
    expect((await reconcile(f, 'service')).json()).toMatchObject({ skipped: true });
    release();
    expect((await first).json()).toMatchObject({ skipped: false });
  });
});

describe('scheduled reconciliation', () => {
  it('runs on the configured schedule, and on close waits for the pass in flight and runs no more', async () => {
    const airflow = new FakeAirflow();
    const f = await app(airflow, { TANDEM_HANDOFF_RECONCILE_SCHEDULE: '* * * * * *' });
    await until('a scheduled pass', () => airflow.lists >= 1, 3_000);

    let release!: () => void;
    airflow.gate = new Promise((r) => (release = r));
    const before = airflow.lists;
    await until('a pass to hold open', () => airflow.lists > before, 3_000);
    let closed = false;
    const closing = open.splice(open.indexOf(f), 1)[0]!.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(closed).toBe(false);
    release();
    await closing;
    const atClose = airflow.lists;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(airflow.lists).toBe(atClose);
  });

  it('does not run with the schedule off (the app fixture default)', async () => {
    const airflow = new FakeAirflow();
    const f = await app(airflow);
    expect(f.config.handoffs.reconcileSchedule).toBe('off');
    expect(f.app.handoffReconciler).not.toBeNull();
    await new Promise((r) => setTimeout(r, 1_200));
    expect(airflow.lists).toBe(0);
  });
});
