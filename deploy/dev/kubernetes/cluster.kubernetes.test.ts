/**
 * The local cluster does what the job runner and its tests rely on: the simulated nodes offer
 * GPUs (spot ones tainted), the Job controller and scheduler run, kwok starts scheduled Pods and
 * stops deleted ones as a kubelet would, and kubectl's server-side dry run works against it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { until } from './simulated-container.ts';
import '../../../test/support/stack-info.ts';

const run = promisify(execFile);
const cluster = inject('kubernetes');
const kc = new k8s.KubeConfig();
kc.loadFromFile(cluster.kubeconfigPath);
const core = kc.makeApiClient(k8s.CoreV1Api);
const batch = kc.makeApiClient(k8s.BatchV1Api);
const namespace = `cluster-test-${process.pid}`;


function gpuJob(name: string): k8s.V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace },
    spec: {
      backoffLimit: 0,
      podFailurePolicy: { rules: [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] }] },
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'main',
              image: 'registry.local/embedder:1.0',
              resources: {
                requests: { cpu: '1', memory: '1Gi', 'nvidia.com/gpu': '1' },
                limits: { cpu: '1', memory: '1Gi', 'nvidia.com/gpu': '1' },
              },
            },
          ],
        },
      },
    },
  };
}

const podsOf = async (job: string) => (await core.listNamespacedPod({ namespace, labelSelector: `job-name=${job}` })).items;

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  // Pods need the namespace's default service account, which its controller creates shortly after.
  await until('the default service account', () => core.readNamespacedServiceAccount({ name: 'default', namespace }).then(() => true, () => undefined));
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace }).catch(() => {});
});

describe('local Kubernetes', () => {
  it('offers GPUs on on-demand and spot nodes, the spot ones labelled and tainted', async () => {
    const nodes = (await core.listNode()).items;
    const gpus = (n: k8s.V1Node) => Number(n.status?.allocatable?.['nvidia.com/gpu'] ?? 0);
    const spot = nodes.filter((n) => n.metadata?.labels?.['tandem.dev/capacity'] === 'spot');
    expect(nodes.filter((n) => !spot.includes(n)).reduce((sum, n) => sum + gpus(n), 0)).toBe(8);
    expect(spot.reduce((sum, n) => sum + gpus(n), 0)).toBe(4);
    for (const n of spot) expect(n.spec?.taints).toContainEqual(expect.objectContaining({ key: 'tandem.dev/capacity', value: 'spot', effect: 'NoSchedule' }));
    for (const n of nodes) expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('accepts a GPU Job with a podFailurePolicy in a server-side dry run of the built kubectl', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-k8s-dry-'));
    const file = path.join(dir, 'job.json');
    writeFileSync(file, JSON.stringify(gpuJob('dry-run')));
    const { stdout } = await run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfigPath, 'apply', '--server-side', '--dry-run=server', '-f', file]);
    expect(stdout).toMatch(/job\.batch\/dry-run serverside-applied \(server dry run\)/);
    await expect(batch.readNamespacedJob({ name: 'dry-run', namespace })).rejects.toMatchObject({ code: 404 });
  });

  it('schedules a GPU Job onto an on-demand GPU node, runs it, and completes it when its container reports exit 0', async () => {
    await batch.createNamespacedJob({ namespace, body: gpuJob('completes') });
    const pod = await until('a running pod', async () => (await podsOf('completes')).find((p) => p.status?.phase === 'Running'));
    expect(pod.spec?.nodeName).toMatch(/^gpu-\d$/);
    await core.patchNamespacedPodStatus(
      {
        name: pod.metadata!.name!,
        namespace,
        body: { status: { phase: 'Succeeded', containerStatuses: [{ name: 'main', image: 'registry.local/embedder:1.0', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const job = await until('the Job to complete', async () => {
      const j = await batch.readNamespacedJob({ name: 'completes', namespace });
      return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
    });
    expect(job.status?.succeeded).toBe(1);
  });

  it('stops an evicted Pod as a kubelet would, and the Job replaces it without counting a failure (DisruptionTarget → Ignore)', async () => {
    await batch.createNamespacedJob({ namespace, body: gpuJob('evicted') });
    const first = await until('a running pod', async () => (await podsOf('evicted')).find((p) => p.status?.phase === 'Running'));
    await core.createNamespacedPodEviction({ name: first.metadata!.name!, namespace, body: { metadata: { name: first.metadata!.name!, namespace } } });
    const second = await until('a replacement pod', async () =>
      (await podsOf('evicted')).find((p) => p.metadata?.name !== first.metadata?.name && p.status?.phase === 'Running'),
    );
    expect(second.metadata?.name).not.toBe(first.metadata?.name);
    const job = await batch.readNamespacedJob({ name: 'evicted', namespace });
    expect(job.status?.failed ?? 0).toBe(0);
    expect(job.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True') ?? false).toBe(false);
  });
});
