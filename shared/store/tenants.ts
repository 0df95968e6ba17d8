/**
 * Tenants (see shared/contracts/tenants.ts): one row per department, its spec as the admin last
 * set it, and how the last apply to the cluster went. A tenant is deleted for good: nothing else
 * in the store refers to it (workflows, keys and audit entries name the department, not the row).
 * Pure: types only.
 */
import type { ClusterApplyStatus, TenantSpec } from '../contracts/tenants.ts';

export interface TenantRecord {
  department: string;
  /** Resolved: the spec's namespace or its default. Unique across tenants. */
  namespace: string;
  spec: TenantSpec;
  createdAt: string;
  updatedAt: string;
  updatedBy: string;
  cluster: ClusterApplyStatus;
}

export interface TenantStore {
  /**
   * Creates or replaces the department's tenant (its cluster status is reset to `cluster`).
   * Throws `NamespaceTakenError` when another department's tenant has this namespace.
   */
  put(t: { department: string; namespace: string; spec: TenantSpec; updatedBy: string; cluster: ClusterApplyStatus }): Promise<{ record: TenantRecord; created: boolean }>;
  get(department: string): Promise<TenantRecord | undefined>;
  /** By department, ascending; `department` narrows to one (a department-scoped caller's own). */
  list(q: { department?: string; after?: string; limit: number }): Promise<TenantRecord[]>;
  /** Records how an apply to the cluster went. */
  setClusterStatus(department: string, cluster: ClusterApplyStatus): Promise<void>;
  /** True when there was a tenant. */
  delete(department: string): Promise<boolean>;
}

export class NamespaceTakenError extends Error {
  override name = 'NamespaceTakenError';
  readonly namespace: string;
  readonly department: string;
  constructor(namespace: string, department: string) {
    super(`namespace ${namespace} already belongs to department ${department}`);
    this.namespace = namespace;
    this.department = department;
  }
}
