// The airflow activities against a tiny fake Airflow HTTP server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { AirflowClient } from '../../airflow/client.ts';
import { startFakeAirflow, type FakeAirflow } from '../../../test/support/fake-airflow.ts';
import { activityErrorTypes } from '../../../shared/contracts/activity-errors.ts';
import { openSqliteStore } from '../../../shared/store/sqlite-store.ts';
import { createAirflowActivities, type DagRunSummary } from './airflow.ts';
import { createActivities } from './index.ts';

let airflow: FakeAirflow;
let activities: ReturnType<typeof createAirflowActivities>;
let clientsMade = 0;

beforeAll(async () => {
  airflow = await startFakeAirflow();
  activities = createAirflowActivities({
    client: () => {
      clientsMade++;
      return new AirflowClient({ baseUrl: airflow.url, username: 'u', password: 'p', retries: 0 });
    },
  });
});
afterAll(() => airflow?.close());

describe('triggerDagRun', () => {
  it('is idempotent by run id: a second trigger returns the existing run instead of failing', async () => {
    const env = new MockActivityEnvironment();
    const first = await env.run(activities.triggerDagRun, { dagId: 'refresh', runId: 'tandem__wf-1', conf: { v: 1 } });
    const again = await env.run(activities.triggerDagRun, { dagId: 'refresh', runId: 'tandem__wf-1', conf: { v: 1 } });
    expect(first).toEqual({ dagId: 'refresh', runId: 'tandem__wf-1', state: 'queued' });
    expect(again).toMatchObject({ dagId: 'refresh', runId: 'tandem__wf-1' });
    expect(airflow.calls.filter((c) => c === 'POST /api/v2/dags/refresh/dagRuns')).toHaveLength(2);
    expect(airflow.calls).toContain('GET /api/v2/dags/refresh/dagRuns/tandem__wf-1');
    expect(clientsMade).toBe(1);
  });
});

describe('checkDagRun', () => {
  it('is one poll: it reports the run state as it is now, and never waits', async () => {
    airflow.pollsBeforeEnd = 2;
    await new MockActivityEnvironment().run(activities.triggerDagRun, { dagId: 'ok', runId: 'r1' });
    const states: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run: DagRunSummary = await new MockActivityEnvironment().run(activities.checkDagRun, { dagId: 'ok', runId: 'r1' });
      states.push(run.state);
    }
    expect(states).toEqual(['running', 'running', 'success']);
  });

  it('a failed run is non-retryable and carries the failed task log', async () => {
    airflow.pollsBeforeEnd = 0;
    airflow.outcomes.broken = { state: 'failed', failedTask: 'load', log: ['loading', 'KeyError: patient_id'] };
    await new MockActivityEnvironment().run(activities.triggerDagRun, { dagId: 'broken', runId: 'r1' });
    const err = await new MockActivityEnvironment().run(activities.checkDagRun, { dagId: 'broken', runId: 'r1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: activityErrorTypes.airflow.dagRunFailed, nonRetryable: true });
    expect((err as Error).message).toMatch(/task load \(try 2\) failed:\n.*loading\n.*KeyError: patient_id/);
  });

  it('an unknown run is a non-retryable rejection', async () => {
    const err = await new MockActivityEnvironment().run(activities.checkDagRun, { dagId: 'ok', runId: 'never' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: activityErrorTypes.airflow.rejected, nonRetryable: true });
  });
});

describe('failDagRun', () => {
  it('marks a run that is still going failed, with the note', async () => {
    airflow.pollsBeforeEnd = 0;
    airflow.outcomes.endless = { state: 'running' };
    await new MockActivityEnvironment().run(activities.triggerDagRun, { dagId: 'endless', runId: 'r1' });
    const failed = await new MockActivityEnvironment().run(activities.failDagRun, { dagId: 'endless', runId: 'r1', note: 'cancelled' });
    expect(failed).toEqual({ dagId: 'endless', runId: 'r1', previousState: 'running', state: 'failed' });
    expect(airflow.patches).toContainEqual({ dagId: 'endless', runId: 'r1', body: { state: 'failed', note: 'cancelled' } });
  });

  it('leaves a finished run as it ended, and a run that was never created alone', async () => {
    airflow.pollsBeforeEnd = 0;
    await new MockActivityEnvironment().run(activities.triggerDagRun, { dagId: 'done', runId: 'r1' });
    const patchesBefore = airflow.patches.length;
    expect(await new MockActivityEnvironment().run(activities.failDagRun, { dagId: 'done', runId: 'r1', note: 'cancelled' })).toEqual({
      dagId: 'done',
      runId: 'r1',
      previousState: 'success',
      state: 'success',
    });
    expect(await new MockActivityEnvironment().run(activities.failDagRun, { dagId: 'done', runId: 'never', note: 'cancelled' })).toMatchObject({
      previousState: null,
      state: null,
    });
    expect(airflow.patches).toHaveLength(patchesBefore);
  });
});

describe('the worker without Airflow configured', () => {
  it('starts, and fails Airflow calls at once (non-retryable) instead of retrying forever', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tandem-airflow-act-'));
    const store = openSqliteStore(path.join(dir, 'tandem.db'));
    try {
      const { checkDagRun } = createActivities({ store, config: { notify: {}, stateDir: dir } });
      const err = await new MockActivityEnvironment().run(checkDagRun, { dagId: 'x', runId: 'r' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ type: activityErrorTypes.airflow.notConfigured, nonRetryable: true });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
