/**
 * A cluster for route tests of /v1/tenants that keeps tenant objects in memory: an apply stores
 * copies of what it was sent, `edit` changes a live object as someone with kubectl would, and
 * `failWith` makes the next calls fail as an unreachable or refusing API server. The real API
 * server is exercised in services/tenants/cluster.kubernetes.test.ts.
 */
import type { TenantCluster } from '../../services/tenants/cluster.ts';
import type { LiveTenantObjects } from '../../services/tenants/drift.ts';
import type { KueueTarget } from '../../services/tenants/kueue-manifests.ts';
import type { TenantManifests } from '../../services/tenants/manifests.ts';

type Live = LiveTenantObjects;

export class FakeTenantCluster implements TenantCluster {
  readonly server = 'https://127.0.0.1:0';
  readonly namespaces = new Map<string, Live>();
  applies = 0;
  /** Set to play a cluster that serves Kueue. */
  kueueTarget: KueueTarget | null = null;
  #failure: Error | null = null;

  async kueue(): Promise<KueueTarget | null> {
    if (this.#failure) throw this.#failure;
    return this.kueueTarget;
  }

  failWith(err: Error | null): void {
    this.#failure = err;
  }

  async apply(m: TenantManifests): Promise<void> {
    if (this.#failure) throw this.#failure;
    this.applies += 1;
    const kueue = m.kueue
      ? { resourceFlavors: Object.fromEntries(m.kueue.resourceFlavors.map((f) => [f.metadata.name, f])), clusterQueue: m.kueue.clusterQueue, localQueue: m.kueue.localQueue }
      : undefined;
    this.namespaces.set(m.namespace.metadata.name, structuredClone({ namespace: m.namespace, resourceQuota: m.resourceQuota, limitRange: m.limitRange, ...(kueue ? { kueue } : {}) }));
  }

  async live(namespace: string): Promise<LiveTenantObjects> {
    if (this.#failure) throw this.#failure;
    return structuredClone(this.namespaces.get(namespace) ?? { namespace: null, resourceQuota: null, limitRange: null });
  }

  async deleteNamespace(namespace: string): Promise<void> {
    if (this.#failure) throw this.#failure;
    this.namespaces.delete(namespace);
  }

  /** Changes a live object in place, as a hand edit would. */
  edit(namespace: string, change: (live: Live) => void): void {
    const live = this.namespaces.get(namespace);
    if (!live) throw new Error(`no namespace ${namespace}`);
    change(live);
  }
}
