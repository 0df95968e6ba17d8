/**
 * The cluster side of tenants, on `@kubernetes/client-node`: server-side apply of a tenant's
 * objects under the field manager `tandem` (forced, so a re-apply takes back a field someone
 * edited by hand; applying the same objects twice changes nothing, not even the resourceVersion),
 * reading them back for drift, and deleting the namespace. Where the cluster serves kueue.x-k8s.io
 * (asked once, by discovery, unless `kueue: 'off'`) the tenant's Kueue objects go with them. Connection failures and refusals become
 * the API's 503 and 502 problems, so a route says which one happened.
 */
import { ApiException, ApisApi, KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { KubernetesRefusedError, KubernetesUnavailableError } from '../../shared/errors.ts';
import { defaultSpotPlacement, type SpotPlacement } from '../kubernetes/job-manifest.ts';
import { clusterServesKueue, kueueApiVersion } from '../kubernetes/kueue.ts';
import type { LiveKueueObjects, LiveTenantObjects } from './drift.ts';
import { flavorNames, type KueueTarget } from './kueue-manifests.ts';
import { fieldManager, tenantObjectName, type TenantManifests } from './manifests.ts';

/** What the tenant service needs of a cluster; tests without one pass none at all. */
export interface TenantCluster {
  /** Where it is, for messages (`https://127.0.0.1:6443`). */
  readonly server: string;
  /** Where the cluster runs Kueue: what its objects need (the tenant's manifests then include them); else null. */
  kueue(): Promise<KueueTarget | null>;
  apply(manifests: TenantManifests): Promise<void>;
  live(namespace: string): Promise<LiveTenantObjects>;
  /** Deletes the namespace and everything in it; a namespace that is gone already is fine. */
  deleteNamespace(namespace: string): Promise<void>;
}

function describeFailure(err: unknown, what: string, server: string): Error {
  if (err instanceof ApiException) {
    const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
    let message = body;
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      // not JSON: keep the text
    }
    if (err.code >= 500 || err.code === 429) return new KubernetesUnavailableError(`Kubernetes at ${server} could not ${what} (HTTP ${err.code}): ${message}`, { cause: err });
    return new KubernetesRefusedError(`Kubernetes at ${server} refused to ${what} (HTTP ${err.code}): ${message}`, { cause: err });
  }
  return new KubernetesUnavailableError(`cannot reach Kubernetes at ${server} to ${what}: ${networkReason(err)}`, { cause: err });
}

/** The innermost error code (`ECONNREFUSED`, `ENOTFOUND`, …) of a failed fetch, else its message. */
function networkReason(err: unknown): string {
  const messages: string[] = [];
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string') return `${e.code}${typeof e.message === 'string' ? ` (${e.message})` : ''}`;
    if (typeof e.message === 'string') messages.push(e.message);
  }
  return messages.join(': ') || String(err);
}

/**
 * The client's typed models name a LimitRange item's `default` `_default` (a reserved word in
 * their generator), and its serializer drops a key it does not know: a plain `default` would
 * vanish from the apply, and a read returns `_default`. The one renamed field among the objects
 * tandem applies, so it is renamed here, both ways, rather than every object being built as a model.
 */
type LimitItems = { limits?: Record<string, unknown>[] };
function renameLimitDefaults<T>(object: T, from: string, to: string): T {
  const spec = (object as { spec?: LimitItems } | null)?.spec;
  if (!spec?.limits) return object;
  return {
    ...object,
    spec: { ...spec, limits: spec.limits.map(({ [from]: value, ...rest }) => (value === undefined ? rest : { ...rest, [to]: value })) },
  } as T;
}

const isNotFound = (err: unknown) => err instanceof ApiException && err.code === 404;

export interface KubernetesTenantClusterOptions {
  /** `auto` (default): Kueue objects where the cluster serves kueue.x-k8s.io; `off`: never (as the job runner's setting). */
  kueue?: 'auto' | 'off';
  /** The LocalQueue name the job runner labels Jobs with (`kubernetes.kueueLocalQueue`). */
  localQueue?: string;
  /** The spot nodes' label and taint, for the spot flavor (`kubernetes.spotNodeLabel`, `spotTaint`). */
  spot?: SpotPlacement;
}

export class KubernetesTenantCluster implements TenantCluster {
  readonly server: string;
  readonly #api: KubernetesObjectApi;
  readonly #kc: KubeConfig;
  readonly #options: KubernetesTenantClusterOptions;
  #kueue: Promise<KueueTarget | null> | undefined;

  constructor(kc: KubeConfig, options: KubernetesTenantClusterOptions = {}) {
    this.server = kc.getCurrentCluster()?.server ?? '(no server in the kubeconfig)';
    this.#api = KubernetesObjectApi.makeApiClient(kc);
    this.#kc = kc;
    this.#options = options;
  }

  kueue(): Promise<KueueTarget | null> {
    if (this.#options.kueue === 'off') return Promise.resolve(null);
    const target = { localQueue: this.#options.localQueue ?? 'tandem', spot: this.#options.spot ?? defaultSpotPlacement };
    this.#kueue ??= this.#kc
      .makeApiClient(ApisApi)
      .getAPIVersions()
      .then((groups) => (clusterServesKueue(groups.groups) ? target : null))
      .catch((err: unknown) => {
        // Not cached: the next call asks again once the cluster answers.
        this.#kueue = undefined;
        throw describeFailure(err, 'discover its API groups', this.server);
      });
    return this.#kueue;
  }

  async #apply(object: KubernetesObject): Promise<void> {
    await this.#api.patch(object, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
  }

  async apply(manifests: TenantManifests): Promise<void> {
    const namespace = manifests.namespace.metadata.name;
    try {
      // The namespace first: the other two live in it.
      await this.#apply(manifests.namespace);
      await this.#apply(manifests.resourceQuota);
      if (manifests.limitRange) await this.#apply(renameLimitDefaults(manifests.limitRange, 'default', '_default'));
      else await this.#api.delete(limitRangeRef(namespace)).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
      if (manifests.kueue) {
        // Flavors before the ClusterQueue that names them, the ClusterQueue before its LocalQueue.
        for (const flavor of manifests.kueue.resourceFlavors) await this.#apply(flavor);
        await this.#apply(manifests.kueue.clusterQueue);
        await this.#apply(manifests.kueue.localQueue);
      }
    } catch (err) {
      throw describeFailure(err, `apply tenant objects in namespace ${namespace}`, this.server);
    }
  }

  async live(namespace: string): Promise<LiveTenantObjects> {
    const read = async <T>(ref: KubernetesObject): Promise<T | null> => {
      try {
        return (await this.#api.read(ref as never)) as T;
      } catch (err) {
        if (isNotFound(err)) return null;
        throw describeFailure(err, `read ${ref.kind} ${ref.metadata?.name} in namespace ${namespace}`, this.server);
      }
    };
    const [ns, resourceQuota, limitRange] = await Promise.all([
      read<LiveTenantObjects['namespace']>({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }),
      read<LiveTenantObjects['resourceQuota']>({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: tenantObjectName, namespace } }),
      read<LiveTenantObjects['limitRange']>(limitRangeRef(namespace)),
    ]);
    const target = await this.kueue();
    let kueue: LiveKueueObjects | undefined;
    if (target) {
      const [onDemand, spot, clusterQueue, localQueue] = await Promise.all([
        read<{ spec?: { nodeLabels?: Record<string, string> } }>(kueueRef('ResourceFlavor', flavorNames.onDemand)),
        read<{ spec?: { nodeLabels?: Record<string, string> } }>(kueueRef('ResourceFlavor', flavorNames.spot)),
        read<LiveKueueObjects['clusterQueue']>(kueueRef('ClusterQueue', namespace)),
        read<LiveKueueObjects['localQueue']>(kueueRef('LocalQueue', target.localQueue, namespace)),
      ]);
      kueue = { resourceFlavors: { [flavorNames.onDemand]: onDemand, [flavorNames.spot]: spot }, clusterQueue, localQueue };
    }
    return { namespace: ns, resourceQuota, limitRange: renameLimitDefaults(limitRange, '_default', 'default'), ...(kueue ? { kueue } : {}) };
  }

  async deleteNamespace(namespace: string): Promise<void> {
    try {
      // The department's ClusterQueue is cluster-scoped, so the namespace does not take it along;
      // Kueue keeps it (finalizer) until the namespace's Workloads are gone. The flavors are shared.
      if (await this.kueue()) {
        await this.#api.delete(kueueRef('ClusterQueue', namespace)).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      }
      await this.#api.delete({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }, undefined, undefined, undefined, undefined, 'Foreground');
    } catch (err) {
      if (isNotFound(err)) return;
      throw describeFailure(err, `delete namespace ${namespace}`, this.server);
    }
  }
}

const kueueRef = (kind: string, name: string, namespace?: string): KubernetesObject => ({ apiVersion: kueueApiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } });
const limitRangeRef = (namespace: string): KubernetesObject => ({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: tenantObjectName, namespace } });
