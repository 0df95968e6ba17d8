/**
 * Whether a Job's Pod fits its namespace's ResourceQuotas, from their `hard` and `used`, checked
 * before the Job is created: without it the Job controller's Pod creation is refused over and over
 * (a FailedCreate event on the Job, nothing else) and the flow would wait with nothing to show.
 * Pure.
 */
import type { V1ResourceQuota } from '@kubernetes/client-node';
import { formatQuantity, quantityValue } from '../../shared/contracts/kubernetes.ts';

/** What one Pod of the Job asks for: requests = limits, so both quota spellings count the same. */
export type PodDemand = Record<string, string>;

/** The quota keys a Pod with these resources counts against, with the amount it adds. */
function quotaKeys(demand: PodDemand): Map<string, number> {
  const keys = new Map<string, number>([['pods', 1]]);
  for (const [resource, quantity] of Object.entries(demand)) {
    const value = quantityValue(quantity);
    keys.set(`requests.${resource}`, value);
    // Extended resources (nvidia.com/gpu) have only the requests. form; cpu and memory also the bare and limits. forms.
    if (resource === 'cpu' || resource === 'memory') {
      keys.set(resource, value);
      keys.set(`limits.${resource}`, value);
    }
  }
  return keys;
}

/**
 * One line per quota key the Pod would overflow, e.g.
 * `requests.nvidia.com/gpu: requested 4, used 6, limit 8 in namespace tandem-radiology`.
 * Quotas with scopes are counted too: a GPU Job is rarely out of a scope, and a false alarm names
 * the quota it read.
 */
export function quotaShortfalls(quotas: readonly V1ResourceQuota[], demand: PodDemand, namespace: string): string[] {
  const wanted = quotaKeys(demand);
  const lines: string[] = [];
  for (const quota of quotas) {
    const hard = quota.status?.hard ?? quota.spec?.hard ?? {};
    const used = quota.status?.used ?? {};
    for (const [key, amount] of wanted) {
      const limit = hard[key];
      if (limit === undefined) continue;
      const limitValue = quantityValue(limit);
      const usedValue = used[key] === undefined ? 0 : quantityValue(used[key]);
      if (usedValue + amount > limitValue) {
        const resource = key.replace(/^(requests|limits)\./, '');
        lines.push(
          `${key}: requested ${formatQuantity(amount, resource)}, used ${formatQuantity(usedValue, resource)}, limit ${formatQuantity(limitValue, resource)} in namespace ${namespace}` +
            (quotas.length > 1 ? ` (ResourceQuota ${quota.metadata?.name})` : ''),
        );
      }
    }
  }
  return lines;
}
