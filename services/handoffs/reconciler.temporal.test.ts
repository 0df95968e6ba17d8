// The hand-off reconciler against the Temporal dev server and a real worker, with a fake Airflow
// REST client whose task instances each test sets. Task instances a test does not set answer
// `running` (leave alone), so hand-offs of earlier tests stay out of later passes.
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { appWithWorker, type AppWithWorker } from '../../test/support/app-with-worker.ts';
import { handoffIdFor, type HandoffAirflowCoordinates } from '../../shared/contracts/handoffs.ts';
import { handoffCoordinates, handoffReviewInput } from '../../test/support/handoff-fixtures.ts';
import type { AppFixture } from '../../test/support/app-fixture.ts';
import type {
  AirflowHitlDetail,
  AirflowHitlDetailCollection,
  AirflowHitlResponse,
  AirflowTaskInstance,
  AirflowTaskInstanceCollection,
  ListHitlDetailsQuery,
  ListTaskInstancesQuery,
  TaskInstanceState,
} from '../airflow/client.ts';
import { AirflowConflictError, AirflowNotFoundError, AirflowUnavailableError } from '../airflow/errors.ts';
import { handoffOperatorClass, triggerStartGraceMs, HandoffReconciler } from './reconciler.ts';

let env: TestWorkflowEnvironment;
let f: AppFixture;
let stack: AppWithWorker;

beforeAll(async () => {
  stack = await appWithWorker('dev');
  ({ env, f } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

type Coordinates = HandoffAirflowCoordinates;
const coordinates = (mapIndex = -1): Coordinates => handoffCoordinates({ mapIndex });

function taskInstance(airflow: Omit<Coordinates, 'tryNumber'>, state: TaskInstanceState | null): AirflowTaskInstance {
  return {
    id: randomUUID(),
    task_id: airflow.taskId,
    dag_id: airflow.dagId,
    dag_run_id: airflow.runId,
    map_index: airflow.mapIndex,
    logical_date: null,
    start_date: null,
    end_date: null,
    duration: null,
    state,
    try_number: 1,
    max_tries: 2,
    hostname: null,
    operator: handoffOperatorClass,
    operator_name: handoffOperatorClass,
    pid: null,
    queued_when: null,
    note: null,
    rendered_map_index: null,
    trigger: null,
  };
}

/** Airflow's task instances as the reconciler reads them: one per hand-off id, `running` unless set. */
class FakeAirflow {
  readonly states = new Map<string, TaskInstanceState | null | Error>();
  /** What `listTaskInstances(~, ~, state=deferred)` returns. */
  deferred: AirflowTaskInstance[] = [];
  readonly reads: string[] = [];
  readonly listQueries: ListTaskInstancesQuery[] = [];
  /** When set, the deferred list waits for it (to hold a pass open). */
  listGate: Promise<void> | undefined;

  /** tandem's Airflow user, as the real client reports it. */
  readonly username = 'tandem';
  /** Human-in-the-loop requests by hand-off id (parked tasks), and what answered or failed them. */
  readonly hitl = new Map<string, AirflowHitlDetail>();
  readonly answers: { handoffId: string; chosen: string[] }[] = [];
  readonly patches: { handoffId: string; patch: { new_state?: string; note?: string } }[] = [];
  readonly hitlQueries: ListHitlDetailsQuery[] = [];

  set(airflow: Coordinates, state: TaskInstanceState | null | Error | 'gone') {
    this.states.set(handoffIdFor(airflow), state === 'gone' ? notFound(airflow) : state);
  }

  /** A task parked in awaiting_input with its request, listed as waiting like Airflow does. */
  park(airflow: Coordinates, answeredBy?: string) {
    const ti = taskInstance(airflow, answeredBy ? 'scheduled' : 'awaiting_input');
    this.set(airflow, ti.state);
    if (!answeredBy) this.deferred.push(ti);
    this.hitl.set(handoffIdFor(airflow), {
      task_instance: ti,
      options: ['workflow closed'],
      subject: 'Waiting for tandem hand-off',
      body: null,
      assigned_users: [{ id: 'tandem', name: 'tandem' }],
      // Parked a minute ago: past parkSettleMs, so a resume may answer at once.
      created_at: new Date(Date.now() - 60_000).toISOString(),
      responded_by_user: answeredBy ? { id: answeredBy, name: answeredBy } : null,
      responded_at: answeredBy ? new Date().toISOString() : null,
      chosen_options: answeredBy ? ['workflow closed'] : null,
      params_input: {},
      response_received: Boolean(answeredBy),
    });
  }

  async getHitlDetail(dagId: string, runId: string, taskId: string, mapIndex = -1): Promise<AirflowHitlDetail> {
    const detail = this.hitl.get(handoffIdFor({ dagId, runId, taskId, mapIndex }));
    if (!detail) throw new AirflowNotFoundError({ status: 404, detail: 'Human-in-the-loop detail does not exist', method: 'GET', path: '/hitlDetails' });
    return detail;
  }

  async answerHitlDetail(dagId: string, runId: string, taskId: string, mapIndex: number, answer: { chosen_options: string[] }): Promise<AirflowHitlResponse> {
    const handoffId = handoffIdFor({ dagId, runId, taskId, mapIndex });
    const detail = await this.getHitlDetail(dagId, runId, taskId, mapIndex);
    if (detail.response_received) throw new AirflowConflictError({ status: 409, detail: 'already updated', method: 'PATCH', path: '/hitlDetails' });
    this.answers.push({ handoffId, chosen: answer.chosen_options });
    Object.assign(detail, { response_received: true, responded_by_user: { id: this.username, name: this.username } });
    // Airflow resumes the task: it leaves awaiting_input.
    this.states.set(handoffId, 'scheduled');
    this.deferred = this.deferred.filter((ti) => handoffIdFor({ dagId: ti.dag_id, runId: ti.dag_run_id, taskId: ti.task_id, mapIndex: ti.map_index }) !== handoffId);
    return { responded_by: { id: this.username, name: this.username }, responded_at: new Date().toISOString(), chosen_options: answer.chosen_options, params_input: {} };
  }

  async listHitlDetails(query: ListHitlDetailsQuery = {}): Promise<AirflowHitlDetailCollection> {
    this.hitlQueries.push(query);
    const answered = [...this.hitl.values()].filter((d) => d.response_received);
    const offset = query.offset ?? 0;
    return { hitl_details: answered.slice(offset, offset + (query.limit ?? 50)), total_entries: answered.length };
  }

  async patchTaskInstance(dagId: string, runId: string, taskId: string, mapIndex: number, patch: { new_state?: 'failed' | 'success' | 'skipped'; note?: string }): Promise<AirflowTaskInstanceCollection> {
    const handoffId = handoffIdFor({ dagId, runId, taskId, mapIndex });
    this.patches.push({ handoffId, patch });
    if (patch.new_state) this.states.set(handoffId, patch.new_state);
    const detail = this.hitl.get(handoffId);
    if (detail && patch.new_state) detail.task_instance = { ...detail.task_instance, state: patch.new_state };
    return { task_instances: [], total_entries: 0 };
  }

  async getTaskInstance(dagId: string, runId: string, taskId: string, mapIndex = -1): Promise<AirflowTaskInstance> {
    const id = handoffIdFor({ dagId, runId, taskId, mapIndex });
    this.reads.push(id);
    const state = this.states.has(id) ? this.states.get(id)! : 'running';
    if (state instanceof Error) throw state;
    return taskInstance({ dagId, runId, taskId, mapIndex }, state);
  }

  async listTaskInstances(dagId: string, runId: string, query: ListTaskInstancesQuery = {}): Promise<AirflowTaskInstanceCollection> {
    this.listQueries.push({ ...query, dagId, runId });
    await this.listGate;
    const offset = query.offset ?? 0;
    const page = this.deferred.slice(offset, offset + (query.limit ?? 50));
    return { task_instances: page, total_entries: this.deferred.length };
  }
}

function notFound(airflow: Coordinates) {
  const path = `/api/v2/dags/${airflow.dagId}/dagRuns/${airflow.runId}`;
  return new AirflowNotFoundError({ status: 404, detail: `The DagRun with dag_id: \`${airflow.dagId}\` was not found`, method: 'GET', path });
}

function reconcilerWith(airflow: FakeAirflow) {
  const registry = new Registry();
  const lines: { level: string; msg: string }[] = [];
  const log = {
    info: (_: object, msg: string) => lines.push({ level: 'info', msg }),
    warn: (_: object, msg: string) => lines.push({ level: 'warn', msg }),
    error: (_: object, msg: string) => lines.push({ level: 'error', msg }),
  };
  const reconciler = new HandoffReconciler({ handoffs: f.app.handoffs, store: f.store, airflow, log, registry });
  return { reconciler, registry, lines };
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = found?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value;
}

const reviewInput = () => handoffReviewInput();

/** Starts a hand-off through the API, as the operator does; a review waits until someone decides. */
async function startHandoff(
  airflow: Coordinates,
  workflowType = 'review.request',
  input: unknown = reviewInput(),
  wait: 'triggerer' | 'parked' = 'triggerer',
): Promise<{ handoffId: string; runId: string }> {
  const res = await f.app.inject({
    method: 'POST',
    url: '/v1/handoffs',
    headers: f.headers('service'),
    payload: { workflowType, input, department: 'cardiology', pipelineId: 'notes', partition: 'cardiology', airflow, wait },
  });
  expect(res.statusCode).toBe(201);
  return res.json();
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const workflowStatus = (handoffId: string) => f.app.handoffs.describe(handoffId, { department: 'cardiology', region: 'local' }).then((d) => d?.status.name);

async function deleteWorkflow(handoffId: string, runId: string) {
  await env.client.workflowService.deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId: handoffId, runId } });
  await until(`${handoffId} gone from Temporal`, () => f.app.handoffs.describe(handoffId, { department: 'cardiology', region: 'local' }), (d) => d === undefined);
}

const auditEvents = async (handoffId: string, event: string) =>
  (await f.store.audit.list({ workflowId: handoffId })).filter((e) => e.event === event);

describe('HandoffReconciler: hand-offs the store says are running', () => {
  it('cancels the workflow of a deleted DAG run once, audited as the reconciler, closing the record at once', async () => {
    const airflow = coordinates();
    const { handoffId, runId } = await startHandoff(airflow);
    const fake = new FakeAirflow();
    fake.set(airflow, 'gone');
    const { reconciler, lines } = reconcilerWith(fake);

    const report = await reconciler.tick();
    expect(report.skipped).toBe(false);
    expect(report.cancelled).toContain(handoffId);
    expect(report.errors).toEqual([]);
    const audit = await auditEvents(handoffId, 'handoff-cancelled');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actor: { kind: 'system', name: 'handoff-reconciler' },
      details: { runId, reason: `Airflow task instance tandem__notes/${airflow.runId}/cardiology.review was deleted` },
    });
    expect(lines).toContainEqual({
      level: 'info',
      msg: `hand-off reconciler: cancelled ${handoffId} (Airflow task instance tandem__notes/${airflow.runId}/cardiology.review was deleted)`,
    });

    // Closed in the store when cancelled, so no later pass cancels it again.
    expect(await f.store.handoffs.get(handoffId)).toMatchObject({ status: 'cancelled', closedAt: expect.any(String) });
    await until('the workflow to close', () => workflowStatus(handoffId), (s) => s === 'CANCELLED');
    const next = await reconciler.tick();
    expect(next.cancelled).not.toContain(handoffId);
    expect(await auditEvents(handoffId, 'handoff-cancelled')).toHaveLength(1);
  });

  it('cancels when the task (or its run) was cleared: state none or restarting', async () => {
    const none = coordinates();
    const restarting = coordinates(3);
    const a = await startHandoff(none);
    const b = await startHandoff(restarting);
    const fake = new FakeAirflow();
    fake.set(none, null);
    fake.set(restarting, 'restarting');
    const { reconciler } = reconcilerWith(fake);

    const report = await reconciler.tick();
    expect(report.cancelled).toEqual(expect.arrayContaining([a.handoffId, b.handoffId]));
    expect((await auditEvents(a.handoffId, 'handoff-cancelled'))[0]!.details.reason).toBe(`Airflow task instance tandem__notes/${none.runId}/cardiology.review was cleared`);
    // A mapped task instance is read at its map index.
    expect(fake.reads).toContain(handoffIdFor(restarting));
    expect((await auditEvents(b.handoffId, 'handoff-cancelled'))[0]!.details.reason).toBe(`Airflow task instance tandem__notes/${restarting.runId}/cardiology.review[3] was cleared`);
    await until('both workflows to close', async () => [await workflowStatus(a.handoffId), await workflowStatus(b.handoffId)], (s) => s.every((x) => x === 'CANCELLED'));
  });

  it('cancels when the task ended without its hand-off (marked failed or success by hand), naming the state', async () => {
    const failed = coordinates();
    const success = coordinates();
    const a = await startHandoff(failed);
    const b = await startHandoff(success);
    const fake = new FakeAirflow();
    fake.set(failed, 'failed');
    fake.set(success, 'success');
    const { reconciler } = reconcilerWith(fake);

    const report = await reconciler.tick();
    expect(report.cancelled).toEqual(expect.arrayContaining([a.handoffId, b.handoffId]));
    expect((await auditEvents(a.handoffId, 'handoff-cancelled'))[0]!.details.reason).toMatch(/ended as failed without its hand-off$/);
    expect((await auditEvents(b.handoffId, 'handoff-cancelled'))[0]!.details.reason).toMatch(/ended as success without its hand-off$/);
  });

  it('leaves a hand-off alone while its task is on its way to attach (scheduled, queued, running, up for retry)', async () => {
    const cases = (['scheduled', 'queued', 'running', 'up_for_retry', 'up_for_reschedule'] as const).map((state) => ({ state, airflow: coordinates() }));
    const fake = new FakeAirflow();
    const started = [];
    for (const c of cases) {
      started.push(await startHandoff(c.airflow));
      fake.set(c.airflow, c.state);
    }
    const { reconciler } = reconcilerWith(fake);

    const report = await reconciler.tick();
    for (const { handoffId } of started) {
      expect(fake.reads).toContain(handoffId);
      expect([...report.cancelled, ...report.restarted, ...report.closed]).not.toContain(handoffId);
      expect(await auditEvents(handoffId, 'handoff-cancelled')).toEqual([]);
      expect(await workflowStatus(handoffId)).toBe('RUNNING');
      expect(await f.store.handoffs.get(handoffId)).toMatchObject({ status: 'running' });
    }
  });

  it('starts the workflow again when the task waits deferred but Temporal lost it; the next pass leaves it', async () => {
    const airflow = coordinates();
    const { handoffId, runId } = await startHandoff(airflow);
    await deleteWorkflow(handoffId, runId);
    const fake = new FakeAirflow();
    fake.set(airflow, 'deferred');
    const { reconciler, lines } = reconcilerWith(fake);

    const report = await reconciler.tick();
    expect(report.restarted).toContain(handoffId);
    const description = await f.app.handoffs.describe(handoffId, { department: 'cardiology', region: 'local' });
    expect(description?.status.name).toBe('RUNNING');
    expect(description?.runId).not.toBe(runId);
    expect(await f.store.handoffs.get(handoffId)).toMatchObject({ status: 'running', runId: description?.runId });
    expect((await auditEvents(handoffId, 'handoff-restarted'))[0]).toMatchObject({ actor: { kind: 'system', name: 'handoff-reconciler' } });
    expect(lines.some((l) => l.level === 'warn' && l.msg.startsWith(`hand-off reconciler: restarted ${handoffId} (`))).toBe(true);

    const next = await reconciler.tick();
    expect(next.restarted).not.toContain(handoffId);
    expect((await f.app.handoffs.describe(handoffId, { department: 'cardiology', region: 'local' }))?.runId).toBe(description?.runId);
  });

  it('closes the record of a workflow Temporal lost when its task is gone too (nothing to cancel)', async () => {
    const airflow = coordinates();
    const { handoffId, runId } = await startHandoff(airflow);
    await deleteWorkflow(handoffId, runId);
    const fake = new FakeAirflow();
    fake.set(airflow, 'gone');
    const { reconciler } = reconcilerWith(fake);

    const report = await reconciler.tick();
    expect(report.closed).toContain(handoffId);
    expect(report.cancelled).not.toContain(handoffId);
    expect(await f.store.handoffs.get(handoffId)).toMatchObject({ status: 'cancelled', reason: expect.stringMatching(/was deleted$/) });
    expect((await f.store.handoffs.listRunning()).map((r) => r.handoffId)).not.toContain(handoffId);
  });
});

describe('HandoffReconciler: deferred hand-off tasks in Airflow', () => {
  it('lists deferred TemporalHandoffOperator tasks across all DAGs, page by page, and reports those tandem never started', async () => {
    const fake = new FakeAirflow();
    fake.deferred = Array.from({ length: 120 }, () => taskInstance(coordinates(), 'deferred'));
    const { reconciler, lines } = reconcilerWith(fake);

    const report = await reconciler.tick();
    expect(report.unrecoverable).toHaveLength(120);
    const ti = fake.deferred[0]!;
    expect(report.unrecoverable[0]).toBe(handoffIdFor({ dagId: ti.dag_id, runId: ti.dag_run_id, taskId: ti.task_id, mapIndex: ti.map_index }));
    expect(fake.listQueries).toEqual([
      expect.objectContaining({ dagId: '~', runId: '~', state: ['deferred', 'awaiting_input'], operator: [handoffOperatorClass], offset: 0, limit: 100 }),
      expect.objectContaining({ offset: 100 }),
    ]);
    expect(lines.filter((l) => l.level === 'warn' && /unrecoverable .* tandem has no record of its hand-off start/.test(l.msg))).toHaveLength(120);
  });

  it('leaves a deferred task without a record alone while its trigger may still be starting it (start from the triggerer)', async () => {
    const fake = new FakeAirflow();
    const deferredAt = (ms: number) => {
      const ti = taskInstance(coordinates(), 'deferred');
      ti.trigger = { id: 1, classpath: 'tandem_airflow.triggers.handoff.HandoffTrigger', kwargs: '', created_date: new Date(Date.now() - ms).toISOString(), triggerer_id: 1 };
      return ti;
    };
    const starting = deferredAt(5_000);
    const stuck = deferredAt(triggerStartGraceMs + 5_000);
    fake.deferred = [starting, stuck];
    const { reconciler } = reconcilerWith(fake);

    const report = await reconciler.tick();
    const idOf = (ti: AirflowTaskInstance) => handoffIdFor({ dagId: ti.dag_id, runId: ti.dag_run_id, taskId: ti.task_id, mapIndex: ti.map_index });
    expect(report.unrecoverable).toEqual([idOf(stuck)]);
  });

  it('starts again the workflow of a deferred task whose record is closed but Temporal lost it; leaves one whose workflow exists', async () => {
    const lost = coordinates();
    const { handoffId, runId } = await startHandoff(lost);
    // A record Part A does not walk: closed (as if its end had been observed), its workflow gone.
    expect(await f.store.handoffs.markClosed(handoffId, runId, 'failed', 'test: observed closed')).toBe(true);
    await deleteWorkflow(handoffId, runId);
    const present = coordinates();
    const other = await startHandoff(present, 'smoke.echo', { message: 'here' });
    await until('the echo to close', () => f.app.handoffs.closeIfEnded(other.handoffId), (s) => s.status === 'succeeded');
    const fake = new FakeAirflow();
    fake.deferred = [taskInstance(lost, 'deferred'), taskInstance(present, 'deferred')];
    const { reconciler } = reconcilerWith(fake);

    const report = await reconciler.tick();
    expect(report.restarted).toContain(handoffId);
    expect(report.restarted).not.toContain(other.handoffId);
    expect(report.unrecoverable).toEqual([]);
    expect((await f.app.handoffs.describe(handoffId, { department: 'cardiology', region: 'local' }))?.runId).not.toBe(runId);
    expect(await f.store.handoffs.get(handoffId)).toMatchObject({ status: 'running', closedAt: null });
    expect(await auditEvents(handoffId, 'handoff-restarted')).toHaveLength(1);
    expect(await auditEvents(other.handoffId, 'handoff-restarted')).toEqual([]);
  });
});

describe('HandoffReconciler: parked hand-off tasks (awaiting_input)', () => {
  it('leaves a parked task alone while its workflow runs, and resumes it once when the workflow ended without resuming it', async () => {
    const airflow = coordinates();
    const { handoffId } = await startHandoff(airflow, 'review.request', reviewInput(), 'parked');
    const fake = new FakeAirflow();
    fake.park(airflow);
    const { reconciler, registry, lines } = reconcilerWith(fake);

    const waiting = await reconciler.tick();
    expect([waiting.cancelled, waiting.resumed, waiting.restarted]).toEqual([[], [], []]);
    expect(waiting.errors).toEqual([]);
    expect(fake.answers).toEqual([]);

    // The workflow ends, and its push is lost: this worker's resume has no Airflow to call.
    await f.app.handoffs.cancel(handoffId, { kind: 'system', name: 'test' }, 'test ends it');
    await until('the workflow to close', () => workflowStatus(handoffId), (s) => s === 'CANCELLED');

    const report = await reconciler.tick();
    expect(report.resumed).toEqual([handoffId]);
    expect(fake.answers).toEqual([{ handoffId, chosen: ['workflow closed'] }]);
    expect(lines.some((l) => l.level === 'warn' && l.msg.includes(`resumed ${handoffId}`) && l.msg.includes('still parked'))).toBe(true);
    expect(await metric(registry, 'tandem_handoff_reconciler_actions_total', { action: 'resumed' })).toBe(1);
    // Resumed once: the task is no longer parked.
    expect((await reconciler.tick()).resumed).toEqual([]);
    expect(fake.answers).toHaveLength(1);
  });

  it('starts the workflow of a parked task again when Temporal lost it, as parked', async () => {
    const airflow = coordinates();
    const { handoffId, runId } = await startHandoff(airflow, 'review.request', reviewInput(), 'parked');
    await deleteWorkflow(handoffId, runId);
    const fake = new FakeAirflow();
    fake.park(airflow);
    const { reconciler } = reconcilerWith(fake);

    const report = await reconciler.tick();
    expect(report.restarted).toEqual([handoffId]);
    const description = await f.app.handoffs.describe(handoffId, (await f.store.handoffs.get(handoffId))!);
    expect(description?.status.name).toBe('RUNNING');
    // Still parked: its end will resume the task (the memo says so).
    expect(description?.memo?.handoffWait).toBe('parked');
    expect((await reconciler.tick()).restarted).toEqual([]);
  });

  it('fails a task someone other than tandem answered in Airflow, saying who; then cancels its workflow', async () => {
    const airflow = coordinates();
    const { handoffId } = await startHandoff(airflow, 'review.request', reviewInput(), 'parked');
    const fake = new FakeAirflow();
    // Where Airflow lets every user act as admin, the admin's answer goes through and resumes the task.
    fake.park(airflow, 'admin');
    const { reconciler, lines } = reconcilerWith(fake);

    const report = await reconciler.tick();
    expect(report.refused).toEqual([handoffId]);
    expect(fake.patches).toEqual([
      {
        handoffId,
        patch: {
          new_state: 'failed',
          note: expect.stringMatching(new RegExp(`parked hand-off ${handoffId.replace(/[.+]/g, '\\$&')} was answered in Airflow by user admin, not by tandem \\(tandem\\)`)),
        },
      },
    ]);
    expect(fake.hitlQueries[0]).toMatchObject({ response_received: true, offset: 0, limit: 100 });
    expect(lines.some((l) => l.level === 'warn' && l.msg.includes(`refused ${handoffId}`))).toBe(true);

    // The task has failed: the next pass cancels the workflow nothing waits for, and refuses nothing again.
    const next = await reconciler.tick();
    expect(next.refused).toEqual([]);
    expect(next.cancelled).toEqual([handoffId]);
  });

  it("leaves alone a task tandem itself answered", async () => {
    const airflow = coordinates();
    await startHandoff(airflow, 'review.request', reviewInput(), 'parked');
    const fake = new FakeAirflow();
    fake.park(airflow, 'tandem');
    const { reconciler } = reconcilerWith(fake);
    const report = await reconciler.tick();
    expect(report.refused).toEqual([]);
    expect(fake.patches).toEqual([]);
  });
});

describe('HandoffReconciler: passes', () => {
  it('never runs two passes at once: a tick while one runs is skipped and counted', async () => {
    const fake = new FakeAirflow();
    let release!: () => void;
    fake.listGate = new Promise((r) => (release = r));
    const { reconciler, registry } = reconcilerWith(fake);

    const first = reconciler.tick();
    await until('the first pass to reach Airflow', async () => fake.listQueries.length, (n) => n > 0);
    expect(await reconciler.tick()).toEqual({ skipped: true, cancelled: [], restarted: [], closed: [], resumed: [], refused: [], unrecoverable: [], errors: [] });
    expect(fake.listQueries).toHaveLength(1);
    release();
    expect((await first).skipped).toBe(false);
    expect(await metric(registry, 'tandem_handoff_reconciler_ticks_total', { outcome: 'skipped' })).toBe(1);
    expect(await metric(registry, 'tandem_handoff_reconciler_ticks_total', { outcome: 'ok' })).toBe(1);
    // And after it, a tick runs again.
    expect((await reconciler.tick()).skipped).toBe(false);
  });

  it('logs and counts one hand-off’s failing Airflow call and still reconciles the others', async () => {
    const broken = coordinates();
    const deleted = coordinates();
    const a = await startHandoff(broken);
    const b = await startHandoff(deleted);
    const fake = new FakeAirflow();
    fake.set(broken, new AirflowUnavailableError({ status: 500, detail: 'database is locked', method: 'GET', path: '/api/v2/dags/…' }));
    fake.set(deleted, 'gone');
    const { reconciler, registry, lines } = reconcilerWith(fake);

    const report = await reconciler.tick();
    expect(report.errors).toEqual([{ handoffId: a.handoffId, message: expect.stringMatching(/500 server.*database is locked/) }]);
    expect(report.cancelled).toContain(b.handoffId);
    expect(fake.listQueries).toHaveLength(1);
    expect(lines.some((l) => l.level === 'error' && l.msg.includes(a.handoffId))).toBe(true);
    expect(await metric(registry, 'tandem_handoff_reconciler_errors_total')).toBe(1);
    expect(await metric(registry, 'tandem_handoff_reconciler_ticks_total', { outcome: 'error' })).toBe(1);
    expect(await workflowStatus(a.handoffId)).toBe('RUNNING');
  });

  it('stops asking Airflow for the rest of a pass once it does not answer at all, and catches up on the next', async () => {
    const first = coordinates();
    const second = coordinates();
    await startHandoff(first);
    const b = await startHandoff(second);
    const fake = new FakeAirflow();
    fake.set(first, new AirflowUnavailableError({ status: null, detail: 'ECONNREFUSED', method: 'GET', path: '/api/v2/dags/…' }));
    fake.set(second, 'gone');
    const { reconciler } = reconcilerWith(fake);

    const down = await reconciler.tick();
    expect(down.errors).toHaveLength(1);
    expect(fake.reads).not.toContain(b.handoffId);
    expect(fake.listQueries).toEqual([]);
    expect(down.cancelled).not.toContain(b.handoffId);

    fake.set(first, 'running');
    const up = await reconciler.tick();
    expect(up.errors).toEqual([]);
    expect(up.cancelled).toContain(b.handoffId);
  });

  it('exposes what it did as metrics: actions, ticks, tick duration, running hand-offs', async () => {
    const airflow = coordinates();
    const { handoffId } = await startHandoff(airflow);
    const fake = new FakeAirflow();
    fake.set(airflow, 'gone');
    fake.deferred = [taskInstance(coordinates(), 'deferred')];
    const { reconciler, registry } = reconcilerWith(fake);
    expect(await metric(registry, 'tandem_handoff_reconciler_actions_total', { action: 'cancelled' })).toBe(0);

    const report = await reconciler.tick();
    expect(report.cancelled).toEqual([handoffId]);
    expect(await metric(registry, 'tandem_handoff_reconciler_actions_total', { action: 'cancelled' })).toBe(1);
    expect(await metric(registry, 'tandem_handoff_reconciler_actions_total', { action: 'unrecoverable' })).toBe(1);
    expect(await metric(registry, 'tandem_handoff_reconciler_actions_total', { action: 'restarted' })).toBe(0);
    expect(await metric(registry, 'tandem_handoff_reconciler_ticks_total', { outcome: 'ok' })).toBe(1);
    expect(await metric(registry, 'tandem_handoffs_running')).toBe((await f.store.handoffs.listRunning()).length);
    expect(await registry.getSingleMetricAsString('tandem_handoff_reconciler_tick_seconds')).toMatch(/tandem_handoff_reconciler_tick_seconds_count 1$/m);
  });
});
