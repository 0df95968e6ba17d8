/**
 * The example GPU image of `npm start -- --with-kubernetes`, played where kwok runs no containers.
 *
 * kwok starts a scheduled Pod but runs nothing in it, so a Job of a real image would sit Running
 * forever on the local cluster. This process plays one image, `tandem.local/example-embedder:1`,
 * the way a real embedding job following tandem's checkpoint contract (README "Kubernetes jobs")
 * would behave: for every Running Pod of that image that tandem manages, it reads the checkpoint
 * the last Pod left, "embeds" the chunks not listed there one at a time, writes the checkpoint
 * after each, and exits 0 — or 1 at `--fail-at-chunk`, with a last log line the flow reports. A Pod
 * deleted or disrupted meanwhile (`kubectl delete pod`, an eviction) stops being played; its
 * replacement resumes from the checkpoint, so completed chunks are not redone.
 *
 * The image's command line (the gpu.batch `command`):
 *   embed [--chunks N (4)] [--seconds-per-chunk S (2)] [--fail-at-chunk K]
 * The checkpoint is the completed chunk numbers, comma-separated: `0,1,2`.
 *
 * Other images are left alone: their Pods run until something else (a test) plays them.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { managedSelector } from '../../../services/kubernetes/job-manifest.ts';
import { repoRoot } from '../../../shared/config.ts';
import type { ProcessSpec } from '../process-spec.ts';
import { SimulatedContainer } from './simulated-container.ts';

export const exampleEmbedderImage = 'tandem.local/example-embedder:1';

export interface EmbedPlan {
  chunks: number;
  secondsPerChunk: number;
  failAtChunk?: number;
}

/** The image's command line; refuses what the image would refuse, with its usage. */
export function embedPlanOf(command: readonly string[]): EmbedPlan {
  const [verb, ...rest] = command;
  const usage = 'usage: embed [--chunks N] [--seconds-per-chunk S] [--fail-at-chunk K]';
  if (verb !== 'embed') throw new Error(`unknown command ${JSON.stringify(verb)}; ${usage}`);
  const { values } = parseArgs({
    args: rest,
    options: { chunks: { type: 'string', default: '4' }, 'seconds-per-chunk': { type: 'string', default: '2' }, 'fail-at-chunk': { type: 'string' } },
    strict: true,
  });
  const chunks = Number(values.chunks);
  const secondsPerChunk = Number(values['seconds-per-chunk']);
  const failAtChunk = values['fail-at-chunk'] === undefined ? undefined : Number(values['fail-at-chunk']);
  if (!Number.isInteger(chunks) || chunks < 1 || chunks > 10_000) throw new Error(`--chunks must be a whole number from 1 to 10000; ${usage}`);
  if (!(secondsPerChunk >= 0 && secondsPerChunk <= 3600)) throw new Error(`--seconds-per-chunk must be from 0 to 3600; ${usage}`);
  if (failAtChunk !== undefined && !(Number.isInteger(failAtChunk) && failAtChunk >= 0)) throw new Error(`--fail-at-chunk must be a chunk number; ${usage}`);
  return { chunks, secondsPerChunk, ...(failAtChunk !== undefined ? { failAtChunk } : {}) };
}

/** `0,1,2` → {0,1,2}; anything else (no checkpoint yet, another image's) → nothing done. */
export function completedChunks(checkpoint: string | null): Set<number> {
  if (!checkpoint || !/^\d+(,\d+)*$/.test(checkpoint.trim())) return new Set();
  return new Set(checkpoint.trim().split(',').map(Number));
}

type Log = (line: string) => void;

export class ExampleEmbedder {
  readonly #container: SimulatedContainer;
  readonly #informer: k8s.Informer<k8s.V1Pod>;
  readonly #playing = new Set<string>();
  readonly #log: Log;
  #stopped = false;

  constructor(kubeConfig: k8s.KubeConfig, log: Log = (line) => console.log(line)) {
    this.#container = new SimulatedContainer(kubeConfig);
    this.#log = log;
    const core = this.#container.core;
    this.#informer = k8s.makeInformer(kubeConfig, '/api/v1/pods', () => core.listPodForAllNamespaces({ labelSelector: managedSelector }), managedSelector);
    const consider = (pod: k8s.V1Pod) => void this.#consider(pod);
    this.#informer.on('add', consider);
    this.#informer.on('update', consider);
    this.#informer.on('error', () => {
      if (!this.#stopped) setTimeout(() => void (this.#stopped ? undefined : this.#informer.start().catch(() => undefined)), 1000).unref();
    });
  }

  /** Resolves once the Pods of the cluster are listed (and the running ones are being played). */
  async start(): Promise<void> {
    await this.#informer.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#informer.stop();
  }

  async #consider(pod: k8s.V1Pod): Promise<void> {
    const uid = pod.metadata?.uid;
    const main = pod.spec?.containers[0];
    if (!uid || this.#stopped || this.#playing.has(uid) || main?.image !== exampleEmbedderImage) return;
    if (pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp) return;
    this.#playing.add(uid);
    try {
      await this.#play(pod, main);
    } catch (err) {
      this.#log(`${podName(pod)}: stopped playing: ${(err as Error).message}`);
    }
  }

  async #play(pod: k8s.V1Pod, main: k8s.V1Container): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    const configMap = main.env?.find((e) => e.name === 'TANDEM_CHECKPOINT_CONFIGMAP')?.value;
    let plan: EmbedPlan;
    try {
      plan = embedPlanOf([...(main.command ?? []), ...(main.args ?? [])]);
    } catch (err) {
      this.#log(`${podName(pod)}: exits 2: ${(err as Error).message}`);
      await this.#container.exit(namespace, pod, 2, (err as Error).message);
      return;
    }
    const done = completedChunks(configMap ? await this.#container.readCheckpoint(namespace, configMap) : null);
    this.#log(`${podName(pod)}: embedding ${plan.chunks} chunks${done.size ? `, resuming after ${done.size} done (${[...done].join(',')})` : ''}`);
    for (let chunk = 0; chunk < plan.chunks; chunk++) {
      if (done.has(chunk)) continue;
      await sleep(plan.secondsPerChunk * 1000);
      if (this.#stopped || !(await this.#stillRunning(namespace, pod))) {
        this.#log(`${podName(pod)}: the Pod stopped during chunk ${chunk}; a replacement resumes from the checkpoint`);
        return;
      }
      if (chunk === plan.failAtChunk) {
        const lastWords = `loading chunk ${chunk}\nRuntimeError: simulated failure (--fail-at-chunk ${chunk})`;
        this.#log(`${podName(pod)}: exits 1 at chunk ${chunk}`);
        await this.#container.exit(namespace, pod, 1, lastWords);
        return;
      }
      done.add(chunk);
      if (configMap) await this.#container.writeCheckpoint(namespace, configMap, [...done].sort((a, b) => a - b).join(','));
      this.#log(`${podName(pod)}: chunk ${chunk} done (${done.size}/${plan.chunks})`);
    }
    await this.#container.exit(namespace, pod, 0, `embedded ${plan.chunks} chunks`);
    this.#log(`${podName(pod)}: exits 0`);
  }

  async #stillRunning(namespace: string, pod: k8s.V1Pod): Promise<boolean> {
    const now = await this.#container.core.readNamespacedPod({ name: pod.metadata!.name!, namespace }).catch(() => undefined);
    return now?.status?.phase === 'Running' && !now.metadata?.deletionTimestamp && now.metadata?.uid === pod.metadata?.uid;
  }
}

/** How the stack runs it beside the local cluster (its state in `dir`, the cluster's). */
export function exampleEmbedderProcess(kubeconfigPath: string, dir: string): ProcessSpec {
  const readyFile = path.join(dir, 'example-embedder.ready');
  return {
    name: 'example-embedder',
    command: process.execPath,
    args: [path.join(repoRoot, 'deploy/dev/kubernetes/example-embedder.ts'), '--kubeconfig', kubeconfigPath, '--ready-file', readyFile],
    cwd: repoRoot,
    ports: [],
    ready: () => Promise.resolve(existsSync(readyFile)),
    readyTimeoutMs: 30_000,
  };
}

const podName = (pod: k8s.V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

// `node deploy/dev/kubernetes/example-embedder.ts --kubeconfig F [--ready-file F]`: the stack runs
// it beside the local cluster; the ready file tells the supervisor the Pods are being watched.
if (import.meta.main) {
  const { values } = parseArgs({ options: { kubeconfig: { type: 'string' }, 'ready-file': { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help || !values.kubeconfig) {
    console.log('usage: node deploy/dev/kubernetes/example-embedder.ts --kubeconfig <file> [--ready-file <file>]\nPlays the image tandem.local/example-embedder:1 on the local cluster (see the file\'s comment).');
    process.exit(values.help ? 0 : 2);
  }
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(values.kubeconfig);
  const embedder = new ExampleEmbedder(kubeConfig, (line) => console.log(`[example-embedder] ${line}`));
  const readyFile = values['ready-file'];
  if (readyFile) rmSync(readyFile, { force: true });
  const shutdown = () => void embedder.stop().finally(() => process.exit(0));
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  await embedder.start();
  if (readyFile) writeFileSync(readyFile, `${process.pid}\n`);
  console.log(`[example-embedder] watching Pods of ${exampleEmbedderImage}`);
}
