// The cluster profile end to end, on a stack of this file's own (a Temporal service gets killed,
// so never the shared stack): the store, the Temporal cluster (frontend, history, matching and
// worker services, 4 history shards) and Airflow's metadata DB, all on one PostgreSQL. The review
// hand-off runs end to end (the task defers, the review workflow waits, a decision lands, the task
// succeeds and the stage after it runs), a pipeline.run flow drives a DAG to its end, and the
// history service is killed -9 mid-review and restarted: every hand-off still completes exactly
// once (test/support/handoff-faults.ts checks DAG, tasks, Temporal runs and side effects).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dagRunIdOf } from '../workflows/airflow-wait.ts';
import { api, workflowFinished } from './support/api-client.ts';
import { DRILL_PIPELINE_ID, runDrill, startFaultRig, type FaultRig } from './support/handoff-faults.ts';

let rig: FaultRig;
const log = (line: string) => console.log(`[cluster-profile] ${line}`);

/** Reads a database of the profile's PostgreSQL behind the engines' backs, as psql would. */
async function query<T extends pg.QueryResultRow>(database: string, sql: string): Promise<T[]> {
  const url = new URL(rig.stack.config.database.url!);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  rig = await startFaultRig(log, { profile: 'cluster' });
  log(`cluster profile ready in ${rig.stack.readySeconds.toFixed(1)} s`);
}, 900_000);

afterAll(async () => {
  await rig?.close();
}, 180_000);

describe('cluster profile: PostgreSQL store, Temporal cluster, Airflow on PostgreSQL', () => {
  it('runs the four Temporal services instead of the dev server, and Airflow on the airflow database', async () => {
    const processes = Object.keys(rig.stack.supervisor.pids());
    expect(processes).toEqual(expect.arrayContaining(['postgres', 'temporal-frontend', 'temporal-history', 'temporal-matching', 'temporal-worker']));
    expect(processes).not.toContain('temporal');
    expect(rig.stack.config.airflow.databaseUrl).toMatch(/\/airflow$/);
    expect((await query<{ n: string }>('temporal', 'SELECT count(*)::text AS n FROM shards'))[0]!.n).toBe('4');
    // The drill pipeline was applied in the rig: Airflow's dag-processor wrote it to PostgreSQL.
    const dags = await query<{ dag_id: string }>('airflow', `SELECT dag_id FROM dag WHERE dag_id = 'tandem__${DRILL_PIPELINE_ID}'`);
    expect(dags).toEqual([{ dag_id: `tandem__${DRILL_PIPELINE_ID}` }]);
  });

  it('completes the review hand-off end to end: defer, review workflow, decision, task success, the stage after it', async () => {
    const result = await runDrill(rig, { component: 'none', killAtMs: 0, downMs: 0 }, log);
    log(`hand-off drill without a fault: ${result.totalMs} ms`);
    expect(result.problems, `run ${result.dagRunId}`).toEqual([]);
    // The review workflows' histories are in the cluster's database, not in a dev server's file.
    const workflowIds = (await query<{ workflow_id: string }>('temporal', 'SELECT workflow_id FROM executions')).map((r) => r.workflow_id);
    // Two partitions, each with a parked and a deferred review.
    expect(workflowIds.filter((id) => id.includes(result.dagRunId))).toHaveLength(4);
  }, 420_000);

  it('runs a pipeline.run flow: the worker triggers the DAG on Airflow and waits for its end', async () => {
    const admin = rig.stack.credentials.adminApiKey;
    const spec = {
      apiVersion: 'tandem.dev/v1',
      id: 'cluster-flow-run',
      department: 'clinical-ai',
      description: 'pipeline.run on the cluster profile',
      partitions: { keys: ['cardiology'] },
      sources: [{ id: 'letters', kind: 'command', command: 'echo letters-{partition}' }],
      stages: [{ id: 'summarise', kind: 'bash', command: 'echo "summarised $TANDEM_PARTITION"' }],
    };
    const applied = await api<any>(rig.stack.config.api.url, 'POST', '/v1/pipelines', { key: admin, body: spec });
    expect(applied.status, JSON.stringify(applied.body)).toBe(201);
    const key = await api<any>(rig.stack.config.api.url, 'POST', '/v1/api-keys', {
      key: admin,
      body: { name: `ai-eng-${randomUUID().slice(0, 8)}`, role: 'ai-engineer', department: 'clinical-ai' },
    });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    const started = await api<any>(rig.stack.config.api.url, 'POST', '/v1/workflows', {
      key: key.body.key,
      body: { type: 'pipeline.run', input: { pipelineId: 'cluster-flow-run', partitions: ['cardiology'], force: true, department: 'clinical-ai' } },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const done = await workflowFinished(rig.stack.config.api.url, key.body.key, started.body.workflowId, 240_000);
    expect(done.status, JSON.stringify(done)).toBe('completed');
    expect(done.result).toMatchObject({
      pipelineId: 'cluster-flow-run',
      dagRunId: dagRunIdOf(started.body.workflowId),
      state: 'success',
      partitions: [{ partition: 'cardiology', state: 'ran' }],
    });
  }, 300_000);

  it('survives a kill -9 of the history service mid-review: restarted, the decision lands once and the hand-off completes', async () => {
    // The reviews are waiting from ~3 s on (their reminder at 3.6 s, escalation at 7.2 s, then the decision).
    const killAtMs = 4_000 + Math.floor(Math.random() * 5_000);
    const downMs = 1_000 + Math.floor(Math.random() * 2_000);
    const result = await runDrill(rig, { component: 'temporal-history', killAtMs, downMs }, log);
    log(`temporal-history killed at ${killAtMs} ms for ${downMs} ms: ${result.problems.length ? 'FAILED' : 'ok'} in ${result.totalMs} ms`);
    expect(result.problems, `killed at ${killAtMs} ms for ${downMs} ms, run ${result.dagRunId}`).toEqual([]);
    for (const partition of ['north', 'south']) {
      const reviewId = `handoff:tandem__${DRILL_PIPELINE_ID}:${result.dagRunId}:${partition}.review:-1`;
      const audit = await api<any>(rig.stack.config.api.url, 'GET', `/v1/audit?subject=${encodeURIComponent(`review:${reviewId}`)}`, {
        key: rig.stack.credentials.adminApiKey,
      });
      expect(audit.body.entries.filter((e: any) => e.event === 'decided'), reviewId).toHaveLength(1);
    }
  }, 420_000);
});
