// The smoke path through both engines: a DAG through Airflow's REST API, a workflow through the API
// and the tandem worker.
import { describe, expect, inject, it } from 'vitest';
import { AirflowClient } from '../services/airflow/client.ts';
import { runSmokeDag, writeSmokeDag } from './support/smoke-dag.ts';
import { api, eventually } from './support/api-client.ts';

const stack = inject('stack');

describe('smoke path', () => {
  it('Airflow: a DAG written to the DAG folder is parsed, unpaused, triggered and succeeds', async () => {
    const client = new AirflowClient({ baseUrl: stack.airflowUrl, username: stack.airflowUser, password: stack.airflowPassword });
    const dag = writeSmokeDag(stack.dagsFolder, { dagId: 'tandem_smoke_it', message: `it's "quoted" & $HOME` });
    const result = await runSmokeDag(client, dag, { timeoutMs: 170_000, progress: (l) => console.log(`[smoke] ${l}`) });
    expect(result.dagId).toBe('tandem_smoke_it');
    const run = await client.getDagRun(dag.dagId, result.dagRunId);
    expect(run.state).toBe('success');
    const tasks = await client.listTaskInstances(dag.dagId, result.dagRunId);
    expect(tasks.task_instances.map((t) => [t.task_id, t.state])).toEqual([['echo', 'success']]);
  });

  it('Temporal: the API starts a workflow that the worker completes', async () => {
    const started = await api<any>(stack.apiUrl, 'POST', '/v1/workflows', {
      key: stack.adminKey,
      body: { type: 'smoke.echo', input: { message: 'ping through tandem' } },
    });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ type: 'smoke.echo', created: true });
    const { workflowId } = started.body;

    const done = await eventually(
      async () => {
        const res = await api<any>(stack.apiUrl, 'GET', `/v1/workflows/${encodeURIComponent(workflowId)}`, { key: stack.adminKey });
        expect(res.status).toBe(200);
        return res.body.status === 'running' ? undefined : res.body;
      },
      60_000,
      'the echo workflow to finish',
    );
    expect(done.status).toBe('completed');
    expect(done.result).toMatchObject({ message: 'ping through tandem', workflowId });
    expect(Date.parse(done.result.echoedAt)).not.toBeNaN();
    expect(done).toMatchObject({ department: '*', startedBy: expect.any(String) });

    // Its start (by the API, with the caller's key) and its end (by the worker, through the audit
    // activity) are both in the audit log.
    const audit = await api<any>(stack.apiUrl, 'GET', `/v1/audit?subject=${encodeURIComponent(`workflow:${workflowId}`)}`, { key: stack.adminKey });
    expect(audit.status).toBe(200);
    expect(audit.body.entries.map((e: any) => [e.event, e.details?.outcome ?? null])).toEqual([
      ['workflow-started', null],
      ['workflow-finished', 'completed'],
    ]);
  });

  it('Temporal: the same Idempotency-Key returns the same workflow instead of a second one', async () => {
    const body = { type: 'smoke.echo', input: { message: 'once' } };
    const headers = { 'idempotency-key': `it-${Date.now()}` };
    const first = await api<any>(stack.apiUrl, 'POST', '/v1/workflows', { key: stack.adminKey, body, headers });
    const second = await api<any>(stack.apiUrl, 'POST', '/v1/workflows', { key: stack.adminKey, body, headers });
    expect(first.status).toBe(201);
    // The retry is the original response, replayed: same status, same workflow, nothing started.
    expect(second.status).toBe(201);
    expect(second.headers.get('idempotency-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
  });

  it('Temporal: an unknown workflow is a 404 problem', async () => {
    const res = await api<any>(stack.apiUrl, 'GET', '/v1/workflows/does-not-exist', { key: stack.adminKey });
    expect(res.status).toBe(404);
    expect(res.body.type).toBe('urn:tandem:problem:not-found');
  });
});
