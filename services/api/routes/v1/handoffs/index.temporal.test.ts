// The hand-off routes against the Temporal dev server and a real worker: the app fixture's SQLite
// store is also the worker's, so review decisions go through the real review workflow.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { appWithWorker, type AppWithWorker } from '../../../../../test/support/app-with-worker.ts';
import { newApiKey } from '../../../../../shared/credentials.ts';
import { hashApiKey } from '../../../../../shared/store/api-key-hash.ts';
import { handoffIdFor } from '../../../../../shared/contracts/handoffs.ts';
import { handoffCoordinates, handoffReviewInput } from '../../../../../test/support/handoff-fixtures.ts';
import { appFixture, type AppFixture } from '../../../../../test/support/app-fixture.ts';

let env: TestWorkflowEnvironment;
let f: AppFixture;
let stack: AppWithWorker;
let reviewerKey: string;

beforeAll(async () => {
  stack = await appWithWorker('dev');
  ({ env, f } = stack);
  reviewerKey = newApiKey('key');
  await f.store.createApiKey({ name: 'dr-a', role: 'reviewer', department: 'cardiology', keyHash: hashApiKey(reviewerKey) });
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

const coordinates = (tryNumber = 1) => handoffCoordinates({ tryNumber });
const reviewInput = handoffReviewInput;

type Airflow = ReturnType<typeof coordinates>;

const start = (airflow: Airflow, workflowType: string, input: unknown, role: 'service' | 'admin' | 'data-engineer' = 'service') =>
  f.app.inject({
    method: 'POST',
    url: '/v1/handoffs',
    headers: f.headers(role),
    payload: { workflowType, input, department: 'cardiology', pipelineId: 'notes', partition: 'cardiology', airflow },
  });

const poll = (id: string, waitMs = 0) =>
  f.app.inject({ method: 'GET', url: `/v1/handoffs/${encodeURIComponent(id)}?waitMs=${waitMs}`, headers: f.headers('service') });

async function untilReviewOpen(id: string, runs = 1) {
  for (let i = 0; i < 400; i++) {
    const task = await f.store.reviews.get(id);
    const created = (await f.store.audit.list({ workflowId: id })).filter((e) => e.event === 'created').length;
    if (task?.status === 'pending' && created >= runs) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`review ${id} never opened`);
}

const decide = (id: string, payload: Record<string, unknown>) =>
  f.app.inject({ method: 'POST', url: `/v1/reviews/${encodeURIComponent(id)}/decision`, headers: { authorization: `Bearer ${reviewerKey}` }, payload });

describe('POST /v1/handoffs', () => {
  it('refuses every key but a service key, and records nothing', async () => {
    const airflow = coordinates();
    for (const role of ['admin', 'data-engineer'] as const) {
      expect((await start(airflow, 'smoke.echo', { message: 'x' }, role)).statusCode).toBe(403);
    }
    expect(await f.store.handoffs.get(handoffIdFor(airflow))).toBeUndefined();
  });

  it('answers an unknown workflow type with 400 and a bad input with 422 and paths, starting nothing', async () => {
    const airflow = coordinates();
    const unknown = await start(airflow, 'nope.nope', {});
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().detail).toMatch(/unknown workflow type "nope.nope"/);
    const invalid = await start(airflow, 'smoke.echo', { message: '' });
    expect(invalid.statusCode).toBe(422);
    expect(invalid.json().errors.map((e: { path: string }) => e.path)).toContain('input.message');
    expect(await f.store.handoffs.get(handoffIdFor(airflow))).toBeUndefined();
    await expect(env.client.workflow.getHandle(handoffIdFor(airflow)).describe()).rejects.toThrow(/not found/i);
  });

  it('starts once per task instance: a duplicate start attaches, the result comes back through the long poll', async () => {
    const airflow = coordinates();
    const first = await start(airflow, 'smoke.echo', { message: 'hello' });
    expect(first.statusCode).toBe(201);
    const started = first.json();
    expect(started).toMatchObject({ handoffId: handoffIdFor(airflow), workflowId: handoffIdFor(airflow), created: true });
    expect(started.links.workflow).toBe(`/v1/workflows/${encodeURIComponent(started.handoffId)}`);

    const again = await start(airflow, 'smoke.echo', { message: 'hello' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ runId: started.runId, created: false });

    const done = await poll(started.handoffId, 10_000);
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ status: 'succeeded', runId: started.runId, result: { message: 'hello' } });
    expect(await f.store.handoffs.get(started.handoffId)).toMatchObject({ status: 'succeeded', closedAt: expect.any(String) });
    // The same try asking again (execute_complete re-run) gets that run back, not a new one.
    expect((await start(airflow, 'smoke.echo', { message: 'hello' })).json()).toMatchObject({ runId: started.runId, created: false, status: 'succeeded' });
    // A newer try of a finished hand-off (a cleared task) is a fresh run under the same id.
    const rerun = await start({ ...airflow, tryNumber: 2 }, 'smoke.echo', { message: 'hello' });
    expect(rerun.statusCode).toBe(201);
    expect(rerun.json().runId).not.toBe(started.runId);
    expect(rerun.json().workflowId).toBe(started.workflowId);
  });

  it('keeps the stored input encrypted when the client has a codec, and as JSON otherwise', async () => {
    const airflow = coordinates();
    await start(airflow, 'smoke.echo', { message: 'plain' });
    expect(JSON.parse((await f.store.handoffs.get(handoffIdFor(airflow)))!.sealedInput)).toEqual({ message: 'plain' });
  });
});

describe('GET /v1/handoffs/{id}', () => {
  it('is 404 for a hand-off nobody started', async () => {
    expect((await poll(handoffIdFor(coordinates()))).statusCode).toBe(404);
  });

  it('returns pending when the wait is over, and the decision as soon as the reviewer decides', async () => {
    const airflow = coordinates();
    const { handoffId } = (await start(airflow, 'review.request', reviewInput('v1'))).json();
    await untilReviewOpen(handoffId);

    const t0 = Date.now();
    const pending = await poll(handoffId, 300);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(pending.json()).toMatchObject({ status: 'pending', closedAt: null });

    const waiting = poll(handoffId, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const decidedAt = Date.now();
    expect((await decide(handoffId, { decision: 'approve', artifactVersion: 'v1' })).statusCode).toBe(200);
    const done = (await waiting).json();
    expect(Date.now() - decidedAt).toBeLessThan(3_000);
    expect(done).toMatchObject({ status: 'succeeded', result: { outcome: 'approved', decidedBy: 'dr-a', artifactVersion: 'v1' } });
  });

  it('reports a rejected review as rejected with the reviewer and comment; the next try gets a fresh review', async () => {
    const airflow = coordinates();
    const { handoffId, runId } = (await start(airflow, 'review.request', reviewInput('v1'))).json();
    await untilReviewOpen(handoffId);
    expect((await decide(handoffId, { decision: 'reject', artifactVersion: 'v1', comment: 'wrong dose' })).statusCode).toBe(200);
    const done = (await poll(handoffId, 10_000)).json();
    expect(done).toMatchObject({ status: 'rejected', reason: 'review rejected by dr-a: "wrong dose"' });

    const retry = await start({ ...airflow, tryNumber: 2 }, 'review.request', reviewInput('v2'));
    expect(retry.statusCode).toBe(201);
    expect(retry.json().runId).not.toBe(runId);
    await untilReviewOpen(handoffId, 2);
    expect((await decide(handoffId, { decision: 'approve', artifactVersion: 'v2' })).statusCode).toBe(200);
    expect((await poll(handoffId, 10_000)).json()).toMatchObject({ status: 'succeeded', result: { outcome: 'approved', artifactVersion: 'v2' } });
  });

  it('attaches a retried try to the run that is still running instead of starting a second one', async () => {
    const airflow = coordinates();
    const first = (await start(airflow, 'review.request', reviewInput('v1'))).json();
    const retry = await start({ ...airflow, tryNumber: 2 }, 'review.request', reviewInput('v1'));
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toMatchObject({ runId: first.runId, created: false, status: 'pending' });
    expect((await f.store.handoffs.get(first.handoffId))!.airflow.tryNumber).toBe(2);
  });
});

describe('POST /v1/handoffs/{id}/cancel', () => {
  it('cancels the running workflow with an audit entry; the hand-off ends cancelled', async () => {
    const airflow = coordinates();
    const { handoffId } = (await start(airflow, 'review.request', reviewInput('v1'))).json();
    await untilReviewOpen(handoffId);
    const res = await f.app.inject({
      method: 'POST',
      url: `/v1/handoffs/${encodeURIComponent(handoffId)}/cancel`,
      headers: f.headers('service'),
      payload: { reason: 'Airflow run deleted' },
    });
    expect(res.statusCode).toBe(202);
    expect((await poll(handoffId, 10_000)).json()).toMatchObject({ status: 'cancelled' });
    const cancelled = (await f.store.audit.list({ workflowId: handoffId })).filter((e) => e.event === 'handoff-cancelled');
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0]).toMatchObject({ actor: { name: 'test-service' }, details: { reason: 'Airflow run deleted' } });
  });
});

describe('restart of a workflow Temporal lost', () => {
  it('starts it again from the stored input under the same id', async () => {
    const airflow = coordinates();
    const { handoffId, runId } = (await start(airflow, 'review.request', reviewInput('v7'))).json();
    await untilReviewOpen(handoffId);
    await env.client.workflowService.deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId: handoffId, runId } });
    for (let i = 0; i < 100 && (await f.app.handoffs.describe(handoffId, { department: 'cardiology', region: 'local' })); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await poll(handoffId)).json()).toMatchObject({ status: 'pending' });
    // A long poll on a lost workflow still waits its time out instead of answering at once.
    const t0 = Date.now();
    expect((await poll(handoffId, 400)).json()).toMatchObject({ status: 'pending' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);

    const record = (await f.store.handoffs.get(handoffId))!;
    const newRunId = await f.app.handoffs.restart(record, { kind: 'system', name: 'reconciler' }, 'task deferred, workflow missing');
    expect(newRunId).not.toBe(runId);
    const description = await env.client.workflow.getHandle(handoffId).describe();
    expect(description.status.name).toBe('RUNNING');
    expect((await f.store.audit.list({ workflowId: handoffId })).map((e) => e.event)).toContain('handoff-restarted');
  });
});

describe('a start while the run is being cancelled', () => {
  it('waits for the cancelled run to end and starts a fresh one instead of attaching to it', async () => {
    const airflow = coordinates();
    const { handoffId, runId } = (await start(airflow, 'review.request', reviewInput('v1'))).json();
    await untilReviewOpen(handoffId);
    await f.app.handoffs.cancel(handoffId, { kind: 'system', name: 'handoff-reconciler' }, 'Airflow task was cleared');
    const rerun = await start({ ...airflow, tryNumber: 2 }, 'review.request', reviewInput('v1'));
    expect(rerun.statusCode).toBe(201);
    expect(rerun.json()).toMatchObject({ created: true, status: 'pending' });
    expect(rerun.json().runId).not.toBe(runId);
    expect((await env.client.workflow.getHandle(handoffId, runId).describe()).status.name).toBe('CANCELLED');
  });
});

describe('POST /v1/handoffs/{id}/xcom', () => {
  it('writes a succeeded hand-off’s result as its task’s return_value XCom, and refuses a pending one', async () => {
    const written: unknown[][] = [];
    const withAirflow = await appFixture({ temporalClient: env.client, airflowClient: { setXcom: async (...args: unknown[]) => void written.push(args) } as never });
    try {
      const post = (app: typeof f.app, url: string, payload?: unknown) =>
        app.inject({ method: 'POST', url, headers: withAirflow.headers('service'), ...(payload ? { payload } : {}) });
      const airflow = coordinates();
      const started = await post(withAirflow.app, '/v1/handoffs', {
        workflowType: 'review.request',
        input: reviewInput('v1'),
        department: 'cardiology',
        airflow,
      });
      const { handoffId } = started.json();
      const url = `/v1/handoffs/${encodeURIComponent(handoffId)}/xcom`;
      expect((await post(withAirflow.app, url)).statusCode).toBe(409);
      expect(written).toEqual([]);

      const echo = coordinates();
      const { handoffId: echoId } = (await post(withAirflow.app, '/v1/handoffs', { workflowType: 'smoke.echo', input: { message: 'to xcom' }, department: 'cardiology', airflow: echo })).json();
      await withAirflow.app.handoffs.state(echoId, { keyId: 'k', name: 'svc', role: 'service', department: '*' }, { waitMs: 10_000 });
      const published = await post(withAirflow.app, `/v1/handoffs/${encodeURIComponent(echoId)}/xcom`);
      expect(published.statusCode).toBe(200);
      expect(written).toEqual([[echo.dagId, echo.runId, echo.taskId, 'return_value', expect.objectContaining({ message: 'to xcom' }), -1]]);
      await withAirflow.app.handoffs.cancel(handoffId, { kind: 'system', name: 'test' }, 'done');
    } finally {
      await withAirflow.close();
    }
  });
});

describe('POST /v1/handoffs/{id}/complete-task', () => {
  it('writes the result, then marks the deferred task of the try it serves success; refuses any other task state or try', async () => {
    const calls: unknown[][] = [];
    let ti = { state: 'deferred', try_number: 1 };
    const airflowClient = {
      setXcom: async (...args: unknown[]) => void calls.push(['setXcom', ...args]),
      getTaskInstance: async (...args: unknown[]) => (calls.push(['getTaskInstance', ...args]), ti),
      patchTaskInstance: async (...args: unknown[]) => void calls.push(['patchTaskInstance', ...args]),
    };
    const withAirflow = await appFixture({ temporalClient: env.client, airflowClient: airflowClient as never });
    try {
      const post = (url: string, payload?: unknown) =>
        withAirflow.app.inject({ method: 'POST', url, headers: withAirflow.headers('service'), ...(payload ? { payload } : {}) });
      const echo = coordinates();
      const { handoffId } = (await post('/v1/handoffs', { workflowType: 'smoke.echo', input: { message: 'done' }, department: 'cardiology', airflow: echo })).json();
      const url = `/v1/handoffs/${encodeURIComponent(handoffId)}/complete-task`;
      await withAirflow.app.handoffs.state(handoffId, { keyId: 'k', name: 'svc', role: 'service', department: '*' }, { waitMs: 10_000 });
      const completed = await post(url);
      expect(completed.statusCode).toBe(200);
      expect(completed.json()).toMatchObject({ status: 'succeeded' });
      expect(calls).toEqual([
        ['setXcom', echo.dagId, echo.runId, echo.taskId, 'return_value', expect.objectContaining({ message: 'done' }), -1],
        ['getTaskInstance', echo.dagId, echo.runId, echo.taskId, -1],
        ['patchTaskInstance', echo.dagId, echo.runId, echo.taskId, -1, { new_state: 'success' }],
      ]);

      // Ended already (the trigger's event got there first), or cleared into a new try: not ours to end.
      for (const other of [{ state: 'success', try_number: 1 }, { state: 'deferred', try_number: 2 }]) {
        ti = other;
        calls.length = 0;
        const refused = await post(url);
        expect(refused.statusCode).toBe(409);
        expect(calls.map(([name]) => name)).toEqual(['setXcom', 'getTaskInstance']);
      }

      // A hand-off still running has nothing to end its task with.
      const { handoffId: pending } = (await post('/v1/handoffs', { workflowType: 'review.request', input: reviewInput('v1'), department: 'cardiology', airflow: coordinates() })).json();
      calls.length = 0;
      expect((await post(`/v1/handoffs/${encodeURIComponent(pending)}/complete-task`)).statusCode).toBe(409);
      expect(calls).toEqual([]);
      await withAirflow.app.handoffs.cancel(pending, { kind: 'system', name: 'test' }, 'done');
    } finally {
      await withAirflow.close();
    }
  });
});

describe('one start path with POST /v1/workflows', () => {
  const getWorkflow = (id: string) => f.app.inject({ method: 'GET', url: `/v1/workflows/${encodeURIComponent(id)}`, headers: f.headers('admin') });
  const started = async (id: string) => (await f.store.audit.list({ workflowId: id })).filter((e) => e.event === 'workflow-started');

  it('a hand-off and a direct start report the public type and the flow’s department alike', async () => {
    const handoff = (await start(coordinates(), 'review.request', reviewInput('v-memo-handoff'))).json();
    const direct = await f.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: f.headers('ai-engineer'),
      payload: { type: 'review.request', input: reviewInput('v-memo-direct') },
    });
    expect(direct.statusCode).toBe(201);
    const { workflowId } = direct.json();

    // Before one start path, a hand-off reported its function name (reviewWorkflow) as its type.
    expect((await getWorkflow(handoff.workflowId)).json()).toMatchObject({ type: 'review.request', department: 'cardiology', startedBy: 'test-service' });
    expect((await getWorkflow(workflowId)).json()).toMatchObject({ type: 'review.request', department: 'cardiology', startedBy: 'test-ai-engineer' });
    for (const [id, runId] of [[handoff.workflowId, handoff.runId], [workflowId, direct.json().runId]]) {
      expect(await started(id)).toMatchObject([{ department: 'cardiology', details: { type: 'review.request', runId } }]);
    }
    await f.app.handoffs.cancel(handoff.handoffId, { kind: 'system', name: 'test' }, 'done');
    await f.app.inject({ method: 'POST', url: `/v1/workflows/${encodeURIComponent(workflowId)}/cancel`, headers: f.headers('admin') });
    // Both ends are audited before the runs close; the next test counts audit entries.
    await Promise.allSettled([handoff.workflowId, workflowId].map((id) => env.client.workflow.getHandle(id).result()));
  });

  it('refuses a key whose scope does not include the flow’s department with 403, before anything starts', async () => {
    const oncology = async (role: 'ai-engineer' | 'service') => {
      const key = newApiKey('key');
      await f.store.createApiKey({ name: `onco-${role}-${randomUUID()}`, role, department: 'oncology', keyHash: hashApiKey(key) });
      return { authorization: `Bearer ${key}` };
    };
    const auditBefore = (await f.store.audit.list({ limit: 1_000_000 })).length;
    // A review for cardiology's inbox, started by an oncology key: refused at the door.
    const direct = await f.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: await oncology('ai-engineer'),
      payload: { type: 'review.request', input: reviewInput('v-out-of-scope') },
    });
    expect(direct.statusCode).toBe(403);
    const airflow = coordinates();
    const handoff = await f.app.inject({
      method: 'POST',
      url: '/v1/handoffs',
      headers: await oncology('service'),
      payload: { workflowType: 'review.request', input: reviewInput('v-out-of-scope'), department: 'cardiology', airflow },
    });
    expect(handoff.statusCode).toBe(403);
    // A hand-off of one department whose input names another is a contradiction, not a guess.
    const contradiction = await f.app.inject({
      method: 'POST',
      url: '/v1/handoffs',
      headers: f.headers('service'),
      payload: { workflowType: 'review.request', input: { ...reviewInput('v-other'), department: 'oncology' }, department: 'cardiology', airflow },
    });
    expect(contradiction.statusCode).toBe(422);
    expect(contradiction.json().errors).toEqual([{ path: 'input.department', message: expect.stringContaining('cardiology') }]);
    expect(await f.store.handoffs.get(handoffIdFor(airflow))).toBeUndefined();
    // Nothing started: no entry but the finish of a workflow an earlier test cancelled, which the
    // worker may append meanwhile.
    const added = (await f.store.audit.list({ limit: 1_000_000 })).slice(auditBefore);
    expect(added.filter((e) => e.event !== 'workflow-finished')).toEqual([]);
  });
});
