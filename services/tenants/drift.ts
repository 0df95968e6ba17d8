/**
 * Drift: where the cluster differs from what tandem applied for a tenant. Only fields tandem sets
 * are compared (manifests.ts), so another manager's additions are not drift; a field tandem set
 * that someone changed or removed is, and so is an object that is gone. Quantities compare by
 * value, since the API server returns them in canonical form. A re-apply (server-side, forced)
 * takes those fields back. Pure.
 */
import type { DriftItem } from '../../shared/contracts/tenants.ts';
import type { TenantManifests } from './manifests.ts';
import { sameQuantity } from './quantity.ts';

/** The live objects as the API server returns them; null for one that does not exist. */
export interface LiveTenantObjects {
  namespace: { metadata?: { labels?: Record<string, string> } } | null;
  resourceQuota: { spec?: { hard?: Record<string, string> } } | null;
  limitRange: { spec?: { limits?: { type?: string; default?: Record<string, string>; defaultRequest?: Record<string, string> }[] } } | null;
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
  return out;
}
