/**
 * Which namespace a department's jobs run in. The tenants resource (`/v1/tenants`, being built)
 * will own this mapping; until it lands the runner asks this resolver, which the tenants code
 * can replace by passing its own to the runner (`namespaceFor` option). Pure.
 */
export type NamespaceResolver = (department: string) => string;

export const defaultNamespacePrefix = 'tandem-';

/** `radiology` → `tandem-radiology` (the prefix is TANDEM_KUBERNETES_NAMESPACE_PREFIX). */
export function namespaceFor(department: string, prefix = defaultNamespacePrefix): string {
  return `${prefix}${department}`;
}

/** The LocalQueue a department's GPU Jobs are queued in where the cluster runs Kueue. */
export type LocalQueueResolver = (department: string) => string;
