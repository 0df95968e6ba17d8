// Pipelines end to end on the real stack: apply the example spec through the API, run it through
// the API, and watch Airflow run changed partitions and skip unchanged ones.
import { existsSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { EXAMPLE_PARTITIONS, exampleSpec, writeExampleDocuments } from '../deploy/dev/example-pipeline.ts';
import { api, eventually } from './support/api-client.ts';

const stack = inject('stack');
const key = stack.adminKey;
const id = 'kb-refresh';

type PartitionState = Record<string, string>;

async function trigger(body: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<string> {
  const res = await api<any>(stack.apiUrl, 'POST', `/v1/pipelines/${id}/runs`, { key, body, headers });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.runs[0].runId;
}

/** Waits for the run to finish; returns each partition's state and the raw task states. */
async function finished(runId: string): Promise<{ partitions: PartitionState; run: any }> {
  const run = await eventually(
    async () => {
      const res = await api<any>(stack.apiUrl, 'GET', `/v1/pipelines/${id}/runs?limit=10`, { key });
      expect(res.status).toBe(200);
      const found = res.body.runs.find((r: any) => r.runId === runId);
      return found && (found.state === 'success' || found.state === 'failed') ? found : undefined;
    },
    150_000,
    `run ${runId} to finish`,
  );
  return { partitions: Object.fromEntries(run.partitions.map((p: any) => [p.partition, p.state])), run };
}

async function partitionsView(): Promise<Record<string, any>> {
  const res = await api<any>(stack.apiUrl, 'GET', `/v1/pipelines/${id}/partitions`, { key });
  expect(res.status).toBe(200);
  return Object.fromEntries(res.body.partitions.map((p: any) => [p.partition, p]));
}

describe('pipelines: apply, run, skip unchanged partitions', () => {
  const dataDir = writeExampleDocuments(stack.stateDir);
  // The example without its nightly schedule: unpausing a scheduled DAG (catchup off) starts a run
  // for the latest schedule time at once, which would race the runs this test triggers.
  const { schedule: _schedule, ...spec } = exampleSpec(dataDir);
  const documentOf = (partition: 'cardiology' | 'oncology') =>
    path.join(dataDir, partition, partition === 'cardiology' ? 'heart-failure.md' : 'chemotherapy-dosing.md');

  it('rejects an invalid spec with every problem and its path', async () => {
    const res = await api<any>(stack.apiUrl, 'POST', '/v1/pipelines', {
      key,
      body: { ...spec, id: 'Bad Id', stages: [{ id: 'a', kind: 'python', callable: 'nope', dependsOn: ['missing'] }] },
    });
    expect(res.status).toBe(422);
    const paths = res.body.errors.map((e: any) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['id', 'stages[0].callable', 'stages[0].dependsOn[0]']));
  });

  it('applies the example, runs changed partitions and visibly skips unchanged ones', async () => {
    const applied = await api<any>(stack.apiUrl, 'POST', '/v1/pipelines', { key, body: spec });
    expect(applied.status, JSON.stringify(applied.body)).toBe(201);
    expect(applied.body.pipeline).toMatchObject({ id, status: 'deployed', dagId: 'tandem__kb-refresh', lastError: null });
    expect(readFileSync(path.join(stack.dagsFolder, 'tandem__kb-refresh.py'), 'utf8')).toContain(applied.body.pipeline.specHash);

    // 1. First run: nothing committed yet, every partition runs.
    const first = await finished(await trigger());
    expect(first.partitions).toEqual({ cardiology: 'ran', oncology: 'ran', radiology: 'ran' });
    expect(first.run.state).toBe('success');

    // 2. Nothing changed: every partition skipped, visibly in Airflow's task states.
    const second = await finished(await trigger());
    expect(second.partitions).toEqual({ cardiology: 'skipped', oncology: 'skipped', radiology: 'skipped' });
    // One source check ran for the run; each unchanged partition's tasks were skipped, none started.
    for (const p of second.run.partitions) expect(p.tasks).toMatchObject({ check_sources: 'success', build_index: 'skipped', sources_unreadable: 'skipped' });
    let view = await partitionsView();
    for (const p of EXAMPLE_PARTITIONS) {
      expect(view[p].lastRun).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('unchanged') });
      expect(view[p].fingerprints[0]).toMatchObject({ source: 'documents', kind: 'file', identity: expect.stringMatching(/^sha256:/) });
    }
    const oncologyBefore = view.oncology.fingerprints[0].identity;

    // 3. Cardiology changes and runs; oncology changes but its stage fails; radiology is skipped.
    writeFileSync(documentOf('cardiology'), '# Heart failure guideline\nUpdated: new first-line therapy.\n');
    writeFileSync(documentOf('oncology'), '# Chemotherapy dosing\nUpdated renal adjustment table.\n');
    mkdirSync(path.join(dataDir, '_fail'), { recursive: true });
    writeFileSync(path.join(dataDir, '_fail', 'oncology'), 'fail build_index on purpose\n');
    const third = await finished(await trigger());
    expect(third.partitions).toEqual({ cardiology: 'ran', oncology: 'failed', radiology: 'skipped' });
    view = await partitionsView();
    expect(view.cardiology.lastRun.outcome).toBe('ran');
    expect(view.oncology.lastRun).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('build_index') });
    expect(view.oncology.fingerprints[0].identity).toBe(oncologyBefore); // not committed
    expect(view.radiology.lastRun.outcome).toBe('skipped');

    // 4. The failure is fixed, no source changed since: oncology runs again (its change was never committed).
    rmSync(path.join(dataDir, '_fail', 'oncology'));
    const fourth = await finished(await trigger());
    expect(fourth.partitions).toEqual({ cardiology: 'skipped', oncology: 'ran', radiology: 'skipped' });
    view = await partitionsView();
    expect(view.oncology.fingerprints[0].identity).not.toBe(oncologyBefore);
    expect(view.oncology.lastChangedAt).toBe(view.oncology.fingerprints[0].changedAt);

    // 5. A spec Airflow rejects: the import error comes back and the previous version keeps running.
    const before = readFileSync(path.join(stack.dagsFolder, 'tandem__kb-refresh.py'), 'utf8');
    const broken = await api<any>(stack.apiUrl, 'POST', '/v1/pipelines', {
      key,
      // A valid spec whose DAG Airflow cannot build: midnight of 0001-01-01 in Berlin is before
      // year 1 in UTC, and pendulum raises OverflowError while the file is imported.
      body: {
        ...spec,
        schedule: { cron: '30 2 * * *', timezone: 'Europe/Berlin' },
        partitions: { keys: [...EXAMPLE_PARTITIONS], date: { start: '0001-01-01' } },
      },
    });
    expect(broken.status, JSON.stringify(broken.body)).toBe(422);
    expect(broken.body.detail).toContain('previous version keeps running');
    expect(broken.body.errors[0].message).toMatch(/OverflowError/);
    expect(readFileSync(path.join(stack.dagsFolder, 'tandem__kb-refresh.py'), 'utf8')).toBe(before);
    const after = await api<any>(stack.apiUrl, 'GET', `/v1/pipelines/${id}`, { key });
    expect(after.body).toMatchObject({ status: 'deployed', specHash: applied.body.pipeline.specHash, lastError: expect.stringMatching(/OverflowError/) });

    // 6. Force: every partition runs although nothing changed; the Idempotency-Key makes a retry the same run.
    const idem = { 'idempotency-key': `force-${Date.now()}` };
    const forcedRunId = await trigger({ force: true }, idem);
    const retried = await api<any>(stack.apiUrl, 'POST', `/v1/pipelines/${id}/runs`, { key, body: { force: true }, headers: idem });
    expect(retried.body.runs[0]).toMatchObject({ runId: forcedRunId, created: true });
    expect(retried.headers.get('idempotency-replayed')).toBe('true');
    const forced = await finished(forcedRunId);
    expect(forced.partitions).toEqual({ cardiology: 'ran', oncology: 'ran', radiology: 'ran' });
    view = await partitionsView();
    for (const p of EXAMPLE_PARTITIONS) expect(view[p].lastRun).toMatchObject({ runId: forcedRunId, outcome: 'ran', reason: expect.stringContaining('forced') });
  }, 600_000);

  it('rejects runs of unknown partitions with the path', async () => {
    const res = await api<any>(stack.apiUrl, 'POST', `/v1/pipelines/${id}/runs`, { key, body: { partitions: ['cardiology', 'dermatology'] } });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'body.partitions.1', message: expect.stringContaining('unknown partition dermatology') }]);
  });

  it('delete pauses the DAG and removes its file, keeping the pipeline as deleted', async () => {
    const res = await api<any>(stack.apiUrl, 'DELETE', `/v1/pipelines/${id}`, { key });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('deleted');
    expect(existsSync(path.join(stack.dagsFolder, 'tandem__kb-refresh.py'))).toBe(false);
    const list = await api<any>(stack.apiUrl, 'GET', '/v1/pipelines', { key });
    expect(list.body.pipelines.map((p: any) => p.id)).not.toContain(id);
    // Run history stays in Airflow.
    const runs = await api<any>(stack.apiUrl, 'GET', `/v1/pipelines/${id}/runs`, { key });
    expect(runs.body.runs.length).toBeGreaterThanOrEqual(5);
  });
});
