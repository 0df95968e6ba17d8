// The Kubernetes job runner against the local cluster (real API server, Job controller, quota
// controller, scheduler, garbage collector; kwok nodes): placement, quota, preemption and resume,
// application failure, cancel, adoption. The tests play the container (test/support/kubernetes-container.ts).
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { JobRefusedError, type JobSpec } from '../../shared/contracts/job-runner.ts';
import { SimulatedContainer, until } from '../../test/support/kubernetes-container.ts';
import '../../test/support/stack-info.ts';
import { KubernetesJobRunner } from './kubernetes-job-runner.ts';

const cluster = inject('kubernetes');
const kubeConfig = new k8s.KubeConfig();
kubeConfig.loadFromFile(cluster.kubeconfigPath);
const container = new SimulatedContainer(kubeConfig);
const prefix = `runner-${process.pid}-`;
const namespaceFor = (department: string) => `${prefix}${department}`;
const runner = new KubernetesJobRunner({ kubeConfig, namespaceFor, kueue: 'off', cancelTimeoutMs: 30_000 });

const spec = (name: string, extra: Partial<JobSpec> = {}): JobSpec => ({
  name,
  image: 'registry.local/embedder:1.4',
  command: ['python', 'embed.py'],
  resources: { requests: { 'nvidia.com/gpu': 1, cpu: '2' }, limits: { 'nvidia.com/gpu': 1, memory: '4Gi' } },
  faultTolerant: true,
  spot: false,
  owner: { workflowId: `wf-${name}`, department: 'alpha', pipeline: 'kb-refresh', partition: 'notes' },
  ...extra,
});

beforeAll(async () => {
  await Promise.all(['alpha', 'quota'].map((d) => container.createNamespace(namespaceFor(d))));
}, 60_000);

afterAll(async () => {
  await runner.close();
  await Promise.all(['alpha', 'quota'].map((d) => container.deleteNamespace(namespaceFor(d))));
});

describe('KubernetesJobRunner on the local cluster', () => {
  it('creates the Job with requests = limits and puts spot work on spot nodes, other work never there', async () => {
    const ns = namespaceFor('alpha');
    const spotId = await runner.submit(spec('place-spot', { spot: true }));
    const onDemandId = await runner.submit(spec('place-on-demand'));
    expect(spotId).toBe(`${ns}/place-spot`);
    const spotPod = await container.runningPod(ns, 'place-spot');
    const onDemandPod = await container.runningPod(ns, 'place-on-demand');
    expect(spotPod.spec!.nodeName).toMatch(/^spot-\d$/);
    expect(onDemandPod.spec!.nodeName).toMatch(/^gpu-\d$/);
    const resources = onDemandPod.spec!.containers[0]!.resources!;
    expect(resources.requests).toEqual({ 'nvidia.com/gpu': '1', cpu: '2', memory: '4Gi' });
    expect(resources.limits).toEqual(resources.requests);
    expect(onDemandPod.status!.qosClass).toBe('Guaranteed');
    expect(onDemandPod.metadata!.labels).toMatchObject({ 'tandem.dev/workflow': 'wf-place-on-demand', 'tandem.dev/department': 'alpha', 'tandem.dev/pipeline': 'kb-refresh' });
    expect(await runner.status(onDemandId)).toMatchObject({ state: 'running', message: expect.stringMatching(/^Pod place-on-demand-\w+ running on gpu-\d$/) });
    await Promise.all([runner.cancel(spotId), runner.cancel(onDemandId)]);
  });

  it('refuses a spec with the field path before anything reaches the cluster', async () => {
    const err = await runner.submit(spec('bad-spec', { image: 'Not An Image', resources: { requests: { 'nvidia.com/gpu': 1 }, limits: {} } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobRefusedError);
    expect((err as JobRefusedError).issues.map((i) => i.path)).toEqual(['image', 'resources.limits.nvidia.com/gpu']);
    await expect(container.batch.readNamespacedJob({ name: 'bad-spec', namespace: namespaceFor('alpha') })).rejects.toMatchObject({ code: 404 });
  });

  it('fails fast with the numbers when the quota has no room, and surfaces the Job controller’s quota refusals', async () => {
    const ns = namespaceFor('quota');
    await container.core.createNamespacedResourceQuota({ namespace: ns, body: { metadata: { name: 'gpu' }, spec: { hard: { 'requests.nvidia.com/gpu': '2' } } } });
    const used = (n: string) => async () => {
      const q = await container.core.readNamespacedResourceQuota({ name: 'gpu', namespace: ns });
      return q.status?.used?.['requests.nvidia.com/gpu'] === n ? q : undefined;
    };
    await until('the quota controller to count the quota', used('0'));
    const owner = { workflowId: 'wf-q', department: 'quota' };
    const first = await runner.submit(spec('quota-first', { owner }));
    await container.runningPod(ns, 'quota-first');
    await until('the quota to count the first Job', used('1'));
    const err = await runner.submit(spec('quota-second', { owner, resources: { requests: { 'nvidia.com/gpu': 2 }, limits: { 'nvidia.com/gpu': 2 } } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobRefusedError);
    expect((err as JobRefusedError).kind).toBe('quota-exceeded');
    expect((err as Error).message).toBe(`job quota-second does not fit the quota: requests.nvidia.com/gpu: requested 2, used 1, limit 2 in namespace ${ns}`);
    await expect(container.batch.readNamespacedJob({ name: 'quota-second', namespace: ns })).rejects.toMatchObject({ code: 404 });

    // Two submissions racing past the check: the one whose Pod the quota refuses is reported, not left hanging.
    const racing = await Promise.all(['quota-race-a', 'quota-race-b'].map((name) => runner.submit(spec(name, { owner }))));
    const refused = await until('one racing Job to be refused by the quota', async () => {
      const states = await Promise.all(racing.map((id) => runner.status(id)));
      return states.find((s) => s.refusal === 'quota-exceeded');
    });
    expect(refused).toMatchObject({ state: 'failed', message: expect.stringMatching(/exceeded quota: gpu, requested: requests\.nvidia\.com\/gpu=1, used: requests\.nvidia\.com\/gpu=2, limited: requests\.nvidia\.com\/gpu=2/) });
    await Promise.all([first, ...racing].map((id) => runner.cancel(id)));
  }, 60_000);

  it('a disrupted Pod is replaced by the Job controller and resumes from the checkpoint; completed chunks are not redone', async () => {
    const ns = namespaceFor('alpha');
    const id = await runner.submit(spec('resume', { spot: true }));
    const chunks = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const processed: string[] = [];
    // First Pod: nothing to resume from; completes three chunks, checkpointing after each, then is preempted.
    const first = await container.runningPod(ns, 'resume');
    expect(await container.readCheckpoint(ns, 'resume')).toBeNull();
    for (const chunk of chunks.slice(0, 3)) {
      processed.push(chunk);
      await container.writeCheckpoint(ns, 'resume', JSON.stringify({ completed: [...processed] }));
    }
    await until('the runner to see the checkpoint', async () => ((await runner.status(id)).checkpoint?.includes('c3') ? true : undefined));
    await container.disrupt(ns, first, 'PreemptionByScheduler');

    // The replacement Pod reads the checkpoint and does only what is left.
    const second = await container.runningPod(ns, 'resume', [first.metadata!.name!]);
    expect(second.spec!.nodeName).toMatch(/^spot-\d$/);
    const done = JSON.parse((await container.readCheckpoint(ns, 'resume'))!) as { completed: string[] };
    for (const chunk of chunks.filter((c) => !done.completed.includes(c))) {
      processed.push(chunk);
      await container.writeCheckpoint(ns, 'resume', JSON.stringify({ completed: [...processed] }));
    }
    await container.exit(ns, second, 0);
    const status = await until('the Job to succeed', async () => {
      const s = await runner.status(id);
      return s.state === 'succeeded' ? s : undefined;
    });
    expect(processed).toEqual(chunks);
    expect(status).toMatchObject({ disruptions: 1, checkpoint: JSON.stringify({ completed: chunks }) });
    const job = await container.batch.readNamespacedJob({ name: 'resume', namespace: ns });
    // Not a failure of the Job: the podFailurePolicy ignored the disruption.
    expect(job.status!.conditions!.some((c) => c.type === 'Failed' && c.status === 'True')).toBe(false);
    await runner.cancel(id);
  }, 60_000);

  it('work that is not fault-tolerant fails on a disruption (preempted); resubmitting replaces the Job and carries its checkpoint over', async () => {
    const ns = namespaceFor('alpha');
    const id = await runner.submit(spec('strict', { faultTolerant: false }));
    const first = await container.runningPod(ns, 'strict');
    const oldUid = (await container.batch.readNamespacedJob({ name: 'strict', namespace: ns })).metadata!.uid;
    await container.writeCheckpoint(ns, 'strict', 'step 4');
    await container.disrupt(ns, first, 'TerminationByKubelet');
    const preempted = await until('the Job to fail on the disruption', async () => {
      const s = await runner.status(id);
      return s.state === 'preempted' ? s : undefined;
    });
    expect(preempted).toMatchObject({ checkpoint: 'step 4', message: expect.stringMatching(/was stopped from outside \(TerminationByKubelet\)$/) });
    // No replacement Pod: the Job failed instead of resuming.
    expect(await container.pods(ns, 'strict')).toHaveLength(1);

    expect(await runner.submit(spec('strict', { faultTolerant: false }))).toBe(id);
    const job = await container.batch.readNamespacedJob({ name: 'strict', namespace: ns });
    expect(job.metadata!.uid).not.toBe(oldUid);
    await container.runningPod(ns, 'strict', [first.metadata!.name!]);
    expect(await container.readCheckpoint(ns, 'strict')).toBe('step 4');
    await runner.cancel(id);
  }, 60_000);

  it('an application failure fails the Job at once with the container’s last log lines', async () => {
    const ns = namespaceFor('alpha');
    const id = await runner.submit(spec('app-failure'));
    const pod = await container.runningPod(ns, 'app-failure');
    await container.exit(ns, pod, 3, 'loading shard 4\nRuntimeError: CUDA out of memory');
    const status = await until('the Job to fail', async () => {
      const s = await runner.status(id);
      return s.state === 'failed' ? s : undefined;
    });
    expect(status).toMatchObject({ exitCode: 3, message: 'exited with code 3: loading shard 4\nRuntimeError: CUDA out of memory' });
    // FailJob on the exit code: no second Pod despite backoffLimit 3.
    expect(await container.pods(ns, 'app-failure')).toHaveLength(1);
    await runner.cancel(id);
  });

  it('cancel deletes the Job in the foreground and returns once no Pod (and no checkpoint) is left', async () => {
    const ns = namespaceFor('alpha');
    const id = await runner.submit(spec('cancel-me'));
    await container.runningPod(ns, 'cancel-me');
    await runner.cancel(id);
    expect(await container.pods(ns, 'cancel-me')).toEqual([]);
    await expect(container.batch.readNamespacedJob({ name: 'cancel-me', namespace: ns })).rejects.toMatchObject({ code: 404 });
    await until('the garbage collector to delete the checkpoint', async () => ((await container.readCheckpoint(ns, 'cancel-me')) === null ? true : undefined));
    expect((await runner.status(id)).state).toBe('unknown');
    await runner.cancel(id); // idempotent
  });

  it('a retried activity (a new runner: a restarted worker) adopts the existing Job instead of creating a second', async () => {
    const ns = namespaceFor('alpha');
    const id = await runner.submit(spec('adopt'));
    const pod = await container.runningPod(ns, 'adopt');
    const uid = (await container.batch.readNamespacedJob({ name: 'adopt', namespace: ns })).metadata!.uid;
    const restarted = new KubernetesJobRunner({ kubeConfig, namespaceFor, kueue: 'off' });
    try {
      expect(await restarted.submit(spec('adopt'))).toBe(id);
      expect((await container.batch.readNamespacedJob({ name: 'adopt', namespace: ns })).metadata!.uid).toBe(uid);
      expect((await container.pods(ns, 'adopt')).map((p) => p.metadata!.name)).toEqual([pod.metadata!.name]);
    } finally {
      await restarted.close();
    }
    await runner.cancel(id);
  });

  it('wakes a waiter on a watch event, not at its timeout', async () => {
    const ns = namespaceFor('alpha');
    const id = await runner.submit(spec('watched'));
    const pod = await container.runningPod(ns, 'watched');
    await runner.changed(id, 1); // the namespace's watches are up
    const t0 = performance.now();
    const woken = runner.changed(id, 20_000);
    await container.writeCheckpoint(ns, 'watched', '1');
    await woken;
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect((await runner.status(id)).checkpoint).toBe('1');
    await container.exit(ns, pod, 0);
    await runner.cancel(id);
  });
});
