/**
 * Kueue runs on the local cluster (a cluster of this file's own, since Kueue changes what
 * happens to every queued Job): a GPU Job created suspended with its department's LocalQueue
 * label is admitted by Kueue and starts; one that does not fit the ClusterQueue's remaining
 * quota stays suspended, its Workload pending with Kueue's reason, until the first finishes.
 *
 * Then tandem's own Kueue path on the same cluster: tenants applied with their flavors,
 * ClusterQueues (one cohort) and LocalQueues (services/tenants), and the job runner
 * (`kueue: 'auto'`) submitting into them — queued rather than refused over quota, Kueue's reason
 * in the status, borrowing of an idle department's quota and its reclaim, cancel of a held Job.
 * The tests play the containers (test/support/kubernetes-container.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSpec, JobStatus } from '../../../shared/contracts/job-runner.ts';
import { tenantSpecSchema } from '../../../shared/contracts/tenants.ts';
import { SimulatedContainer, until } from '../../../test/support/kubernetes-container.ts';
import { defaultSpotPlacement } from '../../../services/kubernetes/job-manifest.ts';
import { KubernetesJobRunner } from '../../../services/kubernetes/kubernetes-job-runner.ts';
import { workloadJobUidLabel } from '../../../services/kubernetes/kueue.ts';
import { KubernetesTenantCluster } from '../../../services/tenants/cluster.ts';
import { tenantDrift } from '../../../services/tenants/drift.ts';
import { tenantManifests, type TenantManifests } from '../../../services/tenants/manifests.ts';
import { startLocalKubernetes, type LocalKubernetes } from './cluster.ts';

let cluster: LocalKubernetes;
let stateDir: string;
let core: k8s.CoreV1Api;
let batch: k8s.BatchV1Api;
let objects: k8s.KubernetesObjectApi;
let kubeConfig: k8s.KubeConfig;
const namespace = 'kueue-dept';


function queuedJob(name: string, gpus: number): k8s.V1Job {
  const resources = { cpu: '1', memory: '1Gi', 'nvidia.com/gpu': String(gpus) };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace, labels: { 'kueue.x-k8s.io/queue-name': 'gpu' } },
    spec: {
      suspend: true,
      backoffLimit: 0,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'registry.local/embedder:1.0', resources: { requests: resources, limits: resources } }] } },
    },
  };
}

const kueueObject = (kind: string, name: string, spec: object, ns?: string) =>
  ({ apiVersion: 'kueue.x-k8s.io/v1beta2', kind, metadata: { name, ...(ns ? { namespace: ns } : {}) }, spec }) as k8s.KubernetesObject;

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-kueue-'));
  cluster = await startLocalKubernetes({ stateDir, kueue: true, log: (line) => console.log(`[kueue] ${line}`) });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  kubeConfig = kc;
  core = kc.makeApiClient(k8s.CoreV1Api);
  batch = kc.makeApiClient(k8s.BatchV1Api);
  objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await until('the default service account', () => core.readNamespacedServiceAccount({ name: 'default', namespace }).then(() => true, () => undefined));
  await objects.create(kueueObject('ResourceFlavor', 'on-demand', {}));
  await objects.create(
    kueueObject('ClusterQueue', 'gpu', {
      namespaceSelector: {},
      resourceGroups: [
        {
          coveredResources: ['cpu', 'memory', 'nvidia.com/gpu'],
          flavors: [{ name: 'on-demand', resources: [{ name: 'cpu', nominalQuota: '64' }, { name: 'memory', nominalQuota: '256Gi' }, { name: 'nvidia.com/gpu', nominalQuota: '3' }] }],
        },
      ],
    }),
  );
  await objects.create(kueueObject('LocalQueue', 'gpu', { clusterQueue: 'gpu' }, namespace));
}, 180_000);

afterAll(async () => {
  await runner?.close();
  await cluster?.stop();
  if (stateDir && !process.env.TANDEM_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
});

describe('Kueue on the local cluster', () => {
  it('admits a suspended GPU Job within quota and holds one that does not fit until quota frees up', async () => {
    await batch.createNamespacedJob({ namespace, body: queuedJob('first', 2) });
    const first = await until('Kueue to admit the first Job', async () => {
      const job = await batch.readNamespacedJob({ name: 'first', namespace });
      return job.spec?.suspend === false ? job : undefined;
    });
    expect(first.spec?.suspend).toBe(false);
    const pod = await until('its Pod to run', async () => (await core.listNamespacedPod({ namespace, labelSelector: 'job-name=first' })).items.find((p) => p.status?.phase === 'Running'));

    // 2 of 3 GPUs are taken: a 2-GPU Job waits, suspended, with Kueue saying why.
    await batch.createNamespacedJob({ namespace, body: queuedJob('second', 2) });
    const pending = await until('the second Workload to be evaluated', async () => {
      const list = (await objects.list('kueue.x-k8s.io/v1beta2', 'Workload', namespace)) as unknown as { items: { metadata: { ownerReferences?: { name: string }[] }; status?: { conditions?: { type: string; status: string; message?: string }[] } }[] };
      const wl = list.items.find((w) => w.metadata.ownerReferences?.some((o) => o.name === 'second'));
      const cond = wl?.status?.conditions?.find((c) => c.type === 'QuotaReserved');
      return cond?.status === 'False' ? cond : undefined;
    });
    console.log(`[kueue] second Workload: ${pending.message}`);
    expect(pending.message).toMatch(/insufficient (unused )?quota for nvidia\.com\/gpu/i);
    expect((await batch.readNamespacedJob({ name: 'second', namespace })).spec?.suspend).toBe(true);

    // The first Job's container exits 0; its quota is released and the second is admitted.
    await core.patchNamespacedPodStatus(
      {
        name: pod.metadata!.name!,
        namespace,
        body: { status: { phase: 'Succeeded', containerStatuses: [{ name: 'main', image: 'registry.local/embedder:1.0', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await until('Kueue to admit the second Job', async () => ((await batch.readNamespacedJob({ name: 'second', namespace })).spec?.suspend === false ? true : undefined), 45_000);
    // Its GPUs back for the tests below (the scheduler, not Kueue, counts them on the nodes).
    await batch.deleteNamespacedJob({ name: 'second', namespace, propagationPolicy: 'Foreground' });
  });
});

// --- tandem's Kueue path ----------------------------------------------------------------------
let tenants: KubernetesTenantCluster;
let runner: KubernetesJobRunner;
let container: SimulatedContainer;
const applied: Record<string, TenantManifests> = {};
const nsOf = (department: string) => `tandem-${department}`;
/** Two departments of 2 GPUs each in one cohort; `kq-a` may use spot (2 more GPUs there). */
const tenantSpecs = {
  'kq-a': tenantSpecSchema.parse({ quota: { requests: { cpu: '32', memory: '128Gi', 'nvidia.com/gpu': 2 }, pods: 20 }, spotAllowed: true }),
  'kq-b': tenantSpecSchema.parse({ quota: { requests: { cpu: '32', memory: '128Gi', 'nvidia.com/gpu': 2 }, pods: 20 } }),
};

const jobSpec = (name: string, department: string, gpus: number, extra: Partial<JobSpec> = {}): JobSpec => ({
  name,
  image: 'registry.local/embedder:1.4',
  command: ['python', 'embed.py'],
  resources: { requests: { 'nvidia.com/gpu': gpus, cpu: '1' }, limits: { 'nvidia.com/gpu': gpus, memory: '2Gi' } },
  faultTolerant: true,
  spot: false,
  owner: { workflowId: `wf-${name}`, department, namespace: nsOf(department) },
  ...extra,
});

async function statusUntil(jobId: string, what: string, test: (s: JobStatus) => boolean, timeoutMs = 30_000): Promise<JobStatus> {
  let last: JobStatus | undefined;
  try {
    return await until(`${jobId} ${what}`, async () => {
      last = await runner.status(jobId);
      return test(last) ? last : undefined;
    }, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status ${JSON.stringify(last)}`, { cause: err });
  }
}

/** The Job as it was created: the first event of a watch started before the submit. */
async function asCreated(namespace: string, name: string, submit: () => Promise<string>): Promise<{ id: string; created: k8s.V1Job }> {
  let resolve!: (job: k8s.V1Job) => void;
  const first = new Promise<k8s.V1Job>((r) => (resolve = r));
  const watch = await new k8s.Watch(kubeConfig).watch(`/apis/batch/v1/namespaces/${namespace}/jobs`, { fieldSelector: `metadata.name=${name}` }, (type, job: k8s.V1Job) => {
    if (type === 'ADDED') resolve(job);
  }, () => undefined);
  try {
    const id = await submit();
    return { id, created: await first };
  } finally {
    watch.abort();
  }
}

interface Workload {
  metadata: { name: string };
  spec: { queueName?: string };
  status?: { admission?: { podSetAssignments?: { flavors?: Record<string, string> }[] }; conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[] };
}
async function workloadsOf(jobId: string): Promise<Workload[]> {
  const [ns, name] = jobId.split('/') as [string, string];
  const job = await batch.readNamespacedJob({ name, namespace: ns }).catch(() => undefined);
  const selector = job ? `${workloadJobUidLabel}=${job.metadata!.uid}` : undefined;
  const list = (await objects.list('kueue.x-k8s.io/v1beta2', 'Workload', ns, undefined, undefined, undefined, undefined, selector)) as unknown as { items: Workload[] };
  return job ? list.items : list.items.filter((w) => w.metadata.name.startsWith(`job-${name}-`));
}

/** The Job's container runs and exits 0; resolves once the runner reports it succeeded. */
async function finish(jobId: string): Promise<void> {
  const [ns, name] = jobId.split('/') as [string, string];
  await container.exit(ns, await container.runningPod(ns, name), 0);
  await statusUntil(jobId, 'to succeed', (s) => s.state === 'succeeded');
}

describe('tandem on Kueue: tenants and the job runner', () => {
  beforeAll(async () => {
    tenants = new KubernetesTenantCluster(kubeConfig, { localQueue: 'tandem' });
    runner = new KubernetesJobRunner({ kubeConfig, kueue: 'auto', localQueueFor: () => 'tandem', cancelTimeoutMs: 30_000 });
    container = new SimulatedContainer(kubeConfig);
    const target = await tenants.kueue();
    for (const [department, spec] of Object.entries(tenantSpecs)) {
      applied[department] = tenantManifests(department, nsOf(department), spec, target);
      await tenants.apply(applied[department]);
      await until(`the default service account of ${nsOf(department)}`, () => core.readNamespacedServiceAccount({ name: 'default', namespace: nsOf(department) }).then(() => true, () => undefined));
    }
  }, 60_000);

  it('applies each tenant’s flavors, ClusterQueue and LocalQueue by server-side apply; Kueue activates them; a hand edit is drift until re-applied', async () => {
    expect(await tenants.kueue()).toEqual({ localQueue: 'tandem', spot: defaultSpotPlacement });
    const cqRef = { apiVersion: 'kueue.x-k8s.io/v1beta2', kind: 'ClusterQueue', metadata: { name: nsOf('kq-a') } };
    type Queue = k8s.KubernetesObject & { status?: { conditions?: { type: string; status: string }[] } };
    const active = (o: Queue) => o.status?.conditions?.some((c) => c.type === 'Active' && c.status === 'True');
    const cq = await until('ClusterQueue tandem-kq-a to be active', async () => {
      const o = (await objects.read(cqRef as never)) as Queue;
      return active(o) ? o : undefined;
    });
    expect(cq.metadata?.managedFields?.find((m) => m.manager === 'tandem')?.operation).toBe('Apply');
    await until('LocalQueue tandem to be active', async () =>
      active((await objects.read({ apiVersion: 'kueue.x-k8s.io/v1beta2', kind: 'LocalQueue', metadata: { name: 'tandem', namespace: nsOf('kq-a') } } as never)) as Queue) ? true : undefined,
    );
    // The ResourceQuota keeps only pods: cpu, memory and GPUs are Kueue's.
    expect((await core.readNamespacedResourceQuota({ name: 'tandem', namespace: nsOf('kq-a') })).spec?.hard).toEqual({ pods: '20' });
    expect(tenantDrift(applied['kq-a']!, await tenants.live(nsOf('kq-a')))).toEqual([]);

    // Applying the same objects again changes no spec.
    await tenants.apply(applied['kq-a']!);
    expect((await objects.read(cqRef as never)).metadata?.generation).toBe(cq.metadata?.generation);

    // Someone raises the department's GPU quota by hand.
    await objects.patch(
      { ...cqRef, spec: { resourceGroups: [{ coveredResources: ['cpu', 'memory', 'nvidia.com/gpu'], flavors: [{ name: 'tandem-on-demand', resources: [{ name: 'cpu', nominalQuota: '32' }, { name: 'memory', nominalQuota: '128Gi' }, { name: 'nvidia.com/gpu', nominalQuota: '6' }] }] }] } } as never,
      undefined, undefined, 'someone', undefined, k8s.PatchStrategy.MergePatch,
    );
    expect(tenantDrift(applied['kq-a']!, await tenants.live(nsOf('kq-a')))).toEqual([
      { object: 'ClusterQueue/tandem-kq-a', path: 'spec.resourceGroups[0].flavors[name=tandem-on-demand].nominalQuota["nvidia.com/gpu"]', applied: '2', live: '6' },
      { object: 'ClusterQueue/tandem-kq-a', path: 'spec.resourceGroups[0].flavors[name=tandem-spot]', applied: 'present', live: null },
    ]);
    await tenants.apply(applied['kq-a']!);
    expect(tenantDrift(applied['kq-a']!, await tenants.live(nsOf('kq-a')))).toEqual([]);
  });

  it('submits a Job suspended in the department’s LocalQueue; Kueue admits it; running, then succeeded; spot work gets the spot flavor', async () => {
    const { id, created } = await asCreated(nsOf('kq-a'), 'kq-first', () => runner.submit(jobSpec('kq-first', 'kq-a', 1)));
    expect(id).toBe(`${nsOf('kq-a')}/kq-first`);
    // Created suspended, in the LocalQueue; Kueue unsuspends it when it admits it.
    expect(created.spec?.suspend).toBe(true);
    expect(created.metadata?.labels?.['kueue.x-k8s.io/queue-name']).toBe('tandem');
    const [workload] = await until('its Workload', async () => ((await workloadsOf(id)).length > 0 ? workloadsOf(id) : undefined));
    expect(workload!.spec.queueName).toBe('tandem');
    const running = await statusUntil(id, 'to run', (s) => s.state === 'running');
    expect(running.message).toMatch(/running on gpu-\d$/);
    await finish(id);

    const spotId = await runner.submit(jobSpec('kq-spot', 'kq-a', 1, { spot: true }));
    expect((await statusUntil(spotId, 'to run', (s) => s.state === 'running')).message).toMatch(/running on spot-\d$/);
    const [spotWorkload] = await workloadsOf(spotId);
    expect(spotWorkload!.status?.admission?.podSetAssignments?.[0]?.flavors?.['nvidia.com/gpu']).toBe('tandem-spot');
    await finish(spotId);
  });

  it('queues a Job over the department’s quota (not refused), says why, starts it when quota frees; cancel of a held Job deletes it and its Workload', async () => {
    const a1 = await runner.submit(jobSpec('kq-a1', 'kq-a', 2));
    const b1 = await runner.submit(jobSpec('kq-b1', 'kq-b', 2));
    await Promise.all([a1, b1].map((id) => statusUntil(id, 'to run', (s) => s.state === 'running')));

    // The cohort has no GPU left on on-demand, and spot quota is only for Jobs that tolerate spot nodes.
    const a2 = await runner.submit(jobSpec('kq-a2', 'kq-a', 1));
    const held = await statusUntil(a2, 'to be held with Kueue’s reason', (s) => s.state === 'pending' && /insufficient/.test(s.message ?? ''));
    console.log(`[kueue] ${a2}: ${held.message}`);
    expect(held.message).toMatch(/^waiting for Kueue to admit it from LocalQueue tandem: .*insufficient unused quota for nvidia\.com\/gpu in flavor tandem-on-demand, 1 more needed/);
    expect(held.message).toMatch(/untolerated taint .*tandem-spot/);
    expect((await batch.readNamespacedJob({ name: 'kq-a2', namespace: nsOf('kq-a') })).spec?.suspend).toBe(true);

    // A second held Job is cancelled: the Job and its Workload are gone, no Pod was ever made.
    const a3 = await runner.submit(jobSpec('kq-a3', 'kq-a', 1));
    await statusUntil(a3, 'to be held', (s) => s.state === 'pending' && /insufficient/.test(s.message ?? ''));
    expect(await workloadsOf(a3)).toHaveLength(1);
    await runner.cancel(a3);
    await expect(batch.readNamespacedJob({ name: 'kq-a3', namespace: nsOf('kq-a') })).rejects.toMatchObject({ code: 404 });
    await until('the Workload of kq-a3 to be gone', async () => ((await workloadsOf(a3)).length === 0 ? true : undefined));
    expect(await container.pods(nsOf('kq-a'), 'kq-a3')).toEqual([]);

    await finish(a1);
    await statusUntil(a2, 'to be admitted and run', (s) => s.state === 'running');
    await Promise.all([finish(a2), finish(b1)]);
  });

  it('lends an idle department’s quota to the other, and takes it back when that department has work (the borrower is evicted and requeued)', async () => {
    const own = await runner.submit(jobSpec('kq-own', 'kq-a', 2));
    await statusUntil(own, 'to run', (s) => s.state === 'running');
    // kq-b is idle: kq-a borrows its 2 GPUs.
    const borrowed = await runner.submit(jobSpec('kq-borrowed', 'kq-a', 2));
    await statusUntil(borrowed, 'to run on borrowed quota', (s) => s.state === 'running');

    const b = await runner.submit(jobSpec('kq-b2', 'kq-b', 1));
    // kq-a is over its nominal quota by one Job's worth: Kueue evicts one of its two (it picks
    // the most recently admitted, and on a tie in its one-second timestamps, either).
    const evictedNow = (s: JobStatus) => s.state === 'pending' && /evicted by Kueue/.test(s.message ?? '');
    let seen: { id: string; status: JobStatus }[] = [];
    const evicted = await until(
      'one of kq-a’s Jobs to be evicted by Kueue',
      async () => {
        seen = await Promise.all([own, borrowed].map(async (id) => ({ id, status: await runner.status(id) })));
        return seen.find((j) => evictedNow(j.status));
      },
      150_000,
    ).catch(async (err: Error) => {
      // What Kueue made of the three, for the failure message.
      const workloads = await Promise.all([own, borrowed, b].map(async (id) => ({ id, workloads: (await workloadsOf(id)).map((w) => w.status?.conditions) })));
      throw new Error(`${err.message}; last status ${JSON.stringify(seen)}; workloads ${JSON.stringify(workloads)}`, { cause: err });
    });
    console.log(`[kueue] ${evicted.id}: ${evicted.status.message}`);
    expect(evicted.status.message).toMatch(/evicted by Kueue \(Preempted\)/);
    const kept = evicted.id === own ? borrowed : own;
    expect((await runner.status(kept)).state).toBe('running');
    await statusUntil(b, 'to run on its own quota', (s) => s.state === 'running', 90_000);

    // kq-a's other Job ends: the evicted one fits kq-a's nominal quota again and resumes.
    await finish(kept);
    await statusUntil(evicted.id, 'to be admitted again', (s) => s.state === 'running', 90_000);
    await Promise.all([finish(evicted.id), finish(b)]);
  }, 360_000);

  it('deleting a tenant deletes its ClusterQueue with its namespace; the shared flavors stay', async () => {
    await tenants.deleteNamespace(nsOf('kq-b'));
    const ref = (kind: string, name: string) => ({ apiVersion: 'kueue.x-k8s.io/v1beta2', kind, metadata: { name } }) as never;
    await until('ClusterQueue tandem-kq-b to be gone', () => objects.read(ref('ClusterQueue', nsOf('kq-b'))).then(() => undefined, (err: { code?: number }) => (err.code === 404 ? true : undefined)));
    await expect(objects.read(ref('ResourceFlavor', 'tandem-on-demand'))).resolves.toBeDefined();
    await expect(objects.read(ref('ClusterQueue', nsOf('kq-a')))).resolves.toBeDefined();
  });
});
