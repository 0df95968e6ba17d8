// gpu.batch end to end with the Kubernetes runner: the real workflow and jobs activity on a
// Temporal dev server, Jobs on the local cluster (the test plays the container). A preempted Pod
// resumes from its checkpoint and the result counts it; an application failure fails the flow
// with the container's last log lines; a quota with no room fails it with the numbers; a
// cancelled flow leaves no Pod.
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createJobActivities } from '../../services/worker/activities/jobs.ts';
import { createTenantActivities } from '../../services/worker/activities/tenants.ts';
import { KubernetesJobRunner } from '../../services/kubernetes/kubernetes-job-runner.ts';
import { activityErrorTypes } from '../../shared/contracts/activity-errors.ts';
import { gpuBatchInputSchema, type GpuBatchInput } from '../../shared/contracts/gpu-batch.ts';
import { SimulatedContainer, until } from '../../test/support/kubernetes-container.ts';
import '../../test/support/stack-info.ts';
import { createLocalEnv } from '../../test/support/temporal-test-env.ts';
import { gpuBatchWorkflow, jobSuffix } from './workflow.ts';

const cluster = inject('kubernetes');
const kubeConfig = new k8s.KubeConfig();
kubeConfig.loadFromFile(cluster.kubeconfigPath);
const container = new SimulatedContainer(kubeConfig);
const namespace = `gpu-batch-${process.pid}`;
const runner = new KubernetesJobRunner({ kubeConfig, namespaceFor: () => namespace, kueue: 'off', cancelTimeoutMs: 30_000 });

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `gpu-k8s-${randomUUID()}`;

beforeAll(async () => {
  await container.createNamespace(namespace);
  const [{ code }, testEnv] = await Promise.all([
    bundleWorkflowCode({ workflowsPath: path.join(import.meta.dirname, 'workflow.ts'), logger: new DefaultLogger('WARN') }),
    createLocalEnv(),
  ]);
  env = testEnv;
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { code },
    // The poll interval is only the heartbeat cadence here: the runner's watch wakes the activity.
    // No tenant for the department: its batches start at once (the off-peak step reads none).
    activities: { ...createJobActivities({ runner, pollIntervalMs: 1000 }), ...createTenantActivities({ tenants: { get: async () => undefined } }) },
    maxHeartbeatThrottleInterval: '100 milliseconds',
  });
  running = worker.run();
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await runner.close();
  await container.deleteNamespace(namespace);
});

function batchInput(extra: Partial<GpuBatchInput> = {}): GpuBatchInput {
  return gpuBatchInputSchema.parse({
    name: 'embed',
    image: 'registry.local/embedder:1.4',
    command: ['python', 'embed.py'],
    resources: { requests: { 'nvidia.com/gpu': 1, cpu: '2', memory: '8Gi' }, limits: { 'nvidia.com/gpu': 1 } },
    faultTolerant: true,
    spot: true,
    ...extra,
  });
}

async function start(input: GpuBatchInput) {
  const workflowId = `gpu-${randomUUID()}`;
  const handle = await env.client.workflow.start(gpuBatchWorkflow, { taskQueue, workflowId, args: [input], memo: { department: 'radiology' } });
  return { handle, job: `${input.name}-${jobSuffix(workflowId)}`, workflowId };
}

async function failureOf(handle: { result(): Promise<unknown> }): Promise<ApplicationFailure> {
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause?.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

describe('gpu.batch with the Kubernetes runner', () => {
  it('runs the Job on a spot node, resumes a preempted Pod from its checkpoint, and counts the preemption', async () => {
    const { handle, job, workflowId } = await start(batchInput());
    const first = await container.runningPod(namespace, job);
    expect(first.spec!.nodeName).toMatch(/^spot-\d$/);
    expect(first.metadata!.labels).toMatchObject({ 'tandem.dev/workflow': workflowId, 'tandem.dev/department': 'radiology' });
    await container.writeCheckpoint(namespace, job, 'shard-1,shard-2');
    await container.disrupt(namespace, first, 'TerminationByKubelet');
    const second = await container.runningPod(namespace, job, [first.metadata!.name!]);
    // The replacement starts from what the first Pod completed.
    expect(await container.readCheckpoint(namespace, job)).toBe('shard-1,shard-2');
    await container.writeCheckpoint(namespace, job, 'shard-1,shard-2,shard-3');
    await container.exit(namespace, second, 0);
    await expect(handle.result()).resolves.toEqual({ jobId: `${namespace}/${job}`, exitCode: 0, checkpoint: 'shard-1,shard-2,shard-3', preemptions: 1, submissions: 1 });
  }, 90_000);

  it('fails the flow, not retried, with the container’s last log lines on an application failure', async () => {
    const { handle, job } = await start(batchInput({ spot: false }));
    const pod = await container.runningPod(namespace, job);
    expect(pod.spec!.nodeName).toMatch(/^gpu-\d$/);
    await container.exit(namespace, pod, 2, 'epoch 3/10\nValueError: shard 7 has 0 rows');
    const failure = await failureOf(handle);
    expect(failure.type).toBe(activityErrorTypes.gpuJob.failed);
    expect(failure.message).toBe(`job ${namespace}/${job} failed: exited with code 2: epoch 3/10\nValueError: shard 7 has 0 rows`);
  }, 60_000);

  it('fails the flow with the quota numbers when the namespace has no room', async () => {
    await container.core.createNamespacedResourceQuota({ namespace, body: { metadata: { name: 'gpu' }, spec: { hard: { 'requests.nvidia.com/gpu': '2' } } } });
    try {
      await until('the quota controller to count the quota', async () =>
        (await container.core.readNamespacedResourceQuota({ name: 'gpu', namespace })).status?.used ? true : undefined,
      );
      const { handle, job } = await start(batchInput({ resources: { requests: { 'nvidia.com/gpu': 4 }, limits: { 'nvidia.com/gpu': 4 } } }));
      const failure = await failureOf(handle);
      expect(failure.type).toBe(activityErrorTypes.gpuJob.quotaExceeded);
      expect(failure.message).toMatch(new RegExp(`^job ${job} does not fit the quota: requests\\.nvidia\\.com/gpu: requested 4, used \\d, limit 2 in namespace ${namespace}$`));
      expect(failure.nonRetryable).toBe(true);
    } finally {
      await container.core.deleteNamespacedResourceQuota({ name: 'gpu', namespace });
    }
  }, 60_000);

  it('cancelling the flow deletes the Job and leaves no Pod', async () => {
    const { handle, job } = await start(batchInput());
    await container.runningPod(namespace, job);
    await handle.cancel();
    const err = await handle.result().catch((e: unknown) => e);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    // WAIT_CANCELLATION_COMPLETED: by the time the flow is cancelled, the Job and its Pods are gone.
    expect(await container.pods(namespace, job)).toEqual([]);
    await expect(container.batch.readNamespacedJob({ name: job, namespace })).rejects.toMatchObject({ code: 404 });
  }, 60_000);
});
