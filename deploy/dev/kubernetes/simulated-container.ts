/**
 * Plays the container's (and kubelet's) part for Jobs on the local cluster, where kwok runs no
 * containers: the checkpoint contract of README "Kubernetes jobs" (write `data.checkpoint` of the
 * ConfigMap named like the Job, read it back when a Pod starts), a container's exit (Pod phase
 * Succeeded/Failed with the terminated state and its termination message), and a preemption or
 * eviction as the kubelet reports it (a DisruptionTarget condition, then phase Failed). Tests use
 * it through test/support/kubernetes-container.ts; example-embedder.ts plays a whole image with it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';

export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export class SimulatedContainer {
  readonly core: k8s.CoreV1Api;
  readonly batch: k8s.BatchV1Api;

  constructor(kubeConfig: k8s.KubeConfig) {
    this.core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.batch = kubeConfig.makeApiClient(k8s.BatchV1Api);
  }

  /** A namespace the way a department's would be, with the service account Pods need. */
  async createNamespace(name: string): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name } } });
    await until(`the default service account of ${name}`, () =>
      this.core.readNamespacedServiceAccount({ name: 'default', namespace: name }).then(
        () => true,
        () => undefined,
      ),
    );
  }

  async deleteNamespace(name: string): Promise<void> {
    await this.core.deleteNamespace({ name }).catch(() => undefined);
  }

  async pods(namespace: string, job: string): Promise<k8s.V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace, labelSelector: `tandem.dev/job=${job}` })).items;
  }

  /** The Job's Running Pod other than those in `seen` (a replacement after a disruption). */
  runningPod(namespace: string, job: string, seen: readonly string[] = [], timeoutMs = 30_000): Promise<k8s.V1Pod> {
    return until(
      `a running Pod of ${job}`,
      async () => (await this.pods(namespace, job)).find((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && !seen.includes(p.metadata!.name!)),
      timeoutMs,
    );
  }

  /** What a starting container reads: the checkpoint the last Pod left, or null. */
  async readCheckpoint(namespace: string, job: string): Promise<string | null> {
    const map = await this.core.readNamespacedConfigMap({ name: job, namespace }).catch(() => undefined);
    return map?.data?.checkpoint ?? null;
  }

  async writeCheckpoint(namespace: string, job: string, checkpoint: string): Promise<void> {
    await this.core.patchNamespacedConfigMap(
      { name: job, namespace, body: { data: { checkpoint } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }

  /** The container exits; `message` is what FallbackToLogsOnError puts there (its last log lines). */
  async exit(namespace: string, pod: k8s.V1Pod, exitCode: number, message = ''): Promise<void> {
    await this.#patchStatus(namespace, pod, {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: [this.#terminated(pod, exitCode, exitCode === 0 ? 'Completed' : 'Error', message)],
    });
  }

  /** The kubelet stops the Pod for a preemption or eviction: DisruptionTarget, then Failed (SIGKILL, 137). */
  async disrupt(namespace: string, pod: k8s.V1Pod, reason = 'PreemptionByScheduler'): Promise<void> {
    const now = new Date();
    await this.#patchStatus(namespace, pod, {
      phase: 'Failed',
      conditions: [{ type: 'DisruptionTarget', status: 'True', reason, message: 'simulated by the test', lastTransitionTime: now }],
      containerStatuses: [this.#terminated(pod, 137, 'Error', '')],
    });
  }

  #terminated(pod: k8s.V1Pod, exitCode: number, reason: string, message: string): k8s.V1ContainerStatus {
    const container = pod.spec!.containers[0]!;
    return {
      name: container.name,
      image: container.image!,
      imageID: '',
      ready: false,
      restartCount: 0,
      state: { terminated: { exitCode, reason, message, finishedAt: new Date(), startedAt: pod.status?.startTime ?? new Date() } },
    };
  }

  async #patchStatus(namespace: string, pod: k8s.V1Pod, status: Partial<k8s.V1PodStatus>): Promise<void> {
    await this.core.patchNamespacedPodStatus(
      { name: pod.metadata!.name!, namespace, body: { status } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
  }
}
