/**
 * Drift: where the cluster differs from what tandem applied for a tenant. Only fields tandem sets
 * are compared (manifests.ts), so another manager's additions are not drift; a field tandem set
 * that someone changed or removed is, and so is an object that is gone. Quantities compare by
 * value, since the API server returns them in canonical form. A re-apply (server-side, forced)
 * takes those fields back. Pure.
 */
import type { DriftItem } from '../../shared/contracts/tenants.ts';
import type { FlavorQuota, KueueManifests } from './kueue-manifests.ts';
import type { TenantManifests } from './manifests.ts';
import { sameQuantity } from './quantity.ts';

/** The live objects as the API server returns them; null for one that does not exist. */
export interface LiveTenantObjects {
  namespace: { metadata?: { labels?: Record<string, string> } } | null;
  resourceQuota: { spec?: { hard?: Record<string, string> } } | null;
  limitRange: { spec?: { limits?: { type?: string; default?: Record<string, string>; defaultRequest?: Record<string, string> }[] } } | null;
  /** Read only where the cluster serves Kueue (the manifests then have `kueue`). */
  kueue?: LiveKueueObjects;
}

export interface LiveKueueObjects {
  /** By name, the flavors tandem applies. */
  resourceFlavors: Record<string, { spec?: { nodeLabels?: Record<string, string> } } | null>;
  clusterQueue: { spec?: { cohortName?: string; resourceGroups?: { flavors?: { name: string; resources?: { name: string; nominalQuota?: string | number }[] }[] }[] } } | null;
  localQueue: { spec?: { clusterQueue?: string } } | null;
}

const field = (key: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`);

function compareMap(
  out: DriftItem[],
  object: string,
  prefix: string,
  applied: Record<string, string>,
  live: Record<string, string> | undefined,
  same: (a: string, b: string) => boolean,
): void {
  for (const [key, value] of Object.entries(applied)) {
    const current = live?.[key];
    if (current === undefined || !same(value, current)) out.push({ object, path: `${prefix}${field(key)}`, applied: value, live: current ?? null });
  }
}

const missing = (object: string): DriftItem => ({ object, path: '(object)', applied: 'present', live: null });

export function tenantDrift(applied: TenantManifests, live: LiveTenantObjects): DriftItem[] {
  const out: DriftItem[] = [];
  const ns = `Namespace/${applied.namespace.metadata.name}`;
  if (!live.namespace) out.push(missing(ns));
  else compareMap(out, ns, 'metadata.labels', applied.namespace.metadata.labels, live.namespace.metadata?.labels, (a, b) => a === b);

  const rq = `ResourceQuota/${applied.resourceQuota.metadata.name}`;
  if (!live.resourceQuota) out.push(missing(rq));
  else compareMap(out, rq, 'spec.hard', applied.resourceQuota.spec.hard, live.resourceQuota.spec?.hard, sameQuantity);

  if (applied.limitRange) {
    const lr = `LimitRange/${applied.limitRange.metadata.name}`;
    const wanted = applied.limitRange.spec.limits[0];
    const container = live.limitRange?.spec?.limits?.find((l) => l.type === 'Container');
    if (!live.limitRange) out.push(missing(lr));
    else {
      compareMap(out, lr, 'spec.limits[type=Container].default', wanted.default ?? {}, container?.default, sameQuantity);
      compareMap(out, lr, 'spec.limits[type=Container].defaultRequest', wanted.defaultRequest ?? {}, container?.defaultRequest, sameQuantity);
    }
  }
  if (applied.kueue) kueueDrift(out, applied.kueue, live.kueue);
  return out;
}

/** The quota numbers, cohort, flavors' node labels and the LocalQueue's target: what decides admission. */
function kueueDrift(out: DriftItem[], applied: KueueManifests, live: LiveKueueObjects | undefined): void {
  for (const flavor of applied.resourceFlavors) {
    const object = `ResourceFlavor/${flavor.metadata.name}`;
    const current = live?.resourceFlavors[flavor.metadata.name];
    if (!current) out.push(missing(object));
    else compareMap(out, object, 'spec.nodeLabels', flavor.spec.nodeLabels ?? {}, current.spec?.nodeLabels, (a, b) => a === b);
  }
  const cq = `ClusterQueue/${applied.clusterQueue.metadata.name}`;
  const queue = live?.clusterQueue;
  if (!queue) out.push(missing(cq));
  else {
    compareMap(out, cq, 'spec', { cohortName: applied.clusterQueue.spec.cohortName }, { cohortName: queue.spec?.cohortName ?? '' }, (a, b) => a === b);
    const liveFlavors = queue.spec?.resourceGroups?.[0]?.flavors ?? [];
    for (const flavor of applied.clusterQueue.spec.resourceGroups[0].flavors) {
      const prefix = `spec.resourceGroups[0].flavors[name=${flavor.name}]`;
      const current = liveFlavors.find((f) => f.name === flavor.name);
      if (!current) {
        out.push({ object: cq, path: prefix, applied: 'present', live: null });
        continue;
      }
      const nominal = (f: FlavorQuota | typeof current) =>
        Object.fromEntries((f.resources ?? []).filter((r) => r.nominalQuota !== undefined).map((r) => [r.name, String(r.nominalQuota)]));
      compareMap(out, cq, `${prefix}.nominalQuota`, nominal(flavor), nominal(current), sameQuantity);
    }
  }
  const lq = `LocalQueue/${applied.localQueue.metadata.name}`;
  if (!live?.localQueue) out.push(missing(lq));
  else compareMap(out, lq, 'spec', { clusterQueue: applied.localQueue.spec.clusterQueue }, { clusterQueue: live.localQueue.spec?.clusterQueue ?? '' }, (a, b) => a === b);
}
