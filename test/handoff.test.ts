// The Airflow → Temporal hand-off end to end on the real stack, with the discharge-summaries
// example: its physician_review stage (a review.request, so `wait: auto` parks it) waits in
// Airflow's awaiting_input state — no worker slot, no trigger — while a review.request workflow
// waits; only tandem's Airflow user may answer its request (the human admin is refused); a
// reviewer decides through the API, tandem resumes the task, and the downstream publish stage
// reads the decision from XCom. A rejection fails the task with the reviewer's reason. The same
// stage on the triggerer path (`wait: triggerer`) is ended by tandem through Airflow's REST API
// the moment its workflow succeeds; its kill -9 drills are the fault drills'.
import { cpSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { exampleSpec, writeExampleDocuments } from '../deploy/dev/example-pipeline.ts';
import { AirflowClient } from '../services/airflow/client.ts';
import { formatTaskLog } from '../services/airflow/task-log.ts';
import { api, eventually } from './support/api-client.ts';

const stack = inject('stack');
const admin = stack.adminKey;
const pipelineId = 'discharge-summaries';
const dagId = `tandem__${pipelineId}`;
const airflow = new AirflowClient({ baseUrl: stack.airflowUrl, username: stack.airflowUser, password: stack.airflowPassword });
let reviewerKey: string;
let dataDir: string;

async function runFor(partition: string): Promise<string> {
  const res = await api<any>(stack.apiUrl, 'POST', `/v1/pipelines/${pipelineId}/runs`, { key: admin, body: { partitions: [partition], force: true } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.runs[0].runId;
}

const taskState = async (runId: string, taskId: string) => (await airflow.getTaskInstance(dagId, runId, taskId)).state;

async function untilTaskState(runId: string, taskId: string, states: string[], timeoutMs = 120_000): Promise<string> {
  return eventually(
    async () => {
      const state = await taskState(runId, taskId).catch(() => undefined);
      return state && states.includes(state) ? state : undefined;
    },
    timeoutMs,
    `${taskId} of ${runId} to be ${states.join(' or ')}`,
  );
}

/** The task is deferred straight from the scheduler (start_from_trigger); its trigger then starts the hand-off. */
async function untilHandoffStarted(handoffId: string) {
  return eventually(
    async () => {
      const res = await api<any>(stack.apiUrl, 'GET', `/v1/handoffs/${encodeURIComponent(handoffId)}`, { key: stack.serviceKey });
      return res.status === 404 ? undefined : res;
    },
    90_000,
    `the trigger to start ${handoffId}`,
  );
}

async function pendingReviewFor(runId: string, partition: string): Promise<{ id: string; artifactVersion: string }> {
  return eventually(
    async () => {
      const res = await api<any>(stack.apiUrl, 'GET', '/v1/reviews?assignedToMe=true', { key: reviewerKey });
      expect(res.status).toBe(200);
      return res.body.reviews.find((r: any) => r.artifactVersion === `${runId}/${partition}` && r.status === 'pending');
    },
    60_000,
    `the review of ${partition} in ${runId}`,
  );
}

beforeAll(async () => {
  dataDir = writeExampleDocuments(stack.stateDir, pipelineId);
  // Without its schedule: unpausing a scheduled DAG starts a run at once, racing the test's runs.
  const { schedule: _schedule, ...spec } = exampleSpec(dataDir, pipelineId);
  const applied = await api<any>(stack.apiUrl, 'POST', '/v1/pipelines', { key: admin, body: spec });
  expect(applied.status, JSON.stringify(applied.body)).toBe(201);
  const key = await api<any>(stack.apiUrl, 'POST', '/v1/api-keys', { key: admin, body: { name: 'dr-handoff', role: 'reviewer', department: 'clinical-ai' } });
  expect(key.status, JSON.stringify(key.body)).toBe(201);
  reviewerKey = key.body.key;
}, 180_000);

describe('hand-off: a physician review stage in an Airflow pipeline', () => {
  it('parks without a worker slot or a trigger, refuses the human admin, resumes on approval, and publish sees the decision', async () => {
    const runId = await runFor('cardiology');
    await untilTaskState(runId, 'cardiology.physician_review', ['awaiting_input']);

    // Parked means off the workers and off the triggerer: once the other partition's check has
    // skipped it, nothing of this run holds an executor slot, and the task has no trigger.
    await eventually(
      async () => ((await airflow.listTaskInstances(dagId, runId, { state: ['running', 'queued'] })).task_instances.length === 0 ? true : undefined),
      60_000,
      'no task of the run to hold a worker slot',
    );
    const parked = await airflow.getTaskInstance(dagId, runId, 'cardiology.physician_review');
    expect(parked).toMatchObject({ state: 'awaiting_input', trigger: null });

    const handoffId = `handoff:${dagId}:${runId}:cardiology.physician_review:-1`;
    // Its Human-in-the-loop request (Airflow's Required Actions) is assigned to tandem's own user alone ...
    const request = await airflow.getHitlDetail(dagId, runId, 'cardiology.physician_review');
    expect(request.assigned_users.map((u) => u.id)).toEqual([stack.airflowTandemUser]);
    expect(stack.airflowTandemUser).not.toBe(stack.airflowUser);
    expect(request.subject).toContain(handoffId);
    // ... so the human admin's answer through Airflow's REST API is refused, and the task stays parked.
    const refused = await airflow.answerHitlDetail(dagId, runId, 'cardiology.physician_review', -1, { chosen_options: ['workflow closed'] }).catch((err) => err);
    expect(refused.status).toBe(403);
    expect(await taskState(runId, 'cardiology.physician_review')).toBe('awaiting_input');

    const handoff = await untilHandoffStarted(handoffId);
    expect(handoff.status, JSON.stringify(handoff.body)).toBe(200);
    expect(handoff.body).toMatchObject({ status: 'pending', workflowType: 'review.request', department: 'clinical-ai', partition: 'cardiology' });
    expect(handoff.body.links.temporalUi).toContain(encodeURIComponent(handoffId));

    const review = await pendingReviewFor(runId, 'cardiology');
    expect(review.id).toBe(handoffId);
    const decided = await api<any>(stack.apiUrl, 'POST', `/v1/reviews/${encodeURIComponent(review.id)}/decision`, {
      key: reviewerKey,
      body: { decision: 'approve', artifactVersion: review.artifactVersion, comment: 'looks right' },
    });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);

    expect(await untilTaskState(runId, 'cardiology.physician_review', ['success', 'failed'], 60_000)).toBe('success');
    // tandem answered the request (the workflow's last step), as its own Airflow user.
    const answered = await airflow.getHitlDetail(dagId, runId, 'cardiology.physician_review');
    expect(answered).toMatchObject({ response_received: true, responded_by_user: { id: stack.airflowTandemUser } });
    expect(await untilTaskState(runId, 'cardiology.publish', ['success', 'failed', 'upstream_failed'], 90_000)).toBe('success');
    const published = JSON.parse(readFileSync(path.join(dataDir, '_published', 'cardiology.json'), 'utf8'));
    expect(published).toMatchObject({ partition: 'cardiology', approvedBy: 'dr-handoff', artifactVersion: `${runId}/cardiology` });
    // One try: the hand-off never ran twice.
    expect((await airflow.getTaskInstance(dagId, runId, 'cardiology.physician_review')).try_number).toBe(1);
    const audit = await api<any>(stack.apiUrl, 'GET', `/v1/audit?subject=${encodeURIComponent(`review:${handoffId}`)}`, { key: admin });
    expect(audit.body.entries.map((e: any) => e.event)).toEqual(expect.arrayContaining(['created', 'decided']));
  });

  it('fails the task with the reviewer’s reason on rejection, and publish does not run', async () => {
    const runId = await runFor('oncology');
    await untilTaskState(runId, 'oncology.physician_review', ['awaiting_input']);
    const review = await pendingReviewFor(runId, 'oncology');
    const decided = await api<any>(stack.apiUrl, 'POST', `/v1/reviews/${encodeURIComponent(review.id)}/decision`, {
      key: reviewerKey,
      body: { decision: 'reject', artifactVersion: review.artifactVersion, comment: 'bed 3 dose is wrong' },
    });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);

    expect(await untilTaskState(runId, 'oncology.physician_review', ['success', 'failed'], 90_000)).toBe('failed');
    expect(await untilTaskState(runId, 'oncology.publish', ['upstream_failed', 'success'], 60_000)).toBe('upstream_failed');
    const ti = await airflow.getTaskInstance(dagId, runId, 'oncology.physician_review');
    // The task's state is reported before its log's last lines are written (the supervisor flushes
    // them after), so the reason is awaited in the log rather than read once.
    const reason = 'review rejected by dr-handoff: "bed 3 dose is wrong"';
    let log = '';
    await eventually(
      async () => {
        log = formatTaskLog(await airflow.getTaskLog(dagId, runId, 'oncology.physician_review', ti.try_number));
        return log.includes(reason) || undefined;
      },
      30_000,
      'the rejection reason in the task log',
    ).catch(() => undefined); // the assertion below shows the log as it last was
    expect(log).toContain(reason);
    expect(existsSync(path.join(dataDir, '_published', 'oncology.json'))).toBe(false);
  });

  it('cancels the workflow of a hand-off whose DAG run was marked failed, audited as the reconciler', async () => {
    const runId = await runFor('cardiology');
    await untilTaskState(runId, 'cardiology.physician_review', ['awaiting_input']);
    const handoffId = `handoff:${dagId}:${runId}:cardiology.physician_review:-1`;
    expect((await untilHandoffStarted(handoffId)).status).toBe(200);
    // Airflow 3.3 refuses to delete a running DAG run; marking it failed ends its parked task.
    await airflow.patchDagRun(dagId, runId, { state: 'failed' });
    // The reconciler runs every 10 s; its pass reads the task instance, finds it ended, cancels.
    const ended = await eventually(
      async () => {
        const res = await api<any>(stack.apiUrl, 'GET', `/v1/handoffs/${encodeURIComponent(handoffId)}?waitMs=5000`, { key: stack.serviceKey });
        return res.body.status === 'pending' ? undefined : res.body;
      },
      60_000,
      `the reconciler to cancel ${handoffId}`,
    );
    expect(ended.status).toBe('cancelled');
    const audit = await api<any>(stack.apiUrl, 'GET', `/v1/audit?subject=${encodeURIComponent(`workflow:${handoffId}`)}`, { key: admin });
    const cancelled = audit.body.entries.filter((e: any) => e.event === 'handoff-cancelled');
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0]).toMatchObject({ actor: { name: 'handoff-reconciler' }, details: { reason: expect.stringMatching(/ended as (failed|skipped) without its hand-off/) } });
  });

  it('fails a hand-off task at once, without retries, when its input does not fit the workflow type', async () => {
    const spec = {
      apiVersion: 'tandem.dev/v1',
      id: 'handoff-bad-input',
      department: 'clinical-ai',
      description: 'A review hand-off whose input misses required fields.',
      sources: [{ id: 'clock', kind: 'command', command: 'echo 1' }],
      stages: [{ id: 'review', kind: 'handoff', workflow: 'review.request', retries: 3, input: { department: 'clinical-ai', title: 'no artifact' } }],
    };
    const applied = await api<any>(stack.apiUrl, 'POST', '/v1/pipelines', { key: admin, body: spec });
    expect(applied.status, JSON.stringify(applied.body)).toBe(201);
    const run = await api<any>(stack.apiUrl, 'POST', '/v1/pipelines/handoff-bad-input/runs', { key: admin, body: { force: true } });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    const runId = run.body.runs[0].runId;
    const badDag = 'tandem__handoff-bad-input';
    const state = await eventually(
      async () => {
        const ti = await airflow.getTaskInstance(badDag, runId, 'review').catch(() => undefined);
        return ti && ['failed', 'success', 'up_for_retry'].includes(ti.state ?? '') ? ti : undefined;
      },
      120_000,
      'the hand-off task to end',
    );
    // Failed for good on its first try despite retries: 3 — no retry storm.
    expect(state).toMatchObject({ state: 'failed', try_number: 1 });
    const log = formatTaskLog(await airflow.getTaskLog(badDag, runId, 'review', 1));
    expect(log).toContain('HTTP 422');
    expect(log).toMatch(/input\.reviewType/);
  });

  it('answers a bad start with 422, a non-service key with 403 and an unknown hand-off with 404', async () => {
    const bad = await api<any>(stack.apiUrl, 'POST', '/v1/handoffs', {
      key: stack.serviceKey,
      body: {
        workflowType: 'review.request',
        input: { department: 'clinical-ai' },
        department: 'clinical-ai',
        airflow: { dagId, runId: 'manual__bad', taskId: 'x', mapIndex: -1, tryNumber: 1 },
      },
    });
    expect(bad.status).toBe(422);
    const forbidden = await api<any>(stack.apiUrl, 'GET', `/v1/handoffs/${encodeURIComponent('handoff:x:y:z:-1')}`, { key: admin });
    expect(forbidden.status).toBe(403);
    const unknown = await api<any>(stack.apiUrl, 'GET', `/v1/handoffs/${encodeURIComponent('handoff:x:y:z:-1')}`, { key: stack.serviceKey });
    expect(unknown.status).toBe(404);
  });
});

describe('hand-off on the triggerer path', () => {
  it('defers with a trigger; on approval tandem writes the result and ends the task through Airflow’s REST API, and publish sees the decision', async () => {
    const id = 'discharge-triggerer';
    const triggererDag = `tandem__${id}`;
    const ownDir = path.join(stack.stateDir, 'examples', id);
    cpSync(dataDir, ownDir, { recursive: true });
    const { schedule: _schedule, ...spec } = exampleSpec(ownDir, pipelineId);
    const stages = (spec.stages as Record<string, unknown>[]).map((s) => (s.id === 'physician_review' ? { ...s, wait: 'triggerer' } : s));
    const applied = await api<any>(stack.apiUrl, 'POST', '/v1/pipelines', { key: admin, body: { ...spec, id, stages } });
    expect(applied.status, JSON.stringify(applied.body)).toBe(201);
    const run = await api<any>(stack.apiUrl, 'POST', `/v1/pipelines/${id}/runs`, { key: admin, body: { partitions: ['cardiology'], force: true } });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    const runId: string = run.body.runs[0].runId;
    const taskId = 'cardiology.physician_review';
    const ti = () => airflow.getTaskInstance(triggererDag, runId, taskId);
    const deferred = await eventually(async () => ((await ti().catch(() => undefined))?.state === 'deferred' ? ti() : undefined), 120_000, `${taskId} to defer`);
    expect(deferred.trigger?.classpath).toBe('tandem_airflow.triggers.handoff.HandoffTrigger');

    const review = await pendingReviewFor(runId, 'cardiology');
    const decided = await api<any>(stack.apiUrl, 'POST', `/v1/reviews/${encodeURIComponent(review.id)}/decision`, {
      key: reviewerKey,
      body: { decision: 'approve', artifactVersion: review.artifactVersion },
    });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    await eventually(async () => ((await ti()).state === 'success' ? true : undefined), 60_000, `${taskId} to succeed`);
    // Ended by tandem's Airflow user through the REST API (Airflow's own log of the call), in the one try.
    const patched = await airflow.request<{ event_logs: { owner: string | null }[] }>('GET', '/api/v2/eventLogs', {
      params: { dag_id: triggererDag, run_id: runId, task_id: taskId, event: 'patch_task_instance_by_map_index' },
    });
    const patchedPlain = await airflow.request<{ event_logs: { owner: string | null }[] }>('GET', '/api/v2/eventLogs', {
      params: { dag_id: triggererDag, run_id: runId, task_id: taskId, event: 'patch_task_instance' },
    });
    expect([...patched.event_logs, ...patchedPlain.event_logs].map((e) => e.owner)).toEqual([stack.airflowTandemUser]);
    expect((await ti()).try_number).toBe(1);
    const publishEnded = async () => {
      const { state } = await airflow.getTaskInstance(triggererDag, runId, 'cardiology.publish');
      return state === 'success' || state === 'failed' || state === 'upstream_failed' ? state : undefined;
    };
    expect(await eventually(publishEnded, 90_000, 'publish to end')).toBe('success');
    const published = JSON.parse(readFileSync(path.join(ownDir, '_published', 'cardiology.json'), 'utf8'));
    expect(published).toMatchObject({ partition: 'cardiology', approvedBy: 'dr-handoff', artifactVersion: `${runId}/cardiology` });
  });
});
