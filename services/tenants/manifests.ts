/**
 * A tenant as the Kubernetes objects tandem owns for it: the Namespace (with tandem's labels), a
 * ResourceQuota and, when the tenant sets one, a LimitRange, each named `tandem` inside the
 * namespace; on a cluster with Kueue also its flavors, ClusterQueue and LocalQueue
 * (kueue-manifests.ts), and then the ResourceQuota keeps only `pods`: cpu, memory and GPUs are
 * Kueue's quota, which a department may exceed by borrowing what another leaves unused, and a
 * ResourceQuota of the same numbers would refuse the Pods of a Job Kueue admitted that way. Server-side apply sends exactly these, under the field manager `tandem`, so they are
 * also what drift is measured against: a field tandem does not set here is not tandem's to report.
 * Pure: plain objects, no client.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { gpuResource } from '../../shared/contracts/gpu-batch.ts';
import type { TenantSpec } from '../../shared/contracts/tenants.ts';
import { kueueManifests, type KueueManifests, type KueueTarget } from './kueue-manifests.ts';

export const fieldManager = 'tandem';
/** The ResourceQuota and the LimitRange tandem applies in a tenant's namespace. */
export const tenantObjectName = 'tandem';

export const tenantLabels = {
  managedBy: 'app.kubernetes.io/managed-by',
  department: 'tandem.dev/department',
  region: 'tandem.dev/region',
  spotAllowed: 'tandem.dev/spot-allowed',
} as const;

export interface NamespaceManifest extends KubernetesObject {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: { name: string; labels: Record<string, string> };
}

export interface ResourceQuotaManifest extends KubernetesObject {
  apiVersion: 'v1';
  kind: 'ResourceQuota';
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: { hard: Record<string, string> };
}

export interface LimitRangeManifest extends KubernetesObject {
  apiVersion: 'v1';
  kind: 'LimitRange';
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: { limits: [{ type: 'Container'; default?: Record<string, string>; defaultRequest?: Record<string, string> }] };
}

export interface TenantManifests {
  namespace: NamespaceManifest;
  resourceQuota: ResourceQuotaManifest;
  /** Null: the tenant sets no LimitRange, and an earlier one of tandem's is removed. */
  limitRange: LimitRangeManifest | null;
  /** Null: the cluster serves no Kueue. */
  kueue: KueueManifests | null;
}

const compact = (r: Record<string, string | number | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));

/** `kueue`: the cluster serves kueue.x-k8s.io (KubernetesTenantCluster.kueue()). */
export function tenantManifests(department: string, namespace: string, spec: TenantSpec, kueue: KueueTarget | null = null): TenantManifests {
  const managed = { [tenantLabels.managedBy]: fieldManager };
  const owned = { ...managed, [tenantLabels.department]: department };
  const { requests, limits, pods } = spec.quota;
  // Kubernetes quotas an extended resource by its requests only (`limits.nvidia.com/gpu` is not a
  // quota item); GPU Pods request their limit, so the one number bounds both.
  const hard = compact(
    kueue
      ? { pods }
      : {
          'requests.cpu': requests.cpu,
          'requests.memory': requests.memory,
          [`requests.${gpuResource}`]: requests[gpuResource],
          'limits.cpu': limits.cpu,
          'limits.memory': limits.memory,
          pods,
        },
  );
  const lr = spec.limitRange;
  const defaults = lr ? compact(lr.default) : {};
  const defaultRequests = lr ? compact(lr.defaultRequest) : {};
  return {
    namespace: {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace, labels: { ...owned, [tenantLabels.region]: spec.region, [tenantLabels.spotAllowed]: String(spec.spotAllowed) } },
    },
    resourceQuota: { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: tenantObjectName, namespace, labels: owned }, spec: { hard } },
    limitRange:
      lr && (Object.keys(defaults).length > 0 || Object.keys(defaultRequests).length > 0)
        ? {
            apiVersion: 'v1',
            kind: 'LimitRange',
            metadata: { name: tenantObjectName, namespace, labels: owned },
            spec: {
              limits: [
                {
                  type: 'Container',
                  ...(Object.keys(defaults).length > 0 ? { default: defaults } : {}),
                  ...(Object.keys(defaultRequests).length > 0 ? { defaultRequest: defaultRequests } : {}),
                },
              ],
            },
          }
        : null,
    kueue: kueue ? kueueManifests(namespace, spec, kueue, { managed, owned }) : null,
  };
}
