/**
 * Kueue runs on the local cluster (a cluster of this file's own, since Kueue changes what
 * happens to every queued Job): a GPU Job created suspended with its department's LocalQueue
 * label is admitted by Kueue and starts; one that does not fit the ClusterQueue's remaining
 * quota stays suspended, its Workload pending with Kueue's reason, until the first finishes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../../test/support/kubernetes-container.ts';
import { startLocalKubernetes, type LocalKubernetes } from './cluster.ts';

let cluster: LocalKubernetes;
let stateDir: string;
let core: k8s.CoreV1Api;
let batch: k8s.BatchV1Api;
let objects: k8s.KubernetesObjectApi;
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
  });
});
