/**
 * The job runner on a Kubernetes cluster: each job is a batch/v1 Job in its department's
 * namespace (job-manifest.ts), its state read from the Job, its Pods and its checkpoint ConfigMap
 * (job-status.ts). Callers wait on `changed()`, which resolves on a watch event (an informer per
 * namespace on the Jobs, Pods and ConfigMaps tandem made), so a running job costs no polling.
 *
 *   submit   checks the spec (field paths) and, without Kueue, the namespace's ResourceQuotas
 *            (the numbers) before anything is created; adopts a Job of the same name that runs or
 *            succeeded; replaces one that was preempted (not fault-tolerant) or cancelled,
 *            carrying its checkpoint over; with Kueue, creates it suspended in the LocalQueue.
 *   status   one read of Job, Pods, ConfigMap (and FailedCreate events while there is no Pod).
 *   cancel   deletes the Job with foreground propagation and returns once no Pod is left.
 *
 * Disruptions of fault-tolerant work are the Job controller's to recover from (podFailurePolicy
 * Ignore): the runner reports them as `disruptions`, the job keeps its state `running`/`pending`.
 */
import {
  ApisApi,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type Informer,
  type KubernetesObject,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';
import { JobRefusedError, type JobRunner, type JobSpec, type JobStatus } from '../../shared/contracts/job-runner.ts';
import { checkpointConfigMap, checkpointKey, guaranteedResources, jobManifest, jobSpecIssues, labelKeys, managedSelector, type SpotPlacement } from './job-manifest.ts';
import { disrupted, disruptionAnnotationPrefix, jobStatusOf } from './job-status.ts';
import { namespaceFor as defaultNamespaceFor, type LocalQueueResolver, type NamespaceResolver } from './namespaces.ts';
import { clusterServesKueue, kueueApiGroup, workloadJobUidLabel, type KueueWorkload } from './kueue.ts';
import { quotaShortfalls } from './quota.ts';

export interface KubernetesJobRunnerOptions {
  kubeConfig: KubeConfig;
  /** Department → namespace; the tenants resource will pass its own. */
  namespaceFor?: NamespaceResolver;
  spot?: SpotPlacement;
  ttlSecondsAfterFinished?: number;
  backoffLimit?: number;
  /** `auto`: use Kueue when the cluster serves its API group; `off`: never. */
  kueue?: 'auto' | 'off';
  /** Department → its LocalQueue (default `tandem`). */
  localQueueFor?: LocalQueueResolver;
  /** How long `cancel` waits for the Job and its Pods to be gone. */
  cancelTimeoutMs?: number;
  /** Server-side field manager of what tandem writes. */
  fieldManager?: string;
}

interface ApiError {
  code?: number;
  body?: unknown;
}

const statusCode = (err: unknown) => (err as ApiError).code;

async function orUndefinedIf404<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw err;
  }
}

/** The API server's Status body, parsed when the client left it as text. */
function statusBody(err: unknown): { message?: string; reason?: string; details?: { causes?: { field?: string; message?: string }[] } } {
  const body = (err as ApiError).body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as ReturnType<typeof statusBody>;
    } catch {
      return { message: body };
    }
  }
  return (body as ReturnType<typeof statusBody>) ?? {};
}

/** The watches of one namespace; a change to any object of a job wakes its waiters. */
class NamespaceWatch {
  readonly #informers: Informer<KubernetesObject>[] = [];
  readonly #waiters = new Map<string, Set<() => void>>();
  #stopped = false;
  readonly started: Promise<void>;

  constructor(kubeConfig: KubeConfig, namespace: string, batch: BatchV1Api, core: CoreV1Api, onDisrupted: (job: string, pod: V1Pod, gone: boolean) => void) {
    const jobName = (o: KubernetesObject) => o.metadata?.labels?.[labelKeys.job] ?? o.metadata?.name;
    const sources: [string, () => Promise<{ items: KubernetesObject[] }>][] = [
      [`/apis/batch/v1/namespaces/${namespace}/jobs`, () => batch.listNamespacedJob({ namespace, labelSelector: managedSelector })],
      [`/api/v1/namespaces/${namespace}/pods`, () => core.listNamespacedPod({ namespace, labelSelector: managedSelector })],
      [`/api/v1/namespaces/${namespace}/configmaps`, () => core.listNamespacedConfigMap({ namespace, labelSelector: managedSelector })],
    ];
    for (const [path, list] of sources) {
      const informer = makeInformer(kubeConfig, path, list as never, managedSelector);
      const wake = (o: KubernetesObject) => this.#wake(jobName(o));
      informer.on('add', wake);
      informer.on('update', wake);
      informer.on('delete', wake);
      if (path.endsWith('/pods')) {
        const record = (gone: boolean) => (o: KubernetesObject) => {
          const job = jobName(o);
          if (job && disrupted(o as V1Pod)) onDisrupted(job, o as V1Pod, gone);
        };
        informer.on('update', record(false));
        informer.on('delete', record(true));
      }
      // The list-watch stops on an error other than an expired resourceVersion: start it again.
      informer.on('error', () => {
        if (!this.#stopped) setTimeout(() => void (this.#stopped ? undefined : informer.start().catch(() => undefined)), 1000).unref();
      });
      this.#informers.push(informer);
    }
    this.started = Promise.all(this.#informers.map((i) => i.start())).then(() => undefined);
  }

  #wake(name: string | undefined): void {
    if (!name) return;
    const waiters = this.#waiters.get(name);
    if (!waiters) return;
    this.#waiters.delete(name);
    for (const wake of waiters) wake();
  }

  changed(name: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(name) ?? new Set();
      this.#waiters.set(name, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      waiters.add(done);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#informers.map((i) => i.stop()));
    for (const name of [...this.#waiters.keys()]) this.#wake(name);
  }
}

export class KubernetesJobRunner implements JobRunner {
  readonly #kubeConfig: KubeConfig;
  readonly #batch: BatchV1Api;
  readonly #core: CoreV1Api;
  readonly #customObjects: CustomObjectsApi;
  readonly #options: KubernetesJobRunnerOptions;
  readonly #watches = new Map<string, NamespaceWatch>();
  /**
   * Disrupted Pods already recorded (uids), so each update of one is not another patch. A uid is
   * dropped when its Pod is deleted, so the set holds only live disrupted Pods.
   */
  readonly #recorded = new Set<string>();
  #kueue: Promise<boolean> | undefined;

  constructor(options: KubernetesJobRunnerOptions) {
    this.#options = options;
    this.#kubeConfig = options.kubeConfig;
    this.#batch = options.kubeConfig.makeApiClient(BatchV1Api);
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#customObjects = options.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  namespaceOf(spec: JobSpec): string {
    // The tenant's namespace when the department has one (the workflow read it), else the default.
    return spec.owner?.namespace ?? (this.#options.namespaceFor ?? defaultNamespaceFor)(spec.owner?.department ?? '');
  }

  jobIdOf(spec: JobSpec): string {
    return `${this.namespaceOf(spec)}/${spec.name}`;
  }

  /** Whether Jobs go through Kueue: the cluster serves kueue.x-k8s.io (asked once). */
  usesKueue(): Promise<boolean> {
    if (this.#options.kueue === 'off') return Promise.resolve(false);
    this.#kueue ??= this.#kubeConfig
      .makeApiClient(ApisApi)
      .getAPIVersions()
      .then((groups) => clusterServesKueue(groups.groups));
    return this.#kueue;
  }

  async submit(spec: JobSpec): Promise<string> {
    const namespace = this.namespaceOf(spec);
    const issues = jobSpecIssues(spec, namespace);
    if (issues.length > 0) {
      throw new JobRefusedError('invalid-spec', `job ${spec.name} is not a valid Kubernetes Job: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
    }
    const jobId = this.jobIdOf(spec);
    let carried: string | null = null;
    const existing = await this.status(jobId);
    if (existing.state === 'pending' || existing.state === 'running' || existing.state === 'succeeded' || existing.state === 'failed') {
      // A retried activity (or a second worker) adopts the Job that is there.
      const job = await orUndefinedIf404(this.#batch.readNamespacedJob({ name: spec.name, namespace }));
      if (job) await this.#ensureCheckpointConfigMap(job, null);
      return jobId;
    }
    if (existing.state === 'preempted' || existing.state === 'cancelled') {
      carried = existing.checkpoint;
      await this.#deleteAndWait(namespace, spec.name);
    }

    const kueue = await this.usesKueue();
    if (!kueue) {
      // Kueue decides quota and flavours where it runs; otherwise the ResourceQuota is ours to read.
      const quotas = await this.#core.listNamespacedResourceQuota({ namespace });
      const shortfalls = quotaShortfalls(quotas.items, guaranteedResources(spec.resources), namespace);
      if (shortfalls.length > 0) throw new JobRefusedError('quota-exceeded', `job ${spec.name} does not fit the quota: ${shortfalls.join('; ')}`);
    }
    const manifest = jobManifest(spec, {
      namespace,
      spot: this.#options.spot,
      ttlSecondsAfterFinished: this.#options.ttlSecondsAfterFinished,
      backoffLimit: this.#options.backoffLimit,
      kueueQueue: kueue ? (this.#options.localQueueFor ?? (() => 'tandem'))(spec.owner!.department) : undefined,
    });
    let created: V1Job;
    try {
      created = await this.#batch.createNamespacedJob({ namespace, body: manifest, fieldManager: this.#fieldManager });
    } catch (err) {
      created = await this.#createFailed(err, spec.name, namespace);
    }
    await this.#ensureCheckpointConfigMap(created, carried);
    return jobId;
  }

  get #fieldManager(): string {
    return this.#options.fieldManager ?? 'tandem';
  }

  async #createFailed(err: unknown, name: string, namespace: string): Promise<V1Job> {
    const code = statusCode(err);
    // Two attempts racing: the other one created it, adopt it.
    if (code === 409) return this.#batch.readNamespacedJob({ name, namespace });
    const body = statusBody(err);
    if (code === 422) {
      const causes = (body.details?.causes ?? []).map((c) => ({ path: c.field ?? '', message: c.message ?? '' }));
      throw new JobRefusedError('invalid-spec', `the API server refused Job ${name}: ${body.message ?? 'invalid'}`, causes);
    }
    if (code === 404) {
      throw new JobRefusedError('invalid-spec', `namespace ${namespace} does not exist: create the department's namespace first`, [
        { path: 'namespace', message: `namespace ${namespace} does not exist` },
      ]);
    }
    if (code === 403 && /exceeded quota/.test(body.message ?? '')) throw new JobRefusedError('quota-exceeded', body.message!);
    throw err;
  }

  async #ensureCheckpointConfigMap(job: V1Job, checkpoint: string | null): Promise<void> {
    const body = checkpointConfigMap(job);
    if (checkpoint !== null) body.data = { [checkpointKey]: checkpoint };
    try {
      await this.#core.createNamespacedConfigMap({ namespace: job.metadata!.namespace!, body, fieldManager: this.#fieldManager });
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
    }
  }

  #split(jobId: string): { namespace: string; name: string } {
    const [namespace, name, ...rest] = jobId.split('/');
    if (!namespace || !name || rest.length > 0) throw new Error(`"${jobId}" is not a Kubernetes job id <namespace>/<name>`);
    return { namespace, name };
  }

  async status(jobId: string): Promise<JobStatus> {
    const { namespace, name } = this.#split(jobId);
    const job = await orUndefinedIf404(this.#batch.readNamespacedJob({ name, namespace }));
    if (!job) return { state: 'unknown', checkpoint: null, exitCode: null, message: `no Job ${name} in namespace ${namespace}` };
    const [pods, configMap] = await Promise.all([
      this.#podsOf(namespace, name),
      orUndefinedIf404(this.#core.readNamespacedConfigMap({ name, namespace })),
    ]);
    if (job.spec?.suspend && job.metadata?.labels?.[labelKeys.kueueQueue]) {
      // Held by Kueue: its Workload says why (quota, a missing LocalQueue, an eviction).
      return jobStatusOf({ job, pods, configMap, workload: await this.#workloadOf(job) });
    }
    const status = jobStatusOf({ job, pods, configMap });
    if (status.state !== 'pending' || pods.some((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Failed')) return status;
    // No Pod: see whether the Job controller is being refused (quota), so nothing waits silently.
    const events = await this.#core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=Job,involvedObject.name=${name}` });
    const sorted = [...events.items].sort((a, b) => eventTime(a) - eventTime(b));
    // Only refusals of this Job (same uid), not of an earlier one with the same name.
    return jobStatusOf({ job, pods, configMap, events: sorted.filter((e) => e.involvedObject.uid === job.metadata?.uid) });
  }

  /** The Job's Workload (Kueue labels it with the Job's uid); undefined until Kueue has made it. */
  async #workloadOf(job: V1Job): Promise<KueueWorkload | undefined> {
    const list = (await this.#customObjects.listNamespacedCustomObject({
      group: kueueApiGroup,
      version: 'v1beta2',
      namespace: job.metadata!.namespace!,
      plural: 'workloads',
      labelSelector: `${workloadJobUidLabel}=${job.metadata!.uid}`,
    })) as { items?: KueueWorkload[] };
    return list.items?.[0];
  }

  async #podsOf(namespace: string, name: string): Promise<V1Pod[]> {
    return (await this.#core.listNamespacedPod({ namespace, labelSelector: `${labelKeys.job}=${name}` })).items;
  }

  async changed(jobId: string, timeoutMs: number): Promise<void> {
    const { namespace, name } = this.#split(jobId);
    const watch = this.#watchOf(namespace);
    await watch.started;
    await watch.changed(name, timeoutMs);
  }

  #watchOf(namespace: string): NamespaceWatch {
    let watch = this.#watches.get(namespace);
    if (!watch) {
      watch = new NamespaceWatch(this.#kubeConfig, namespace, this.#batch, this.#core, (job, pod, gone) => void this.#recordDisruption(namespace, job, pod, gone));
      this.#watches.set(namespace, watch);
    }
    return watch;
  }

  /**
   * See `disruptionAnnotationPrefix`: the count must outlive a deleted Pod. Best effort. `gone`:
   * the Pod's delete event, which records it only when no update before it did.
   */
  async #recordDisruption(namespace: string, job: string, pod: V1Pod, gone: boolean): Promise<void> {
    const uid = pod.metadata?.uid;
    const reason = pod.status?.conditions?.find((c) => c.type === 'DisruptionTarget')?.reason ?? 'disruption';
    if (!uid) return;
    if (gone) {
      if (this.#recorded.delete(uid)) return;
    } else {
      if (this.#recorded.has(uid)) return;
      this.#recorded.add(uid);
    }
    await this.#core
      .patchNamespacedConfigMap(
        { name: job, namespace, body: { metadata: { annotations: { [`${disruptionAnnotationPrefix}${uid}`]: `${pod.metadata?.name} ${reason}` } } }, fieldManager: this.#fieldManager },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      // No ConfigMap (the Job is being deleted): nothing left to count for.
      .catch(() => (gone ? undefined : this.#recorded.delete(uid)));
  }

  async cancel(jobId: string): Promise<void> {
    const { namespace, name } = this.#split(jobId);
    await this.#deleteAndWait(namespace, name);
  }

  /** Foreground deletion: the Job goes only after its Pods (and ConfigMap) are gone. */
  async #deleteAndWait(namespace: string, name: string): Promise<void> {
    await orUndefinedIf404(this.#batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Foreground' }));
    const deadline = Date.now() + (this.#options.cancelTimeoutMs ?? 120_000);
    const watch = this.#watchOf(namespace);
    await watch.started;
    for (;;) {
      const job = await orUndefinedIf404(this.#batch.readNamespacedJob({ name, namespace }));
      const pods = job ? [] : await this.#podsOf(namespace, name);
      if (!job && pods.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`Job ${namespace}/${name} is still there ${job ? 'itself' : `with ${pods.length} Pod(s)`} after deletion; see kubectl describe job ${name} -n ${namespace}`);
      }
      await watch.changed(name, 1000);
    }
  }

  /** Stops the watches (the worker's shutdown, a test's end). */
  async close(): Promise<void> {
    const watches = [...this.#watches.values()];
    this.#watches.clear();
    await Promise.all(watches.map((w) => w.stop()));
  }
}

const eventTime = (e: { lastTimestamp?: Date; eventTime?: Date; metadata: { creationTimestamp?: Date } }) =>
  new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0).getTime();

/** Kubeconfig from a file (TANDEM_KUBECONFIG) or, inside a cluster, the Pod's service account. */
export function loadKubeConfig(kubeconfigPath: string | undefined): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (kubeconfigPath) kubeConfig.loadFromFile(kubeconfigPath);
  else if (process.env.KUBERNETES_SERVICE_HOST) kubeConfig.loadFromCluster();
  else throw new Error('no kubeconfig: set TANDEM_KUBECONFIG, or run the worker inside a cluster (in-cluster service account)');
  return kubeConfig;
}

