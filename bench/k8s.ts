/**
 * `npm run bench -- k8s`: GPU Jobs through tandem on the local Kubernetes (kwok nodes, the real
 * API server, Job controller, quota controller and scheduler), side by side in one run.
 *
 * - `gpu_batch_to_pod_running_p50/p95`: from `client.workflow.start(gpuBatchWorkflow)` to the
 *   Job's Pod Running (workflow task, the jobs activity on a worker in this process, the spec and
 *   quota checks, Job and checkpoint ConfigMap creation, Job controller, scheduler, kwok), against
 *   `kubectl create -f` of the same Job manifest (the one tandem would create, another name) to
 *   its Pod Running; interleaved one by one, 3 warm-up pairs discarded. Pod Running is seen by one
 *   watch in this process for both sides. Each Pod is then finished (exit 0), as its container
 *   would, so the next sample finds the GPUs free.
 * - `quota_peak_gpus` and `max_gpus_held_while_other_waited` (the ResourceQuota path): 100
 *   one-GPU gpu.batch flows, 50 per department, two department namespaces whose ResourceQuotas
 *   (`requests.nvidia.com/gpu: 4` each) fit 8 GPUs at once. All 100 are started at once
 *   (interleaved a, b, a, …); a flow refused for quota (`GpuJobQuotaExceeded`, tandem fails fast)
 *   goes back to its department's backlog and is started again when one of that department's jobs
 *   ends. Each Pod "runs" for a fixed time. Sampled on every Pod event: GPUs held by non-terminal
 *   Pods (what the quota counts), in all and per department while the other department had work
 *   waiting. The per-department share is each namespace's own quota, so the second figure is
 *   bounded by construction; the run measures that the bound holds under contention, including
 *   submissions racing past tandem's quota check.
 * - `kueue_*`: the same load through Kueue, beside the ResourceQuota figures as baselines: each
 *   department a tenant applied with Kueue (services/tenants: a ClusterQueue of nominal 4 GPUs,
 *   both in one cohort, so one may borrow what the other leaves idle and Kueue takes it back by
 *   eviction), a second worker whose runner submits suspended into the LocalQueue. Nothing is
 *   refused; Kueue admits from its own accounting. Evictions (running Pods deleted before their
 *   container exited) are counted.
 *
 * The cluster runs Kueue for the whole run; Kueue leaves Jobs without its queue label alone.
 * `--quick`: 20 latency pairs and 40 flows (else 50 and 100). BENCH_K8S_DEBUG=1 logs the API's and
 * the quota's view whenever the watch sees a department over its share.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode, makeTelemetryFilterString } from '@temporalio/worker';
import { startLocalKubernetes } from '../deploy/dev/kubernetes/cluster.ts';
import { KubernetesJobRunner } from '../services/kubernetes/kubernetes-job-runner.ts';
import { jobManifest, managedSelector } from '../services/kubernetes/job-manifest.ts';
import { createJobActivities } from '../services/worker/activities/jobs.ts';
import { KubernetesTenantCluster } from '../services/tenants/cluster.ts';
import { tenantManifests } from '../services/tenants/manifests.ts';
import { createTenantActivities } from '../services/worker/activities/tenants.ts';
import { repoRoot } from '../shared/config.ts';
import { activityErrorTypes } from '../shared/contracts/activity-errors.ts';
import { gpuBatchInputSchema, type GpuBatchInput } from '../shared/contracts/gpu-batch.ts';
import { tenantSpecSchema } from '../shared/contracts/tenants.ts';
import { SimulatedContainer } from '../test/support/kubernetes-container.ts';
import { gpuBatchWorkflow, jobSuffix } from '../workflows/gpu-batch/workflow.ts';
import { percentile, sleep } from './measure.ts';
import { figure, round, writeReport, type Figure } from './report.ts';

const run = promisify(execFile);
const WARMUP = 3;
const SHARE = 4;
const departments = ['a', 'b'] as const;

const input = (name: string): GpuBatchInput =>
  gpuBatchInputSchema.parse({
    name,
    image: 'registry.local/embedder:1.4',
    command: ['python', 'embed.py'],
    resources: { requests: { 'nvidia.com/gpu': 1, cpu: '1', memory: '2Gi' }, limits: { 'nvidia.com/gpu': 1 } },
    faultTolerant: true,
  });

const gpusOf = (pod: k8s.V1Pod) => Number(pod.spec?.containers[0]?.resources?.requests?.['nvidia.com/gpu'] ?? 0);
const terminal = (pod: k8s.V1Pod) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

export async function k8sBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const pairs = quick ? 20 : 50;
  const flows = quick ? 40 : 100;
  const holdMs = quick ? 300 : 500;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-k8s-'));
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'ERROR' }) } } });
  } catch {
    // Installed by an earlier benchmark of this run.
  }
  // With Kueue running: it leaves Jobs without its queue label alone, so the latency pairs and the
  // ResourceQuota path are as on a cluster without it, and the Kueue path shares the run.
  const cluster = await startLocalKubernetes({ stateDir: path.join(dir, 'kubernetes'), kueue: true, log: (l) => console.log(`[bench k8s] ${l}`) });
  const env = await TestWorkflowEnvironment.createLocal({
    server: { ip: '127.0.0.1', ui: false, executable: { type: 'existing-path', path: path.join(repoRoot, '.venv/bin/temporal') } },
  });
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(cluster.kubeconfigPath);
  const container = new SimulatedContainer(kubeConfig);
  const runner = new KubernetesJobRunner({ kubeConfig, namespaceFor: (d) => `bench-${d}`, kueue: 'off' });
  const taskQueue = `bench-k8s-${randomUUID()}`;
  const { code } = await bundleWorkflowCode({ workflowsPath: path.join(repoRoot, 'workflows/gpu-batch/workflow.ts'), logger: new DefaultLogger('WARN') });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { code },
    // No tenants here: the departments' batches start at once (the off-peak step reads none).
    activities: { ...createJobActivities({ runner, pollIntervalMs: 2000 }), ...createTenantActivities({ tenants: { get: async () => undefined } }) },
    maxConcurrentActivityTaskExecutions: 200,
    maxHeartbeatThrottleInterval: '1 second',
  });
  // A second worker whose runner takes the Kueue path (kueue: auto, the tenants' LocalQueue).
  const kueueRunner = new KubernetesJobRunner({ kubeConfig, namespaceFor: (d) => `bench-kueue-${d}`, kueue: 'auto', localQueueFor: () => 'tandem' });
  const kueueTaskQueue = `${taskQueue}-kueue`;
  const kueueWorker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: kueueTaskQueue,
    workflowBundle: { code },
    activities: { ...createJobActivities({ runner: kueueRunner, pollIntervalMs: 2000 }), ...createTenantActivities({ tenants: { get: async () => undefined } }) },
    maxConcurrentActivityTaskExecutions: 200,
    maxHeartbeatThrottleInterval: '1 second',
  });
  const workerRun = Promise.all([worker.run(), kueueWorker.run()]);

  // One watch over every Pod tandem's manifests make, in every namespace: Running times and GPU use.
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const pods = k8s.makeInformer(kubeConfig, '/api/v1/pods', () => core.listPodForAllNamespaces({ labelSelector: managedSelector }), managedSelector);
  const runningWaiters = new Map<string, (at: number, pod: k8s.V1Pod) => void>();
  const podListeners = new Set<(pod: k8s.V1Pod) => void>();
  const onPod = (pod: k8s.V1Pod) => {
    const job = pod.metadata?.labels?.['tandem.dev/job'];
    if (job && pod.status?.phase === 'Running' && !pod.metadata?.deletionTimestamp) {
      runningWaiters.get(job)?.(performance.now(), pod);
      runningWaiters.delete(job);
    }
    for (const listener of podListeners) listener(pod);
  };
  pods.on('add', onPod);
  pods.on('update', onPod);
  pods.on('delete', onPod);
  pods.on('error', (err) => console.error(`[bench k8s] pod watch error: ${String(err)}`));
  await pods.start();
  const podRunning = (job: string) => new Promise<{ at: number; pod: k8s.V1Pod }>((resolve) => runningWaiters.set(job, (at, pod) => resolve({ at, pod })));

  const figures: Figure[] = [];
  try {
    // --- start → Pod Running, tandem vs kubectl create ------------------------------------------
    await container.createNamespace('bench-latency');
    const viaTandem: number[] = [];
    const viaKubectl: number[] = [];
    for (let i = 0; i < pairs + WARMUP; i += 1) {
      const workflowId = `bench-lat-${i}-${randomUUID()}`;
      const job = `lat-${jobSuffix(workflowId)}`;
      const running = podRunning(job);
      const t0 = performance.now();
      const handle = await env.client.workflow.start(gpuBatchWorkflow, { taskQueue, workflowId, args: [input('lat')], memo: { department: 'latency' } });
      const { at, pod } = await running;
      await container.exit('bench-latency', pod, 0);
      await handle.result();

      const name = `kubectl-${i}`;
      const manifest = jobManifest({ ...input(name), owner: { workflowId: name, department: 'latency' } }, { namespace: 'bench-latency' });
      const file = path.join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(manifest));
      const kubectlRunning = podRunning(name);
      const t1 = performance.now();
      await run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfigPath, 'create', '-f', file]);
      const { at: at1, pod: pod1 } = await kubectlRunning;
      await container.exit('bench-latency', pod1, 0);
      await runner.cancel(`bench-latency/${name}`);
      if (i >= WARMUP) {
        viaTandem.push(at - t0);
        viaKubectl.push(at1 - t1);
      }
    }
    viaTandem.sort((a, b) => a - b);
    viaKubectl.sort((a, b) => a - b);
    for (const p of [50, 95]) {
      figures.push(
        figure({
          metric: `gpu_batch_to_pod_running_p${p}`,
          unit: 'ms',
          value: round(percentile(viaTandem, p)),
          baseline: `kubectl create -f of the same Job to Pod Running, p${p}`,
          baseline_value: round(percentile(viaKubectl, p)),
          note: `${pairs} interleaved pairs after ${WARMUP} warm-up pairs, one GPU Job at a time`,
        }),
      );
    }

    // --- 100 Jobs, two departments, a quota that fits 8 GPUs: ResourceQuota path, then Kueue ------
    for (const d of departments) {
      await container.createNamespace(`bench-${d}`);
      await core.createNamespacedResourceQuota({ namespace: `bench-${d}`, body: { metadata: { name: 'gpu' }, spec: { hard: { 'requests.nvidia.com/gpu': String(SHARE) } } } });
    }
    // The quota controller fills in `used` shortly after; tandem's check reads it.
    for (const d of departments) {
      for (let i = 0; (await core.readNamespacedResourceQuota({ name: 'gpu', namespace: `bench-${d}` })).status?.used === undefined; i += 1) await sleep(100);
    }
    const quota = await contention({ env, container, podListeners, flows, holdMs, taskQueue, namespaceOf: (d) => `bench-${d}` });

    // The same load through Kueue: each department a tenant (ClusterQueue of 4 GPUs, one cohort).
    const tenants = new KubernetesTenantCluster(kubeConfig, { localQueue: 'tandem' });
    const target = await tenants.kueue();
    if (!target) throw new Error('the benchmark cluster serves no Kueue API');
    const tenantSpec = tenantSpecSchema.parse({ quota: { requests: { 'nvidia.com/gpu': SHARE } } });
    for (const d of departments) {
      await tenants.apply(tenantManifests(d, `bench-kueue-${d}`, tenantSpec, target));
      for (; await core.readNamespacedServiceAccount({ name: 'default', namespace: `bench-kueue-${d}` }).then(() => false, () => true); ) await sleep(100);
    }
    const kueue = await contention({ env, container, podListeners, flows, holdMs, taskQueue: kueueTaskQueue, namespaceOf: (d) => `bench-kueue-${d}` });

    const load = `${flows} one-GPU gpu.batch flows, ${flows / 2} per department, all started at once`;
    figures.push(
      figure({
        metric: 'quota_peak_gpus',
        unit: 'GPUs',
        value: quota.peak,
        target: '<= 8',
        note: `ResourceQuota path: ${load}; quota requests.nvidia.com/gpu 4 per department namespace`,
      }),
      figure({
        metric: 'max_gpus_held_while_other_waited',
        unit: 'GPUs',
        value: quota.heldWhileOtherWaited,
        target: `<= ${SHARE}`,
        note: 'ResourceQuota path: most GPUs one department held while the other had work waiting (share = its namespace quota, 4)',
      }),
      figure({
        metric: 'quota_refusals',
        unit: 'flows',
        value: quota.refusals,
        note: 'ResourceQuota path: flows that failed fast with GpuJobQuotaExceeded and were started again by the caller',
      }),
      figure({
        metric: 'quota_makespan',
        unit: 's',
        value: round(quota.makespanMs / 1000, 1),
        baseline: `ideal: ${flows} jobs × ${holdMs} ms / 8 GPUs`,
        baseline_value: round((flows * holdMs) / 8 / 1000, 1),
      }),
      figure({ metric: 'quota_failed_flows', unit: 'flows', value: quota.failures, target: '== 0', note: 'ResourceQuota path: flows that failed other than by a quota refusal' }),
      figure({ metric: 'kueue_failed_flows', unit: 'flows', value: kueue.failures, target: '== 0', note: 'Kueue path: flows that failed' }),
      figure({
        metric: 'kueue_peak_gpus',
        unit: 'GPUs',
        value: kueue.peak,
        baseline: 'ResourceQuota path, same load, same run',
        baseline_value: quota.peak,
        target: '<= 8',
        note: `Kueue path: ${load}; a ClusterQueue of nominal 4 GPUs per department, both in cohort tandem (borrowing, reclaim, fair sharing)`,
      }),
      figure({
        metric: 'kueue_max_gpus_held_while_other_waited',
        unit: 'GPUs',
        value: kueue.heldWhileOtherWaited,
        baseline: 'ResourceQuota path, same load, same run',
        baseline_value: quota.heldWhileOtherWaited,
        target: `<= ${SHARE}`,
        note: 'Kueue path: most GPUs one department held while the other had work waiting (its nominal share, 4)',
      }),
      figure({
        metric: 'kueue_refusals',
        unit: 'flows',
        value: kueue.refusals,
        target: '== 0',
        note: 'Kueue path: flows refused (Kueue queues instead)',
      }),
      figure({
        metric: 'kueue_evictions',
        unit: 'Pods',
        value: kueue.evictions,
        note: 'Kueue path: running Pods deleted before their container exited (Kueue taking back borrowed quota)',
      }),
      figure({
        metric: 'kueue_makespan',
        unit: 's',
        value: round(kueue.makespanMs / 1000, 1),
        baseline: 'ResourceQuota path, same load, same run',
        baseline_value: round(quota.makespanMs / 1000, 1),
        note: `ideal ${round((flows * holdMs) / 8 / 1000, 1)} s`,
      }),
    );
  } finally {
    await pods.stop();
    worker.shutdown();
    kueueWorker.shutdown();
    await workerRun;
    await runner.close();
    await kueueRunner.close();
    await env.teardown();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  writeReport('k8s', figures);
  return figures;
}

interface ContentionRun {
  env: TestWorkflowEnvironment;
  container: SimulatedContainer;
  podListeners: Set<(pod: k8s.V1Pod) => void>;
  flows: number;
  holdMs: number;
  /** The worker whose runner takes this path (ResourceQuota or Kueue). */
  taskQueue: string;
  namespaceOf: (department: string) => string;
}

interface ContentionResult {
  peak: number;
  heldWhileOtherWaited: number;
  refusals: number;
  evictions: number;
  failures: number;
  makespanMs: number;
}

/**
 * `flows` one-GPU gpu.batch flows, half per department, all started at once; a flow refused for
 * quota (the ResourceQuota path fails fast) is started again when one of its department's jobs
 * ends. Sampled on every Pod event of the two namespaces: GPUs held by non-terminal Pods, in all
 * and per department while the other had work waiting. Each Pod "runs" holdMs, then exits 0.
 */
async function contention(run: ContentionRun): Promise<ContentionResult> {
  const { env, container, podListeners, flows, holdMs, taskQueue, namespaceOf } = run;
  const departmentOf = new Map(departments.map((d) => [namespaceOf(d), d]));
  const live = new Map<string, { department: string; gpus: number }>();
  const backlog: Record<string, number> = { a: flows / 2, b: flows / 2 };
  let peak = 0;
  let heldWhileOtherWaited = 0;
  let refusals = 0;
  let evictions = 0;
  const failures: string[] = [];
  const sample = () => {
    const held: Record<string, number> = { a: 0, b: 0 };
    const holding: Record<string, number> = { a: 0, b: 0 };
    for (const { department, gpus } of live.values()) {
      held[department]! += gpus;
      holding[department]! += 1;
    }
    peak = Math.max(peak, held.a! + held.b!);
    // BENCH_K8S_DEBUG=1: when the watch sees a department over its share, what the API and the quota say.
    if (process.env.BENCH_K8S_DEBUG && (held.a! > SHARE || held.b! > SHARE)) {
      const over = held.a! > SHARE ? 'a' : 'b';
      const names = [...live.entries()].filter(([, v]) => v.department === over).map(([n]) => n);
      void container.core.listNamespacedPod({ namespace: namespaceOf(over) }).then((list) => {
        const nonTerminal = list.items.filter((p) => !terminal(p));
        console.log(`[bench k8s] debug: watch sees ${held[over]} GPUs in ${over} (${names.join(' ')}); API now: ${nonTerminal.map((p) => `${p.metadata!.name}:${p.status?.phase}:${p.metadata?.creationTimestamp?.toISOString()}`).join(' ')}`);
        void container.core.listNamespacedResourceQuota({ namespace: namespaceOf(over) }).then((q) => console.log(`[bench k8s] debug: quota used ${JSON.stringify(q.items.map((i) => i.status?.used))}`));
      });
    }
    // Waiting: work of the department not finished and not holding a GPU.
    if (backlog.b! - holding.b! > 0) heldWhileOtherWaited = Math.max(heldWhileOtherWaited, held.a!);
    if (backlog.a! - holding.a! > 0) heldWhileOtherWaited = Math.max(heldWhileOtherWaited, held.b!);
  };
  const finishing = new Set<string>();
  const exited = new Set<string>();
  const evicted = new Set<string>();
  const listener = (pod: k8s.V1Pod) => {
    const name = pod.metadata!.name!;
    const department = departmentOf.get(pod.metadata?.namespace ?? '');
    if (!department) return;
    if (terminal(pod) || pod.metadata?.deletionTimestamp) live.delete(name);
    else live.set(name, { department, gpus: gpusOf(pod) });
    if (pod.metadata?.deletionTimestamp && finishing.has(name) && !exited.has(name) && !terminal(pod) && !evicted.has(name)) {
      evicted.add(name);
      evictions += 1;
    }
    sample();
    // The container: runs for holdMs, then exits 0 (unless its Pod was deleted meanwhile).
    if (pod.status?.phase === 'Running' && !pod.metadata?.deletionTimestamp && !finishing.has(name)) {
      finishing.add(name);
      setTimeout(() => {
        if (evicted.has(name)) return;
        exited.add(name);
        void container.exit(pod.metadata!.namespace!, pod, 0).catch(() => undefined);
      }, holdMs);
    }
  };
  podListeners.add(listener);
  const ended: Record<string, (() => void)[]> = { a: [], b: [] };
  const nextEnd = (d: string) => new Promise<void>((resolve) => ended[d]!.push(resolve));
  const t0 = performance.now();
  const flowOf = async (d: string, n: number): Promise<void> => {
    for (;;) {
      const handle = await env.client.workflow.start(gpuBatchWorkflow, {
        taskQueue,
        workflowId: `bench-q-${d}-${n}-${randomUUID()}`,
        args: [input(`q${d}`)],
        memo: { department: d },
      });
      try {
        await handle.result();
        backlog[d]! -= 1;
        sample();
        for (const wake of ended[d]!.splice(0)) wake();
        return;
      } catch (err) {
        const cause = err instanceof WorkflowFailedError ? err.cause?.cause : undefined;
        if (!(cause instanceof ApplicationFailure) || cause.type !== activityErrorTypes.gpuJob.quotaExceeded) {
          // Counted and reported (target 0) rather than thrown: the other flows still run to their end.
          failures.push(`${d}-${n}: ${String(cause ?? err)}`);
          backlog[d]! -= 1;
          return;
        }
        refusals += 1;
        // Refused with the numbers: start it again once the department has room.
        await Promise.race([nextEnd(d), sleep(2000)]);
      }
    }
  };
  // Interleaved a, b, a, b…: neither department gets a head start at submission.
  await Promise.all(Array.from({ length: flows / 2 }, (_, n) => departments.map((d) => flowOf(d, n))).flat());
  const makespanMs = performance.now() - t0;
  podListeners.delete(listener);
  for (const failure of failures.slice(0, 5)) console.error(`[bench k8s] flow failed: ${failure}`);
  return { peak, heldWhileOtherWaited, refusals, evictions, failures: failures.length, makespanMs };
}
