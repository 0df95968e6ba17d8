/**
 * What the job runner (and the tenants' cluster side) need to know of Kueue: whether a cluster
 * serves it, and what Kueue says about a Job it holds. Kueue makes one Workload per Job (owned by
 * it, labelled with its uid); while the Job is suspended the Workload's conditions say why:
 * `QuotaReserved` False with the flavor assigner's message ("insufficient unused quota for
 * nvidia.com/gpu in flavor tandem-on-demand, 1 more needed", "LocalQueue tandem doesn't exist"),
 * or `Evicted` True when Kueue took the quota back (preempted to reclaim it within the cohort).
 * Pure.
 */
export const kueueApiGroup = 'kueue.x-k8s.io';
export const kueueApiVersion = `${kueueApiGroup}/v1beta2`;
/** The label Kueue puts on a Job's Workload. */
export const workloadJobUidLabel = 'kueue.x-k8s.io/job-uid';

/** Discovery says whether Kueue's API group is served. */
export function clusterServesKueue(groups: readonly { name: string }[]): boolean {
  return groups.some((g) => g.name === kueueApiGroup);
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** The parts of a Workload tandem reads. */
export interface KueueWorkload {
  metadata?: { name?: string; creationTimestamp?: string | Date };
  status?: { conditions?: Condition[] };
}

/** Kueue's reason for holding a suspended Job, from its Workload; undefined when it has said nothing yet. */
export function kueueHoldReason(workload: KueueWorkload | undefined): string | undefined {
  if (!workload) return undefined;
  const conditions = workload.status?.conditions ?? [];
  const find = (type: string, status: string) => conditions.find((c) => c.type === type && c.status === status);
  const evicted = find('Evicted', 'True');
  const pending = find('QuotaReserved', 'False');
  if (evicted && !find('QuotaReserved', 'True')) {
    // After an eviction QuotaReserved often repeats the eviction's message: said once.
    const since = pending?.message && pending.message !== evicted.message ? `; ${pending.message}` : '';
    return `evicted by Kueue (${evicted.reason ?? 'Evicted'}): ${evicted.message ?? ''}`.trim() + since;
  }
  if (pending?.message) return pending.message;
  if (find('QuotaReserved', 'True') && !find('Admitted', 'True')) return 'quota reserved, waiting for admission checks';
  return undefined;
}
