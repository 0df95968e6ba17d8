// The push that resumes a parked hand-off, with real workflows: a parked start names tandem's
// Airflow user as the resumer, and the review workflow's last step (the worker's
// resumeParkedHandoff activity) answers the parked task's Human-in-the-loop request through the
// Airflow client the moment a reviewer decides; a triggerer hand-off's end answers nothing.
// Airflow is a fake client here (test/handoff.test.ts runs the same against the real one).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appWithWorker, type AppWithWorker } from '../../test/support/app-with-worker.ts';
import { newApiKey } from '../../shared/credentials.ts';
import { hashApiKey } from '../../shared/store/api-key-hash.ts';
import { handoffIdFor } from '../../shared/contracts/handoffs.ts';
import { handoffCoordinates, handoffReviewInput } from '../../test/support/handoff-fixtures.ts';
import type { AirflowClient, AirflowHitlDetail, AirflowTaskInstance, TaskInstanceState } from '../airflow/client.ts';
import { AirflowNotFoundError } from '../airflow/errors.ts';

/** Airflow as the push sees it: every task parked at try 1 with an open request, answers recorded. */
class ParkedAirflow {
  readonly username = 'tandem';
  readonly answers: { handoffId: string; chosen: string[]; params: unknown }[] = [];
  /** Tasks that are deferred instead (triggerer path): no request. */
  readonly deferred = new Set<string>();
  state = (id: string): TaskInstanceState => (this.deferred.has(id) ? 'deferred' : this.answers.some((a) => a.handoffId === id) ? 'scheduled' : 'awaiting_input');

  async getTaskInstance(dagId: string, runId: string, taskId: string, mapIndex = -1) {
    return { state: this.state(handoffIdFor({ dagId, runId, taskId, mapIndex })), try_number: 1 } as AirflowTaskInstance;
  }

  async getHitlDetail(dagId: string, runId: string, taskId: string, mapIndex = -1) {
    const id = handoffIdFor({ dagId, runId, taskId, mapIndex });
    if (this.deferred.has(id)) throw new AirflowNotFoundError({ status: 404, detail: 'no HITL detail', method: 'GET', path: '/hitlDetails' });
    return { created_at: new Date(Date.now() - 60_000).toISOString(), response_received: this.answers.some((a) => a.handoffId === id) } as AirflowHitlDetail;
  }

  async answerHitlDetail(dagId: string, runId: string, taskId: string, mapIndex: number, answer: { chosen_options: string[]; params_input?: unknown }) {
    this.answers.push({ handoffId: handoffIdFor({ dagId, runId, taskId, mapIndex }), chosen: answer.chosen_options, params: answer.params_input });
    return {} as never;
  }

  /** How Airflow recorded a try, by `<handoffId>#<try>`; an Error is thrown as Airflow's answer. */
  readonly tries = new Map<string, TaskInstanceState | Error>();

  async getTaskInstanceTry(dagId: string, runId: string, taskId: string, mapIndex: number, tryNumber: number) {
    const recorded = this.tries.get(`${handoffIdFor({ dagId, runId, taskId, mapIndex })}#${tryNumber}`);
    if (recorded instanceof Error) throw recorded;
    if (!recorded) throw new AirflowNotFoundError({ status: 404, detail: 'no such try', method: 'GET', path: '/tries' });
    return { state: recorded, try_number: tryNumber } as AirflowTaskInstance;
  }

  async setXcom() {}
}

let stack: AppWithWorker;
let reviewerKey: string;
const airflow = new ParkedAirflow();

beforeAll(async () => {
  stack = await appWithWorker('dev', { airflowClient: airflow as unknown as AirflowClient, env: { TANDEM_HANDOFF_RECONCILE_SCHEDULE: 'off' } });
  reviewerKey = newApiKey('key');
  await stack.f.store.createApiKey({ name: 'dr-a', role: 'reviewer', department: 'cardiology', keyHash: hashApiKey(reviewerKey) });
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

const coordinates = () => handoffCoordinates();
const review = handoffReviewInput;

const post = (airflowCoordinates: ReturnType<typeof coordinates>, wait: 'parked' | 'triggerer', version: string) =>
  stack.f.app.inject({
    method: 'POST',
    url: '/v1/handoffs',
    headers: stack.f.headers('service'),
    payload: { workflowType: 'review.request', input: review(version), department: 'cardiology', airflow: airflowCoordinates, wait },
  });

async function start(wait: 'parked' | 'triggerer', version: string, airflowCoordinates = coordinates()) {
  const res = await post(airflowCoordinates, wait, version);
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

async function decide(handoffId: string, version: string) {
  for (let i = 0; i < 400; i++) {
    const res = await stack.f.app.inject({
      method: 'POST',
      url: `/v1/reviews/${encodeURIComponent(handoffId)}/decision`,
      headers: { authorization: `Bearer ${reviewerKey}` },
      payload: { decision: 'approve', artifactVersion: version },
    });
    if (res.statusCode === 200) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`could not decide ${handoffId}`);
}

const closed = (handoffId: string) =>
  stack.f.app.handoffs.state(handoffId, { keyId: 'k', name: 'svc', role: 'service', department: '*' }, { waitMs: 20_000 });

describe('parked hand-offs: the push at the workflow end', () => {
  it("answers a parked start with tandem's Airflow user, and a triggerer start with none", async () => {
    const parked = await start('parked', 'p1');
    expect(parked.resumer).toEqual({ id: 'tandem', name: 'tandem' });
    expect((await stack.f.app.handoffs.describe(parked.handoffId, (await stack.f.store.handoffs.get(parked.handoffId))!))?.memo?.handoffWait).toBe('parked');
    const deferred = await start('triggerer', 't1');
    expect(deferred.resumer).toBeUndefined();
    expect((await stack.f.app.handoffs.describe(deferred.handoffId, (await stack.f.store.handoffs.get(deferred.handoffId))!))?.memo?.handoffWait).toBeUndefined();
    for (const id of [parked.handoffId, deferred.handoffId]) await stack.f.app.handoffs.cancel(id, { kind: 'system', name: 'test' }, 'done');
  });

  it('resumes the parked task once when the reviewer decides, naming the hand-off and its run', async () => {
    const { handoffId, runId } = await start('parked', 'p2');
    expect(airflow.answers.filter((a) => a.handoffId === handoffId)).toEqual([]);

    await decide(handoffId, 'p2');

    expect((await closed(handoffId)).status).toBe('succeeded');
    expect(airflow.answers.filter((a) => a.handoffId === handoffId)).toEqual([{ handoffId, chosen: ['workflow closed'], params: { handoffId, runId } }]);
  });

  it('resumes a parked task when its workflow is cancelled too (its task then fails with the reason)', async () => {
    const { handoffId } = await start('parked', 'p3');
    await stack.f.app.handoffs.cancel(handoffId, { kind: 'system', name: 'test' }, 'cancelled by a test');
    expect((await closed(handoffId)).status).toBe('cancelled');
    // The push runs as the cancelled workflow's last step; give it the moment it takes.
    for (let i = 0; i < 200 && !airflow.answers.some((a) => a.handoffId === handoffId); i++) await new Promise((r) => setTimeout(r, 25));
    expect(airflow.answers.filter((a) => a.handoffId === handoffId)).toHaveLength(1);
  });

  it('answers nothing for a hand-off deferred to the triggerer', async () => {
    const { handoffId } = await start('triggerer', 't2');
    airflow.deferred.add(handoffId);
    await decide(handoffId, 't2');
    expect((await closed(handoffId)).status).toBe('succeeded');
    await new Promise((r) => setTimeout(r, 500));
    expect(airflow.answers.filter((a) => a.handoffId === handoffId)).toEqual([]);
  });
});

describe('a newer try after the workflow succeeded: a clear, or a try that died before Airflow got the outcome', () => {
  /** A parked review decided and closed at try 1; Airflow recorded try 1 as `tryOne`. */
  async function approvedAtTryOne(version: string, tryOne: TaskInstanceState | Error) {
    const at = coordinates();
    const first = await start('parked', version, at);
    await decide(first.handoffId, version);
    expect((await closed(first.handoffId)).status).toBe('succeeded');
    airflow.tries.set(`${first.handoffId}#1`, tryOne);
    return { at, first };
  }

  it('answers the approved outcome to a retry of a try that died after the resume (no second review)', async () => {
    const { at, first } = await approvedAtTryOne('d1', 'failed');
    const retry = await post({ ...at, tryNumber: 2 }, 'parked', 'd1');
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.json()).toMatchObject({ runId: first.runId, created: false, status: 'succeeded', result: { outcome: 'approved' } });
    expect((await stack.f.store.reviews.get(first.handoffId))?.status).not.toBe('pending');
  });

  it('starts a fresh review for a cleared task whose try succeeded', async () => {
    const { at, first } = await approvedAtTryOne('d2', 'success');
    const cleared = await post({ ...at, tryNumber: 2 }, 'parked', 'd2');
    expect(cleared.statusCode, cleared.body).toBe(201);
    expect(cleared.json()).toMatchObject({ created: true, status: 'pending' });
    expect(cleared.json().runId).not.toBe(first.runId);
    await stack.f.app.handoffs.cancel(first.handoffId, { kind: 'system', name: 'test' }, 'done');
  });

  it('is 503, starting nothing, when Airflow cannot say how the try ended', async () => {
    const { at, first } = await approvedAtTryOne('d3', new Error('connect ECONNREFUSED 127.0.0.1:8080'));
    const refused = await post({ ...at, tryNumber: 2 }, 'parked', 'd3');
    expect(refused.statusCode, refused.body).toBe(503);
    expect(refused.json().detail).toMatch(/cannot tell whether try 1 .* succeeded/);
    expect((await stack.f.store.handoffs.get(first.handoffId))?.runId).toBe(first.runId);
  });
});
