// Temporal → Airflow on the real stack: an AI engineer starts `pipeline.run` through the API; the
// worker triggers the pipeline's DAG (run id derived from the workflow id), waits for it with short
// polls and durable timers, and reports each partition — or fails with the failed stage's stderr.
// Uses its own small pipeline (one bash stage that fails for one partition on purpose), so it
// depends on no other test's pipelines.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { AirflowClient } from '../services/airflow/client.ts';
import { dagRunIdOf } from '../workflows/airflow-wait.ts';
import { api, workflowFinished } from './support/api-client.ts';

const stack = inject('stack');
const pipelineId = 'flow-run';
const dagId = `tandem__${pipelineId}`;
const department = 'clinical-ai';
const airflow = new AirflowClient({ baseUrl: stack.airflowUrl, username: stack.airflowUser, password: stack.airflowPassword });
let engineerKey: string;

const spec = {
  apiVersion: 'tandem.dev/v1',
  id: pipelineId,
  department,
  description: 'pipeline.run integration test: oncology fails on purpose',
  partitions: { keys: ['cardiology', 'oncology'] },
  sources: [{ id: 'letters', kind: 'command', command: 'echo letters-{partition}' }],
  stages: [
    {
      id: 'summarise',
      kind: 'bash',
      command:
        'if [ "$TANDEM_PARTITION" = oncology ]; then echo "flow-run: no discharge letters for $TANDEM_PARTITION" >&2; exit 3; fi; echo "summarised $TANDEM_PARTITION"',
    },
  ],
};

async function startRun(partitions: string[]): Promise<string> {
  const res = await api<any>(stack.apiUrl, 'POST', '/v1/workflows', {
    key: engineerKey,
    body: { type: 'pipeline.run', input: { pipelineId, partitions, force: true, department } },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.workflowId as string;
}

const finished = (workflowId: string) => workflowFinished(stack.apiUrl, engineerKey, workflowId, 150_000);

beforeAll(async () => {
  const applied = await api<any>(stack.apiUrl, 'POST', '/v1/pipelines', { key: stack.adminKey, body: spec });
  expect(applied.status, JSON.stringify(applied.body)).toBe(201);
  const key = await api<any>(stack.apiUrl, 'POST', '/v1/api-keys', {
    key: stack.adminKey,
    body: { name: `ai-eng-${randomUUID().slice(0, 8)}`, role: 'ai-engineer', department },
  });
  expect(key.status, JSON.stringify(key.body)).toBe(201);
  engineerKey = key.body.key;
}, 180_000);

describe('pipeline.run: a durable flow runs a pipeline’s DAG and waits for it', () => {
  it('runs the chosen partition under the deterministic run id and reports it ran', async () => {
    const workflowId = await startRun(['cardiology']);
    const done = await finished(workflowId);
    expect(done.status, JSON.stringify(done)).toBe('completed');
    const dagRunId = dagRunIdOf(workflowId);
    expect(done.result).toMatchObject({ pipelineId, dagId, dagRunId, state: 'success', partitions: [{ partition: 'cardiology', state: 'ran' }] });
    expect(Date.parse(done.result.finishedAt)).toBeGreaterThanOrEqual(Date.parse(done.result.startedAt));

    // The run in Airflow is the one the flow named, with the conf the runs route would send.
    const run = await airflow.getDagRun(dagId, dagRunId);
    expect(run).toMatchObject({ state: 'success', conf: { partitions: ['cardiology'], force: true } });
    const { dag_runs } = await airflow.listDagRuns(dagId);
    expect(dag_runs.map((r) => r.dag_run_id)).toEqual([dagRunId]);
  });

  it('a failing stage fails the flow, and GET /v1/workflows/{id} shows the stage’s stderr line', async () => {
    const workflowId = await startRun(['oncology']);
    const done = await finished(workflowId);
    expect(done.status).toBe('failed');
    expect(done.failure).toContain(`DAG run ${dagId}/${dagRunIdOf(workflowId)} failed`);
    expect(done.failure).toContain('task oncology.summarise');
    expect(done.failure).toContain('flow-run: no discharge letters for oncology');
  });
});
