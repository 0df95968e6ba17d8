/**
 * The example image of `npm start -- --with-kubernetes` on the local cluster, through the real job
 * runner: it embeds its chunks and the Job succeeds with the checkpoint listing them all; an
 * eviction (what `kubectl drain` does to a spot node) mid-run is resumed by the replacement Pod
 * without redoing a completed chunk; `--fail-at-chunk` fails the Job with the image's last words.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { JobSpec, JobStatus } from '../../../shared/contracts/job-runner.ts';
import { KubernetesJobRunner } from '../../../services/kubernetes/kubernetes-job-runner.ts';
import '../../../test/support/stack-info.ts';
import { ExampleEmbedder, exampleEmbedderImage } from './example-embedder.ts';
import { SimulatedContainer, until } from './simulated-container.ts';

const cluster = inject('kubernetes');
const kubeConfig = new k8s.KubeConfig();
kubeConfig.loadFromFile(cluster.kubeconfigPath);
const container = new SimulatedContainer(kubeConfig);
const namespace = `example-${process.pid}`;
const runner = new KubernetesJobRunner({ kubeConfig, namespaceFor: () => namespace, kueue: 'off', cancelTimeoutMs: 30_000 });
const lines: string[] = [];
const embedder = new ExampleEmbedder(kubeConfig, (line) => lines.push(line));

const spec = (name: string, command: string[]): JobSpec => ({
  name,
  image: exampleEmbedderImage,
  command,
  resources: { requests: { 'nvidia.com/gpu': 1, cpu: '2', memory: '8Gi' }, limits: { 'nvidia.com/gpu': 1, cpu: '2', memory: '8Gi' } },
  faultTolerant: true,
  spot: true,
  owner: { workflowId: `wf-${name}`, department: 'radiology' },
});

const ended = (id: string, timeoutMs = 30_000) =>
  until<JobStatus>(`${id} to end`, async () => {
    const s = await runner.status(id);
    return s.state === 'succeeded' || s.state === 'failed' ? s : undefined;
  }, timeoutMs);

beforeAll(async () => {
  await container.createNamespace(namespace);
  await embedder.start();
}, 60_000);

afterAll(async () => {
  await embedder.stop();
  await runner.close();
  await container.deleteNamespace(namespace);
});

describe('the example embedder', () => {
  it('embeds every chunk, checkpointing each, and exits 0', async () => {
    const id = await runner.submit(spec('embed-all', ['embed', '--chunks', '3', '--seconds-per-chunk', '0.1']));
    const status = await ended(id);
    expect(status).toMatchObject({ state: 'succeeded', checkpoint: '0,1,2', disruptions: 0 });
    await runner.cancel(id);
  });

  it('an evicted Pod is replaced and the replacement resumes: no completed chunk is redone', async () => {
    const id = await runner.submit(spec('embed-evicted', ['embed', '--chunks', '6', '--seconds-per-chunk', '0.4']));
    const first = await container.runningPod(namespace, 'embed-evicted');
    await until('two chunks to be checkpointed', async () => (((await container.readCheckpoint(namespace, 'embed-evicted')) ?? '').split(',').length >= 2 ? true : undefined));
    // The Eviction API, as `kubectl drain` uses it: the API server marks the Pod DisruptionTarget.
    await container.core.createNamespacedPodEviction({ name: first.metadata!.name!, namespace, body: { metadata: { name: first.metadata!.name!, namespace } } });
    const status = await ended(id);
    expect(status).toMatchObject({ state: 'succeeded', checkpoint: '0,1,2,3,4,5', disruptions: 1 });
    const done = lines.filter((l) => l.includes('/embed-evicted-') && / chunk \d+ done/.test(l)).map((l) => Number(/ chunk (\d+) done/.exec(l)![1]));
    expect(done.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(lines.some((l) => l.includes(first.metadata!.name!) && l.includes('the Pod stopped'))).toBe(true);
    expect(lines.some((l) => l.includes('/embed-evicted-') && !l.includes(first.metadata!.name!) && /resuming after [2-5] done/.test(l))).toBe(true);
    await runner.cancel(id);
  });

  it('--fail-at-chunk fails the Job with the image’s last log lines', async () => {
    const id = await runner.submit(spec('embed-fails', ['embed', '--chunks', '4', '--seconds-per-chunk', '0.1', '--fail-at-chunk', '2']));
    const status = await ended(id);
    expect(status.state).toBe('failed');
    expect(status.message).toContain('RuntimeError: simulated failure (--fail-at-chunk 2)');
    expect(status.checkpoint).toBe('0,1');
    await runner.cancel(id);
  });
});
