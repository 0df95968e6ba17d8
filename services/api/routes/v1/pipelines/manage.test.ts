import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApiKey } from '../../../../../shared/credentials.ts';
import { hashApiKey } from '../../../../../shared/store/api-key-hash.ts';
import type { AirflowClient, AirflowDag, TriggerDagRunRequest } from '../../../../airflow/client.ts';
import { AirflowConflictError } from '../../../../airflow/errors.ts';
import { appFixture, type AppFixture } from '../../../../../test/support/app-fixture.ts';

/** Airflow that parses whatever file is in the folder, instantly and cleanly. */
function fakeAirflow(dagsFolder: string) {
  const calls: string[] = [];
  const runs = new Map<string, TriggerDagRunRequest>();
  const dag = (): AirflowDag =>
    ({ dag_id: 'tandem__kb', is_paused: false, is_stale: false, file_token: 't', last_parsed_time: new Date(Date.now() + 60_000).toISOString() }) as AirflowDag;
  const client = {
    getDag: async () => dag(),
    getDagSource: async () => ({ dag_id: 'tandem__kb', version_number: 1, content: readFileSync(path.join(dagsFolder, 'tandem__kb.py'), 'utf8') }),
    listImportErrors: async () => ({ import_errors: [], total_entries: 0 }),
    reparseDagFile: async () => void calls.push('reparse'),
    unpauseDag: async () => (calls.push('unpause'), dag()),
    pauseDag: async () => (calls.push('pause'), { ...dag(), is_paused: true }),
    triggerDagRun: async (_dagId: string, request: TriggerDagRunRequest) => {
      if (runs.has(request.dag_run_id!)) throw new AirflowConflictError({ status: 409, detail: 'exists', method: 'POST', path: '/dagRuns' });
      runs.set(request.dag_run_id!, request);
      return { dag_run_id: request.dag_run_id, logical_date: request.logical_date ?? null, state: 'queued' };
    },
    getDagRun: async (_dagId: string, runId: string) => ({ dag_run_id: runId, logical_date: null, run_after: '2026-11-25T00:00:00Z', state: 'failed' }),
    listTaskInstances: async () => ({
      task_instances: [
        { task_id: 'cardiology.check_sources', state: 'success' },
        { task_id: 'cardiology.build', state: 'failed' },
        { task_id: 'cardiology.commit_fingerprints', state: 'upstream_failed' },
      ],
      total_entries: 3,
    }),
  };
  return { client: client as unknown as AirflowClient, calls, runs };
}

const spec = {
  apiVersion: 'tandem.dev/v1',
  id: 'kb',
  department: 'cardiology',
  partitions: { keys: ['cardiology', 'oncology'] },
  sources: [{ id: 'docs', kind: 'file', path: '/data/{partition}/*.md' }],
  stages: [{ id: 'build', kind: 'python', callable: 'pkg.mod:build' }],
};

let fx: AppFixture;
let bare: AppFixture;
let dagsFolder: string;
let airflow: ReturnType<typeof fakeAirflow>;
let otherDepartment: { authorization: string };

beforeAll(async () => {
  dagsFolder = mkdtempSync(path.join(tmpdir(), 'tandem-dags-'));
  airflow = fakeAirflow(dagsFolder);
  fx = await appFixture({ env: { TANDEM_AIRFLOW_DAGS_FOLDER: dagsFolder }, airflowClient: airflow.client });
  bare = await appFixture();
  const key = newApiKey('key');
  await fx.store.createApiKey({ name: 'onco', role: 'data-engineer', department: 'oncology', keyHash: hashApiKey(key) });
  otherDepartment = { authorization: `Bearer ${key}` };
});
afterAll(async () => {
  await fx.close();
  await bare.close();
  rmSync(dagsFolder, { recursive: true, force: true });
});

const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown, headers = fx.headers('data-engineer')) =>
  fx.app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });

describe('/v1/pipelines', () => {
  it('an invalid spec is a 422 listing every issue with its path, and nothing is written', async () => {
    const res = await inject('POST', '/v1/pipelines', { ...spec, id: 'Bad', stages: [{ id: 'x', kind: 'python', callable: 'no', dependsOn: ['y'] }] });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors.map((e: { path: string }) => e.path)).toEqual(expect.arrayContaining(['id', 'stages[0].callable', 'stages[0].dependsOn[0]']));
    expect(existsSync(path.join(dagsFolder, 'tandem__kb.py'))).toBe(false);
  });

  it('a lint error blocks the deploy with the rule and path', async () => {
    const res = await inject('POST', '/v1/pipelines', { ...spec, refreshesKnowledgeBase: true });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0]).toMatchObject({ message: expect.stringContaining('knowledge-base-ends-with-evaluation') });
  });

  it('applies (201), re-applies unchanged (200), and is department-scoped', async () => {
    const created = await inject('POST', '/v1/pipelines', spec);
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ unchanged: false, pipeline: { id: 'kb', status: 'deployed', dagId: 'tandem__kb', partitionKeys: ['cardiology', 'oncology'] } });
    expect(readFileSync(path.join(dagsFolder, 'tandem__kb.py'), 'utf8')).toContain(created.json().pipeline.specHash);
    const again = await inject('POST', '/v1/pipelines', spec);
    expect(again.statusCode).toBe(200);
    expect(again.json().unchanged).toBe(true);

    expect((await inject('GET', '/v1/pipelines', undefined, otherDepartment)).json().pipelines).toEqual([]);
    expect((await inject('GET', '/v1/pipelines/kb', undefined, otherDepartment)).statusCode).toBe(404);
    expect((await inject('POST', '/v1/pipelines', spec, otherDepartment)).statusCode).toBe(403);
    expect((await inject('GET', '/v1/pipelines')).json().pipelines.map((p: { id: string }) => p.id)).toEqual(['kb']);
  });

  it('triggers runs with conf {partitions, force}; the Idempotency-Key returns the same run', async () => {
    const headers = { ...fx.headers('service'), 'idempotency-key': 'nightly-1' };
    const first = await inject('POST', '/v1/pipelines/kb/runs', { partitions: ['oncology'], force: true }, headers);
    expect(first.statusCode).toBe(201);
    const runId = first.json().runs[0].runId;
    expect(airflow.runs.get(runId)?.conf).toEqual({ partitions: ['oncology'], force: true });
    // The retry is answered from the Idempotency-Key record: the original response, no new run.
    const second = await inject('POST', '/v1/pipelines/kb/runs', { partitions: ['oncology'], force: true }, headers);
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotency-replayed']).toBe('true');
    expect(second.json()).toEqual(first.json());
    expect(airflow.runs.size).toBe(1);

    const bad = await inject('POST', '/v1/pipelines/kb/runs', { partitions: ['radiology'], from: '2026-01-01' });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors.map((e: { path: string }) => e.path)).toEqual(['body.partitions.0', 'body.from']);
  });

  it('partitions: a checked-but-never-committed run is reported failed, with the failing task', async () => {
    await fx.store.fingerprints.check({
      pipelineId: 'kb',
      partition: 'cardiology',
      runId: 'r1',
      force: false,
      sources: [{ source: 'docs', kind: 'file', identity: 'sha256:a', value: {} }],
    });
    const res = await inject('GET', '/v1/pipelines/kb/partitions');
    expect(res.statusCode).toBe(200);
    const [cardiology, oncology] = res.json().partitions;
    expect(cardiology).toMatchObject({ partition: 'cardiology', fingerprints: [], lastRun: { runId: 'r1', outcome: 'failed', reason: expect.stringContaining('build failed') } });
    expect(oncology).toEqual({ partition: 'oncology', fingerprints: [], lastRun: null, lastChangedAt: null });
    // A GET has no side effects: the store still holds the run as the check task left it.
    expect((await fx.store.fingerprints.partitions('kb'))[0]!.lastRun).toMatchObject({ runId: 'r1', outcome: 'pending' });
  });

  it('pause, unpause and delete go to Airflow and keep the pipeline row', async () => {
    expect((await inject('POST', '/v1/pipelines/kb/pause')).json().status).toBe('paused');
    expect(airflow.calls).toContain('pause');
    expect((await inject('POST', '/v1/pipelines/kb/unpause')).json().status).toBe('deployed');
    const deleted = await inject('DELETE', '/v1/pipelines/kb');
    expect(deleted.json().status).toBe('deleted');
    expect(existsSync(path.join(dagsFolder, 'tandem__kb.py'))).toBe(false);
    expect((await inject('GET', '/v1/pipelines')).json().pipelines).toEqual([]);
    expect((await inject('GET', '/v1/pipelines?includeDeleted=true')).json().pipelines[0]).toMatchObject({ id: 'kb', status: 'deleted' });
  });

  it('a dry run and a deploy lint with the same configured off-peak window', async () => {
    // Not the default 01:00–05:00: a lint that read anything but the app's config would disagree.
    const offPeak = await appFixture({
      env: { TANDEM_AIRFLOW_DAGS_FOLDER: dagsFolder, TANDEM_PIPELINES_OFF_PEAK_START: '22:00', TANDEM_PIPELINES_OFF_PEAK_END: '23:30' },
      airflowClient: airflow.client,
    });
    try {
      const gpuSpec = (cron: string) => ({
        ...spec,
        schedule: { cron, timezone: 'UTC' },
        stages: [
          {
            id: 'embed',
            kind: 'k8s_job',
            image: 'embedder:1',
            command: ['embed'],
            resources: { cpu: { requests: 1, limits: 1 }, memory: { requests: '1Gi', limits: '1Gi' }, gpu: { requests: 1, limits: 1 } },
          },
        ],
      });
      const post = (url: string, payload: unknown) => offPeak.app.inject({ method: 'POST', url, headers: offPeak.headers('data-engineer'), payload: payload as object });

      // 02:00 is inside the default window but outside the configured one: both refuse it.
      const dryRun = await post('/v1/pipelines/validate', gpuSpec('0 2 * * *'));
      expect(dryRun.json()).toMatchObject({ valid: false, findings: [{ rule: 'gpu-off-peak', message: expect.stringContaining('22:00–23:30') }] });
      const deploy = await post('/v1/pipelines', gpuSpec('0 2 * * *'));
      expect(deploy.statusCode).toBe(422);
      expect(deploy.json().errors).toEqual([{ path: 'schedule.cron', message: expect.stringContaining('22:00–23:30') }]);

      // 22:30 is outside the default window but inside the configured one: both accept it.
      expect((await post('/v1/pipelines/validate', gpuSpec('30 22 * * *'))).json()).toMatchObject({ valid: true });
      const accepted = await post('/v1/pipelines', gpuSpec('30 22 * * *'));
      expect(accepted.json().warnings).toEqual([]);
      expect([200, 201]).toContain(accepted.statusCode);

      // The department's tenant has a window of its own: it wins over the configuration, for both.
      const tenant = await offPeak.app.inject({
        method: 'PUT',
        url: `/v1/tenants/${spec.department}`,
        headers: offPeak.headers('admin'),
        payload: { offPeak: { start: '01:00', end: '03:00', timezone: 'UTC' } },
      });
      expect(tenant.statusCode, tenant.body).toBe(201);
      expect((await post('/v1/pipelines/validate', gpuSpec('30 22 * * *'))).json()).toMatchObject({
        valid: false,
        findings: [{ rule: 'gpu-off-peak', message: expect.stringContaining('01:00–03:00 UTC') }],
      });
      expect((await post('/v1/pipelines', gpuSpec('30 22 * * *'))).statusCode).toBe(422);
      expect((await post('/v1/pipelines/validate', gpuSpec('0 2 * * *'))).json()).toMatchObject({ valid: true });
    } finally {
      await offPeak.close();
    }
  });

  it('reviewers cannot apply, and without an Airflow client applying is a 503', async () => {
    expect((await inject('POST', '/v1/pipelines', spec, fx.headers('reviewer'))).statusCode).toBe(403);
    const res = await bare.app.inject({ method: 'POST', url: '/v1/pipelines', headers: bare.headers('admin'), payload: spec });
    expect(res.statusCode).toBe(503);
  });
});
