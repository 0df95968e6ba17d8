// What Airflow's callbacks report, at the API: a partition's failure and a run's end are recorded
// (partition's last run, audit entry of the pipeline's department), whoever reports them, and a
// run's outcome is read from Airflow rather than taken from the caller. Delivery to subscribers is
// in services/webhooks/delivery.temporal.test.ts and test/pipeline-events.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApiKey } from '../../../../../shared/credentials.ts';
import type { Role } from '../../../../../shared/contracts/roles.ts';
import { hashApiKey } from '../../../../../shared/store/api-key-hash.ts';
import type { AirflowClient, AirflowDagRun, AirflowTaskInstance } from '../../../../airflow/client.ts';
import { appFixture, type AppFixture } from '../../../../../test/support/app-fixture.ts';

/** One DAG run whose state and task instances the test sets. */
const airflow = {
  run: { dag_run_id: 'manual__1', logical_date: null, run_after: '2026-11-25T00:00:00Z', end_date: '2026-11-25T00:05:00Z', state: 'failed' } as AirflowDagRun,
  tasks: [] as Partial<AirflowTaskInstance>[],
  client: {} as AirflowClient,
};
airflow.client = {
  getDagRun: async (_dagId: string, runId: string) => ({ ...airflow.run, dag_run_id: runId }),
  listTaskInstances: async () => ({ task_instances: airflow.tasks, total_entries: airflow.tasks.length }),
} as unknown as AirflowClient;

let fx: AppFixture;
const keys: Record<string, { authorization: string }> = {};

async function addKey(name: string, role: Role, department: string) {
  const key = newApiKey('key');
  await fx.store.createApiKey({ name, role, department, keyHash: hashApiKey(key) });
  keys[name] = { authorization: `Bearer ${key}` };
}

const spec = {
  apiVersion: 'tandem.dev/v1',
  id: 'kb',
  department: 'oncology',
  partitions: { keys: ['cardiology', 'oncology', 'radiology'] },
  sources: [{ id: 'docs', kind: 'file', path: '/data/{partition}/*.md' }],
  stages: [{ id: 'build_index', kind: 'python', callable: 'pkg.mod:build' }],
};

beforeAll(async () => {
  fx = await appFixture({ airflowClient: airflow.client });
  await fx.store.pipelines.save({ id: 'kb', department: 'oncology', spec, specHash: 'h', dagId: 'tandem__kb', fileName: 'tandem__kb.py', status: 'deployed', deployedAt: null, lastError: null });
  await addKey('onc-airflow', 'service', 'oncology');
  await addKey('cardio-airflow', 'service', 'cardiology');
  await addKey('onc-engineer', 'data-engineer', 'oncology');
});
afterAll(async () => {
  await fx.close();
});

const failure = (over: Record<string, unknown> = {}) => ({
  pipelineId: 'kb',
  partition: 'oncology',
  runId: 'manual__1',
  taskId: 'oncology.build_index',
  tryNumber: 1,
  error: { type: 'AirflowException', message: 'Bash command failed. The command returned a non-zero exit code 1.\nTraceback …' },
  ...over,
});
const reportFailure = (body: object, headers = keys['onc-airflow']!) => fx.app.inject({ method: 'POST', url: '/v1/fingerprints/fail', headers, payload: body });
const reportEnd = (runId: string, headers = keys['onc-airflow']!) =>
  fx.app.inject({ method: 'POST', url: `/v1/pipelines/kb/runs/${encodeURIComponent(runId)}/finished`, headers });
const auditOf = async (event: string) => (await fx.store.audit.list({ subject: 'pipeline:kb' })).filter((e) => e.event === event);

describe('a partition’s failure, reported by its task', () => {
  it('is the partition’s last run with the message, and an audit entry of the pipeline’s department without it', async () => {
    const res = await reportFailure(failure());
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ runId: 'manual__1', outcome: 'failed', reason: expect.stringContaining('task oncology.build_index failed on try 1 with AirflowException: Bash command failed') });
    expect(res.json().reason).not.toContain('Traceback');

    const partitions = await fx.app.inject({ method: 'GET', url: '/v1/pipelines/kb/partitions', headers: keys['onc-engineer']! });
    expect(partitions.json().partitions.find((p: { partition: string }) => p.partition === 'oncology').lastRun).toEqual(res.json());

    const [entry, ...more] = await auditOf('partition-failed');
    expect(more).toEqual([]);
    expect(entry).toMatchObject({
      department: 'oncology',
      actor: { kind: 'key', name: 'onc-airflow', role: 'service' },
      details: { pipelineId: 'kb', dagId: 'tandem__kb', runId: 'manual__1', partition: 'oncology', taskId: 'oncology.build_index', error: { type: 'AirflowException' } },
    });
    expect(JSON.stringify(entry)).not.toContain('Bash command failed');
  });

  it('a retried report, or a second failing task of the partition, changes nothing', async () => {
    const before = (await auditOf('partition-failed'))[0]!;
    expect((await reportFailure(failure())).statusCode).toBe(200);
    const second = await reportFailure(failure({ taskId: 'oncology.other', error: { type: 'ValueError', message: 'x' } }));
    expect(second.json().reason).toContain('oncology.build_index');
    expect(await auditOf('partition-failed')).toEqual([before]);
  });

  it('another department’s key cannot report it (404), and nothing is written', async () => {
    const res = await reportFailure(failure({ partition: 'cardiology' }), keys['cardio-airflow']);
    expect(res.statusCode).toBe(404);
    const partitions = await fx.store.fingerprints.partitions('kb');
    expect(partitions.find((p) => p.partition === 'cardiology')).toBeUndefined();
  });

  it('an unknown partition or pipeline, or a bad body, is a 4xx', async () => {
    expect((await reportFailure(failure({ partition: 'dermatology' }))).statusCode).toBe(422);
    expect((await reportFailure(failure({ pipelineId: 'nope' }))).statusCode).toBe(404);
    expect((await reportFailure(failure({ error: { type: 'X', message: 'm', stack: 'leak' } }))).statusCode).toBe(422);
    expect((await reportFailure(failure(), keys['onc-engineer'])).statusCode).toBe(403);
  });
});

describe('a DAG run’s end', () => {
  it('is read from Airflow: partitions by outcome, and a failure no task reported is recorded first', async () => {
    airflow.run = { ...airflow.run, dag_run_id: 'manual__2', state: 'failed' };
    airflow.tasks = [
      { task_id: 'cardiology.check_sources', state: 'success' },
      { task_id: 'cardiology.build_index', state: 'success' },
      { task_id: 'cardiology.commit_fingerprints', state: 'success' },
      { task_id: 'oncology.check_sources', state: 'success' },
      { task_id: 'oncology.build_index', state: 'failed', try_number: 3, end_date: '2026-11-25T00:04:00Z' },
      { task_id: 'oncology.commit_fingerprints', state: 'upstream_failed' },
      { task_id: 'radiology.check_sources', state: 'skipped' },
      { task_id: 'radiology.build_index', state: 'skipped' },
      { task_id: 'radiology.commit_fingerprints', state: 'skipped' },
    ];
    const res = await reportEnd('manual__2');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      pipelineId: 'kb',
      dagId: 'tandem__kb',
      runId: 'manual__2',
      state: 'failed',
      partitions: { succeeded: ['cardiology'], failed: ['oncology'], skipped: ['radiology'] },
    });
    const finished = await auditOf('pipeline-run-finished');
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({ department: 'oncology', details: { runId: 'manual__2', state: 'failed', endDate: airflow.run.end_date } });
    // The task's own report never came: the run's end recorded it, naming the failed task.
    const failed = (await auditOf('partition-failed')).filter((e) => e.details.runId === 'manual__2');
    expect(failed.map((e) => e.details)).toEqual([
      expect.objectContaining({ partition: 'oncology', taskId: 'oncology.build_index', tryNumber: 3, error: { type: 'unknown', summary: 'task oncology.build_index failed on try 3 with unknown' } }),
    ]);

    // A retried report is the same entry; the run's end does not record its failure twice.
    expect((await reportEnd('manual__2')).statusCode).toBe(200);
    expect(await auditOf('pipeline-run-finished')).toEqual(finished);
    expect((await auditOf('partition-failed')).filter((e) => e.details.runId === 'manual__2')).toHaveLength(1);
  });

  it('a run that has not ended is a 409; another department’s key gets a 404; a reader cannot report', async () => {
    airflow.run = { ...airflow.run, state: 'running' };
    expect((await reportEnd('manual__3')).statusCode).toBe(409);
    airflow.run = { ...airflow.run, state: 'success' };
    expect((await reportEnd('manual__3', keys['cardio-airflow'])).statusCode).toBe(404);
    expect((await reportEnd('manual__3', keys['onc-engineer'])).statusCode).toBe(403);
    expect((await auditOf('pipeline-run-finished')).filter((e) => e.details.runId === 'manual__3')).toEqual([]);
  });
});
