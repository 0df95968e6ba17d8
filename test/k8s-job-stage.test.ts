/**
 * A `k8s_job` pipeline stage end to end, on a stack of its own started with the local Kubernetes
 * (`npm start -- --with-kubernetes`): the Airflow task hands the stage to the gpu.batch flow and
 * waits deferred (no worker slot) while the flow runs the Job in the department's namespace; when
 * the container exits 0 the task succeeds and the downstream stage runs. A second run whose
 * container fails ends the task failed with the container's last log lines, and the downstream
 * stage does not run.
 *
 * Last, the README's GPU example as a new user runs it: the tenant and the gpu.batch input from
 * examples/gpu-batch, the stack's example embedder playing the image, an eviction mid-run.
 *
 * Its own stack, not the shared one: the shared stack's worker runs batch jobs as local processes
 * (test/llm-and-gpu-flows.test.ts relies on that), this one's on Kubernetes.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { startStack, type StackHandle } from '../deploy/dev/stack.ts';
import { AirflowClient } from '../services/airflow/client.ts';
import { api, eventually } from './support/api-client.ts';
import { isolatedStackEnv } from './support/free-ports.ts';
import { parse as parseYaml } from 'yaml';
import { SimulatedContainer } from './support/kubernetes-container.ts';

const DEPARTMENT = 'radiology';
const PIPELINE = 'gpu-embed';
const DAG_ID = `tandem__${PIPELINE}`;

let stack: StackHandle;
let stateDir: string;
let container: SimulatedContainer;
let airflow: AirflowClient;
let namespace: string;
let admin: string;

function spec(dataDir: string) {
  return {
    apiVersion: 'tandem.dev/v1',
    id: PIPELINE,
    department: DEPARTMENT,
    description: 'Embeds a partition on a GPU, then records that the next stage ran.',
    sources: [{ id: 'clock', kind: 'command', command: 'echo embed' }],
    stages: [
      {
        id: 'embed',
        kind: 'k8s_job',
        image: 'registry.local/embedder:1.4',
        command: ['python', '-m', 'embedder', '--partition', '{partition}'],
        resources: { cpu: { requests: '2', limits: '2' }, memory: { requests: '8Gi', limits: '8Gi' }, gpu: { requests: 1, limits: 1 } },
      },
      { id: 'after', kind: 'bash', dependsOn: ['embed'], command: `echo "$AIRFLOW_CTX_DAG_RUN_ID" >> ${path.join(dataDir, 'after.log')}` },
    ],
  };
}

/** The pipeline's one GPU Pod of this run, once it is Running. */
async function runningPod(seen: string[] = []): Promise<k8s.V1Pod> {
  return eventually(
    async () =>
      (await container.core.listNamespacedPod({ namespace, labelSelector: 'tandem.dev/job' })).items.find(
        (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && !seen.includes(p.metadata!.name!),
      ),
    120_000,
    'a running Pod of the embed stage',
  );
}

/** The stage's task: a pipeline without partitions has no task groups, so its id is the stage's. */
async function taskState(runId: string, stage: string): Promise<string | undefined> {
  const { task_instances: tasks } = await airflow.listTaskInstances(DAG_ID, runId);
  return tasks.find((t) => t.task_id === stage)?.state ?? undefined;
}

async function dagRunState(runId: string): Promise<string | undefined> {
  const run = await airflow.getDagRun(DAG_ID, runId).catch(() => undefined);
  return run?.state;
}

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-k8s-stage-'));
  mkdirSync(path.join(stateDir, 'data'));
  const env = { ...(await isolatedStackEnv(stateDir)), TANDEM_LOG_LEVEL: 'warn' };
  const config = loadConfig({ cwd: stateDir, env });
  stack = await startStack(config, (line) => console.log(`[k8s-stage] ${line}`), { withKubernetes: true });
  admin = stack.credentials.adminApiKey;
  airflow = AirflowClient.forStack(config, stack.credentials);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(stack.kubernetes!.kubeconfigPath);
  container = new SimulatedContainer(kc);
  namespace = `tandem-${DEPARTMENT}`;
  await container.createNamespace(namespace);
  const applied = await api<any>(config.api.url, 'POST', '/v1/pipelines', { key: admin, body: spec(path.join(stateDir, 'data')) });
  expect(applied.status, JSON.stringify(applied.body)).toBeLessThan(300);
}, 600_000);

afterAll(async () => {
  await stack?.stop();
  if (stateDir && !process.env.TANDEM_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
});

describe('k8s_job stage', () => {
  it('defers while the Job runs, succeeds when the container exits 0, and the next stage runs', { timeout: 420_000 }, async () => {
    const run = await api<any>(stack.config.api.url, 'POST', `/v1/pipelines/${PIPELINE}/runs`, { key: admin, body: { force: true } });
    expect(run.status, JSON.stringify(run.body)).toBeLessThan(300);
    const runId: string = run.body.runs[0].runId;
    const pod = await runningPod();
    const resources = pod.spec!.containers[0]!.resources!;
    expect(resources.requests).toEqual(resources.limits);
    expect(resources.limits!['nvidia.com/gpu']).toBe('1');
    expect(pod.spec!.nodeName).toMatch(/^gpu-\d$/);
    // While the Job runs the task waits deferred, holding no worker slot.
    let seen: string | undefined;
    await eventually(async () => ((seen = await taskState(runId, 'embed')) === 'deferred' ? true : undefined), 60_000, 'the embed task to be deferred').catch((err) => {
      throw new Error(`${(err as Error).message}; it is ${seen}`);
    });

    await container.exit(namespace, pod, 0);
    await eventually(async () => (['success', 'failed'].includes((await dagRunState(runId)) ?? '') ? true : undefined), 180_000, 'the DAG run to end').catch(async (err) => {
      const { task_instances: tasks } = await airflow.listTaskInstances(DAG_ID, runId);
      throw new Error(`${(err as Error).message}; tasks: ${tasks.map((t) => `${t.task_id}=${t.state}`).join(', ')}`);
    });
    expect(await dagRunState(runId)).toBe('success');
    const after = path.join(stateDir, 'data', 'after.log');
    expect(existsSync(after) && readFileSync(after, 'utf8')).toContain(runId);
  });

  it("fails the task with the container's last log lines when it exits non-zero, and the next stage does not run", { timeout: 300_000 }, async () => {
    const run = await api<any>(stack.config.api.url, 'POST', `/v1/pipelines/${PIPELINE}/runs`, { key: admin, body: { force: true } });
    const runId: string = run.body.runs[0].runId;
    const pod = await runningPod();
    await container.exit(namespace, pod, 3, 'Traceback (most recent call last):\nValueError: embedding dimension 384 != 768');
    await eventually(async () => ((await dagRunState(runId)) === 'failed' ? true : undefined), 180_000, 'the DAG run to fail');
    expect(await taskState(runId, 'embed')).toBe('failed');
    // The hand-off the task failed with says why, in the container's own words.
    const handoffId = `handoff:${DAG_ID}:${runId}:embed:-1`;
    const handoff = await api<any>(stack.config.api.url, 'GET', `/v1/handoffs/${encodeURIComponent(handoffId)}`, { key: stack.credentials.serviceApiKey });
    expect(handoff.body).toMatchObject({ status: 'failed', workflowType: 'gpu.batch', department: DEPARTMENT });
    expect(handoff.body.reason).toContain('embedding dimension 384 != 768');
    const after = path.join(stateDir, 'data', 'after.log');
    expect(existsSync(after) ? readFileSync(after, 'utf8') : '').not.toContain(runId);
  });

  it('the README’s GPU example: a department’s gpu.batch of the example image survives an eviction and completes from its checkpoint', { timeout: 300_000 }, async () => {
    const url = stack.config.api.url;
    const example = (file: string) => readFileSync(path.join(import.meta.dirname, '..', 'examples', 'gpu-batch', file), 'utf8');
    // What `tandem tenants apply -f` sends: the file's department names the resource.
    const { department, ...tenant } = parseYaml(example('radiology-tenant.yaml')) as { department: string };
    const applied = await api<any>(url, 'PUT', `/v1/tenants/${department}`, { key: admin, body: tenant });
    expect(applied.status, JSON.stringify(applied.body)).toBeLessThan(300);
    expect(applied.body.cluster.state).toBe('applied');
    const created = await api<any>(url, 'POST', '/v1/api-keys', { key: admin, body: { name: 'radiology-ai', role: 'ai-engineer', department: DEPARTMENT } });
    const input = JSON.parse(example('embed-notes.json')) as Record<string, unknown>;
    const started = await api<any>(url, 'POST', '/v1/workflows', { key: created.body.key, body: { type: 'gpu.batch', input } });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const workflowId: string = started.body.workflowId;

    // What `kubectl drain spot-0` does to the Pod: an eviction, once a chunk is checkpointed.
    const pod = await eventually(
      async () => (await container.core.listNamespacedPod({ namespace, labelSelector: 'tandem.dev/job' })).items.find((p) => p.status?.phase === 'Running' && p.spec?.containers[0]?.image === input.image),
      120_000,
      'the example Pod to run',
    );
    expect(pod.spec!.nodeName).toMatch(/^spot-\d$/);
    const job = pod.metadata!.labels!['tandem.dev/job']!;
    await eventually(async () => ((await container.readCheckpoint(namespace, job)) ? true : undefined), 60_000, 'a first checkpoint');
    await container.core.createNamespacedPodEviction({ name: pod.metadata!.name!, namespace, body: { metadata: { name: pod.metadata!.name!, namespace } } });

    const done = await eventually(
      async () => {
        const w = await api<any>(url, 'GET', `/v1/workflows/${encodeURIComponent(workflowId)}`, { key: created.body.key });
        return ['completed', 'failed'].includes(w.body.status) ? w.body : undefined;
      },
      180_000,
      'the gpu.batch flow to end',
    );
    expect(done.status, JSON.stringify(done)).toBe('completed');
    expect(done.result).toMatchObject({ exitCode: 0, checkpoint: '0,1,2,3,4,5', preemptions: 1 });
  });
});
