/**
 * A tenant as Kueue objects, for a cluster that serves kueue.x-k8s.io (Kueue v0.17, API v1beta2):
 *
 *   ResourceFlavor `tandem-on-demand`   the on-demand nodes (no label: every node without the taint)
 *   ResourceFlavor `tandem-spot`        the spot nodes: their label (Kueue puts it in the Pod's
 *                                       nodeSelector) and their taint (only Pods that tolerate it —
 *                                       tandem's spot Jobs — may be given this flavor)
 *   ClusterQueue `<namespace>`          the department's quota as nominalQuota per flavor (spot only
 *                                       when the tenant allows spot), only its namespace may submit,
 *                                       in the cohort `tandem`: unused nominal quota is lent to the
 *                                       other departments and reclaimed (their borrowing Workloads
 *                                       preempted) when the owner needs it; fair-sharing weight 1
 *   LocalQueue `<localQueue>`           in the namespace, the name the job runner labels Jobs with
 *
 * The spot flavor has no `tolerations`: Kueue counts a flavor's tolerations as tolerating its own
 * taint and adds them to every Pod it admits there, which would put any Job — latency-sensitive
 * ones too — on spot nodes. Flavors are shared by all tenants (cluster-scoped, one spelling).
 * Pure: plain objects, no client.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { gpuResource } from '../../shared/contracts/gpu-batch.ts';
import type { TenantSpec } from '../../shared/contracts/tenants.ts';
import type { SpotPlacement } from '../kubernetes/job-manifest.ts';
import { kueueApiVersion } from '../kubernetes/kueue.ts';

export const kueueCohort = 'tandem';
export const flavorNames = { onDemand: 'tandem-on-demand', spot: 'tandem-spot' } as const;

/** What the cluster side knows of Kueue: the LocalQueue name the runner uses, and the spot nodes. */
export interface KueueTarget {
  localQueue: string;
  spot: SpotPlacement;
}

/** The resources the ClusterQueue covers; a Job asking for one it does not cover is never admitted. */
export const coveredResources = ['cpu', 'memory', gpuResource] as const;
type Covered = (typeof coveredResources)[number];

/**
 * A resource the tenant sets no quota for has no limit (as without the ResourceQuota item), but
 * Kueue must cover it: a nominal quota no department reaches, lent to nobody (lendingLimit 0), so
 * it does not swell the cohort's pool.
 */
export const unboundedQuota: Record<Covered, string> = { cpu: '1M', memory: '1Pi', [gpuResource]: '1M' };

interface KueueMeta {
  name: string;
  namespace?: string;
  labels: Record<string, string>;
}

export interface ResourceFlavorManifest extends KubernetesObject {
  apiVersion: typeof kueueApiVersion;
  kind: 'ResourceFlavor';
  metadata: KueueMeta;
  spec: { nodeLabels?: Record<string, string>; nodeTaints?: { key: string; value: string; effect: string }[] };
}

export interface FlavorQuota {
  name: string;
  resources: { name: Covered; nominalQuota: string; lendingLimit?: string }[];
}

export interface ClusterQueueManifest extends KubernetesObject {
  apiVersion: typeof kueueApiVersion;
  kind: 'ClusterQueue';
  metadata: KueueMeta;
  spec: {
    cohortName: string;
    namespaceSelector: { matchLabels: Record<string, string> };
    queueingStrategy: 'BestEffortFIFO';
    resourceGroups: [{ coveredResources: Covered[]; flavors: FlavorQuota[] }];
    preemption: { reclaimWithinCohort: 'Any'; withinClusterQueue: 'Never' };
    fairSharing: { weight: string };
  };
}

export interface LocalQueueManifest extends KubernetesObject {
  apiVersion: typeof kueueApiVersion;
  kind: 'LocalQueue';
  metadata: KueueMeta & { namespace: string };
  spec: { clusterQueue: string };
}

export interface KueueManifests {
  resourceFlavors: ResourceFlavorManifest[];
  clusterQueue: ClusterQueueManifest;
  localQueue: LocalQueueManifest;
}

/**
 * `labels.managed` marks the shared flavors as tandem's; `labels.owned` (managed-by and the
 * department) marks the department's ClusterQueue and LocalQueue.
 */
export function kueueManifests(
  namespace: string,
  spec: TenantSpec,
  target: KueueTarget,
  labels: { managed: Record<string, string>; owned: Record<string, string> },
): KueueManifests {
  const { owned, managed } = labels;
  const { requests } = spec.quota;
  const quotaOf = (resource: Covered): FlavorQuota['resources'][number] => {
    const value = requests[resource];
    return value === undefined ? { name: resource, nominalQuota: unboundedQuota[resource], lendingLimit: '0' } : { name: resource, nominalQuota: String(value) };
  };
  // Each flavor gets the tenant's quota: Kueue counts quota per flavor, so a department that may
  // use spot may hold its quota on on-demand nodes and again on spot ones.
  const flavorQuota = (name: string): FlavorQuota => ({ name, resources: coveredResources.map(quotaOf) });
  const { label, taint } = target.spot;
  return {
    resourceFlavors: [
      { apiVersion: kueueApiVersion, kind: 'ResourceFlavor', metadata: { name: flavorNames.onDemand, labels: managed }, spec: {} },
      {
        apiVersion: kueueApiVersion,
        kind: 'ResourceFlavor',
        metadata: { name: flavorNames.spot, labels: managed },
        spec: { nodeLabels: { [label.key]: label.value }, nodeTaints: [{ key: taint.key, value: taint.value, effect: taint.effect }] },
      },
    ],
    clusterQueue: {
      apiVersion: kueueApiVersion,
      kind: 'ClusterQueue',
      metadata: { name: namespace, labels: owned },
      spec: {
        cohortName: kueueCohort,
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
        queueingStrategy: 'BestEffortFIFO',
        resourceGroups: [
          { coveredResources: [...coveredResources], flavors: [flavorQuota(flavorNames.onDemand), ...(spec.spotAllowed ? [flavorQuota(flavorNames.spot)] : [])] },
        ],
        preemption: { reclaimWithinCohort: 'Any', withinClusterQueue: 'Never' },
        fairSharing: { weight: '1' },
      },
    },
    localQueue: {
      apiVersion: kueueApiVersion,
      kind: 'LocalQueue',
      metadata: { name: target.localQueue, namespace, labels: owned },
      spec: { clusterQueue: namespace },
    },
  };
}
