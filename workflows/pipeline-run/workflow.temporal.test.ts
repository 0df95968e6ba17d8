// pipeline.run on the time-skipping test server: the real airflow and pipelines activities
// against the fake Airflow HTTP server (test/support/fake-airflow.ts), pipelines saved in a temp
// SQLite store as the API saves them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { AirflowClient } from '../../services/airflow/client.ts';
import { dagIdFor } from '../../services/pipelines/dag-generator.ts';
import { createAirflowActivities } from '../../services/worker/activities/airflow.ts';
import { createPipelineActivities } from '../../services/worker/activities/pipelines.ts';
import { historyToJsonValue } from '../../services/worker/history-json.ts';
import { historiesDir, historyFileName } from '../../services/worker/record-history.ts';
import { parsePipelineSpec } from '../../shared/contracts/pipeline-spec.ts';
import { pipelineRunFlowInputSchema, pipelineRunFlowResultSchema } from '../../shared/contracts/pipeline-run-flow.ts';
import { openSqliteStore, type SqliteStore } from '../../shared/store/sqlite-store.ts';
import { startFakeAirflow, type FakeAirflow } from '../../test/support/fake-airflow.ts';
import { createTimeSkippingEnv } from '../../test/support/temporal-test-env.ts';
import { activityErrorTypes } from '../../shared/contracts/activity-errors.ts';
import { dagRunIdOf } from '../airflow-wait.ts';
import { pipelineRunWorkflow } from './workflow.ts';

let env: TestWorkflowEnvironment;
let dir: string;
let store: SqliteStore;
let airflow: FakeAirflow;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `pipeline-run-test-${randomUUID()}`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tandem-pipeline-run-'));
  store = openSqliteStore(path.join(dir, 'tandem.db'));
  airflow = await startFakeAirflow();
  // This workflow alone, without the worker's interceptors: the recorded history then replays
  // under any bundle (workflows/replay.test.ts), whatever interceptors come and go.
  let code: string;
  [env, { code }] = await Promise.all([
    createTimeSkippingEnv(),
    bundleWorkflowCode({ workflowsPath: path.join(import.meta.dirname, 'workflow.ts'), logger: new DefaultLogger('WARN') }),
  ]);
  const client = () => new AirflowClient({ baseUrl: airflow.url, username: 'u', password: 'p', retries: 0 });
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { code },
    activities: { ...createAirflowActivities({ client }), ...createPipelineActivities({ pipelines: store.pipelines, client }) },
  });
  running = worker.run();
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await airflow?.close();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Saves an applied pipeline (as the API does after deploying it) and returns its DAG id. */
async function applied(department = 'cardiology'): Promise<{ id: string; dagId: string }> {
  const id = `wards-${randomUUID().slice(0, 8)}`;
  const parsed = parsePipelineSpec({
    apiVersion: 'tandem.dev/v1',
    id,
    department,
    partitions: { keys: ['icu', 'ward-3'] },
    stages: [{ id: 'summarise', kind: 'bash', command: 'echo "$TANDEM_PARTITION"' }],
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const dagId = dagIdFor(id);
  await store.pipelines.save({ id, department, spec: parsed.spec, specHash: 'h', dagId, fileName: `${dagId}.py`, status: 'deployed', deployedAt: null, lastError: null });
  return { id, dagId };
}

/** The partitions' task instances as a successful run of the generated DAG leaves them. */
const ranIcuSkippedWard3 = [
  { task_id: 'icu.check_sources', state: 'success' },
  { task_id: 'icu.summarise', state: 'success' },
  { task_id: 'icu.commit_fingerprints', state: 'success' },
  { task_id: 'ward-3.check_sources', state: 'skipped' },
  { task_id: 'ward-3.summarise', state: 'skipped' },
  { task_id: 'ward-3.commit_fingerprints', state: 'skipped' },
];

function start(input: Record<string, unknown>, options: { workflowId?: string; memoDepartment?: string | null } = {}) {
  const workflowId = options.workflowId ?? `pipeline.run-${randomUUID()}`;
  const memoDepartment = options.memoDepartment === undefined ? 'cardiology' : options.memoDepartment;
  return env.client.workflow.start(pipelineRunWorkflow, {
    taskQueue,
    workflowId,
    args: [pipelineRunFlowInputSchema.parse({ department: 'cardiology', ...input })],
    ...(memoDepartment === null ? {} : { memo: { department: memoDepartment } }),
  });
}

async function failureOf(result: Promise<unknown>): Promise<{ error: WorkflowFailedError; innermost: Error }> {
  const error = await result.then(
    () => expect.unreachable('the workflow should have failed'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  let innermost = error as Error;
  while (innermost.cause instanceof Error) innermost = innermost.cause;
  return { error: error as WorkflowFailedError, innermost };
}

const triggersOf = (dagId: string) => airflow.calls.filter((c) => c === `POST /api/v2/dags/${dagId}/dagRuns`).length;
const runsOf = (dagId: string) => [...airflow.runs.keys()].filter((k) => k.startsWith(`${dagId}/`));

/**
 * `TANDEM_RECORD_HISTORIES=1 vitest run workflows/pipeline-run/workflow.temporal.test.ts` (re)records the
 * replay fixture (workflows/histories/pipeline/) from this test's execution.
 */
async function recordIfAsked(workflowId: string): Promise<void> {
  if (process.env.TANDEM_RECORD_HISTORIES !== '1') return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  mkdirSync(path.join(historiesDir, 'pipeline'), { recursive: true });
  writeFileSync(path.join(historiesDir, 'pipeline', historyFileName(workflowId)), `${JSON.stringify(historyToJsonValue(history), null, 2)}\n`);
}

describe('pipelineRunWorkflow', () => {
  it('success: triggers the DAG with the run conf and a run id derived from the workflow id, and reports each partition', async () => {
    const { id, dagId } = await applied();
    airflow.outcomes[dagId] = { state: 'success', tasks: ranIcuSkippedWard3 };
    const workflowId = `pipeline-run-success-${randomUUID().slice(0, 8)}`;
    const handle = await start({ pipelineId: id, partitions: ['icu'], force: true }, { workflowId });
    const result = await handle.result();

    expect(pipelineRunFlowResultSchema.parse(result)).toEqual({
      pipelineId: id,
      dagId,
      dagRunId: dagRunIdOf(workflowId),
      state: 'success',
      partitions: [{ partition: 'icu', state: 'ran' }],
      startedAt: '2026-11-01T01:30:00+00:00',
      finishedAt: '2026-11-01T01:31:05+00:00',
    });
    expect(airflow.runs.get(`${dagId}/${dagRunIdOf(workflowId)}`)).toEqual({ partitions: ['icu'], force: true });
    await recordIfAsked(workflowId);
  });

  it('all partitions by default, not forced: conf partitions null, every partition reported', async () => {
    const { id, dagId } = await applied();
    airflow.outcomes[dagId] = { state: 'success', tasks: ranIcuSkippedWard3 };
    const handle = await start({ pipelineId: id });
    const result = await handle.result();
    expect(airflow.runs.get(`${dagId}/${result.dagRunId}`)).toEqual({ partitions: null, force: false });
    expect(result.partitions).toEqual([
      { partition: 'icu', state: 'ran' },
      { partition: 'ward-3', state: 'skipped' },
    ]);
  });

  it('a failed DAG run fails the workflow with the failed task’s log excerpt', async () => {
    const { id, dagId } = await applied();
    airflow.outcomes[dagId] = {
      state: 'failed',
      failedTask: 'icu.summarise',
      log: ['summarising icu', 'summariser: no discharge letters for icu on 2026-11-01'],
    };
    const { error, innermost } = await failureOf((await start({ pipelineId: id, partitions: ['icu'] })).result());
    expect(error.cause).toBeInstanceOf(ActivityFailure);
    expect(innermost).toBeInstanceOf(ApplicationFailure);
    expect((innermost as ApplicationFailure).type).toBe(activityErrorTypes.airflow.dagRunFailed);
    expect(innermost.message).toContain('task icu.summarise (try 2) failed');
    expect(innermost.message).toContain('summariser: no discharge letters for icu on 2026-11-01');
  });

  it('the same workflow id never starts a second DAG run: not after a lost trigger response, not when started again', async () => {
    const { id, dagId } = await applied();
    // Airflow creates the run but the answer is lost: the activity's retry gets 409 and adopts the run.
    airflow.failTriggers = 1;
    const workflowId = `pipeline.run-${randomUUID()}`;
    const first = await (await start({ pipelineId: id }, { workflowId })).result();
    expect(airflow.failTriggers).toBe(0);
    // A finished workflow started again under its id (e.g. a caller retrying without knowing it finished).
    const again = await (await start({ pipelineId: id }, { workflowId })).result();

    expect(triggersOf(dagId)).toBe(3);
    expect(runsOf(dagId)).toEqual([`${dagId}/${dagRunIdOf(workflowId)}`]);
    expect(again.dagRunId).toBe(first.dagRunId);
  });

  it('cancelling the workflow marks the DAG run failed in Airflow', async () => {
    const { id, dagId } = await applied();
    airflow.outcomes[dagId] = { state: 'running' };
    const handle = await start({ pipelineId: id, partitions: ['ward-3'] });
    const runId = dagRunIdOf(handle.workflowId);
    // Cancel while it waits between polls: the first check read the run as running, the timer runs.
    // (Cancelling during a poll works too on a real server; the time-skipping test server can lose
    // that race — "ACTIVITY_UNKNOWN" — and never finish the workflow task.)
    const waitingOnTimer = async () => ((await handle.fetchHistory()).events ?? []).some((e) => e.timerStartedEventAttributes);
    for (let i = 0; i < 400 && !(await waitingOnTimer()); i++) await new Promise((r) => setTimeout(r, 25));
    expect(airflow.calls).toContain(`GET /api/v2/dags/${dagId}/dagRuns/${runId}`);
    await handle.cancel();

    const { error } = await failureOf(handle.result());
    expect(error.cause).toBeInstanceOf(CancelledFailure);
    expect(airflow.patches).toContainEqual({
      dagId,
      runId,
      body: { state: 'failed', note: `cancelled with the tandem workflow ${handle.workflowId}` },
    });
    expect((await handle.describe()).status.name).toBe('CANCELLED');
  });

  it('refuses a pipeline of another department, and a department outside the starter’s scope, before any DAG run', async () => {
    const { id, dagId } = await applied('oncology');

    // Asked as cardiology for an oncology pipeline: reads as missing, as in the pipelines routes.
    const notFound = await failureOf((await start({ pipelineId: id, department: 'cardiology' })).result());
    expect(notFound.innermost).toMatchObject({ type: activityErrorTypes.pipeline.notFound, nonRetryable: true });
    expect(notFound.innermost.message).toBe(`department cardiology has no pipeline ${id}`);

    // A cardiology key asking for oncology.
    const outOfScope = await failureOf((await start({ pipelineId: id, department: 'oncology' }, { memoDepartment: 'cardiology' })).result());
    expect(outOfScope.innermost).toMatchObject({ type: activityErrorTypes.pipeline.outOfScope, nonRetryable: true });
    expect(outOfScope.innermost.message).toBe('this flow was started with a key scoped to department cardiology; it cannot run pipelines of department oncology');

    // An all-departments key is told where the pipeline lives.
    const admin = await failureOf((await start({ pipelineId: id, department: 'cardiology' }, { memoDepartment: '*' })).result());
    expect(admin.innermost.message).toBe(`department cardiology has no pipeline ${id} (it belongs to department oncology)`);

    // Started without the API's memo: nobody vouched for a department.
    const noMemo = await failureOf((await start({ pipelineId: id, department: 'oncology' }, { memoDepartment: null })).result());
    expect(noMemo.innermost).toMatchObject({ type: activityErrorTypes.pipeline.outOfScope });

    // No refusal reached Airflow.
    expect(triggersOf(dagId)).toBe(0);
  });

  it('refuses partitions the spec does not declare', async () => {
    const { id, dagId } = await applied();
    const { innermost } = await failureOf((await start({ pipelineId: id, partitions: ['icu', 'ward-9'] })).result());
    expect(innermost).toMatchObject({ type: activityErrorTypes.pipeline.unknownPartition, nonRetryable: true });
    expect(innermost.message).toBe(`pipeline ${id}: input.partitions.1: unknown partition ward-9; known: icu, ward-3`);
    expect(triggersOf(dagId)).toBe(0);
  });
});
