/**
 * The tenant domain behind `/v1/tenants`: create, replace, read (with drift), list, re-apply and
 * delete a department's tenant, and apply it to the cluster when this API has one.
 *
 * Who may do what: anyone may read their own department's tenant (another department's reads as
 * 404, like every resource); changing one takes an admin key of scope `*`. A tenant is the
 * platform team's fence around a department — its quota most of all — so a department's own
 * admin may read it but not move it.
 *
 * Order of a change: the spec is stored first (state `pending`), then applied; the outcome is
 * recorded (`applied` or `failed` with the reason), and a failed apply answers 503/502 after the
 * spec is safe, so retrying the same request (or `POST …/apply`) finishes the job.
 */
import type { Principal } from '../../shared/contracts/principal.ts';
import { allDepartments, departmentFilterOf, scopeIncludes } from '../../shared/contracts/roles.ts';
import { type ClusterApplyStatus, type TenantDetail, type TenantSpec, type TenantView } from '../../shared/contracts/tenants.ts';
import { ConflictError, ForbiddenError, NotFoundError, TandemError, ValidationError } from '../../shared/errors.ts';
import { auditActorOf, type AuditLog } from '../../shared/store/audit-log.ts';
import { NamespaceTakenError, type TenantRecord, type TenantStore } from '../../shared/store/tenants.ts';
import type { NamespaceResolver } from '../kubernetes/namespaces.ts';
import type { TenantCluster } from './cluster.ts';
import { tenantDrift } from './drift.ts';
import { tenantManifests } from './manifests.ts';

export interface TenantLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface TenantServiceOptions {
  tenants: TenantStore;
  /** Every change is audited under the department: who moved its quota, and to what. */
  audit: Pick<AuditLog, 'append'>;
  /** Null: tenants are stored and used for settings, but applied to no cluster (`no-cluster`). */
  cluster: TenantCluster | null;
  /** A tenant without a namespace of its own gets the one the job runner would pick (services/kubernetes/namespaces.ts). */
  defaultNamespace: NamespaceResolver;
  /** The data-residency regions this API serves (shared/regions.ts): a tenant may name only these. */
  regions: readonly string[];
  log: TenantLogger;
  now?: () => Date;
}

export function tenantView(r: TenantRecord): TenantView {
  const { spec } = r;
  return {
    department: r.department,
    namespace: r.namespace,
    quota: spec.quota,
    limitRange: spec.limitRange ?? null,
    offPeak: spec.offPeak ?? null,
    gpuPeakPolicy: spec.gpuPeakPolicy,
    spotAllowed: spec.spotAllowed,
    llmTokenBudget: spec.llmTokenBudget,
    region: spec.region,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    updatedBy: r.updatedBy,
    cluster: r.cluster,
  };
}

export class TenantService {
  readonly #tenants: TenantStore;
  readonly #audit: Pick<AuditLog, 'append'>;
  readonly #cluster: TenantCluster | null;
  readonly #defaultNamespace: NamespaceResolver;
  readonly #regions: readonly string[];
  readonly #log: TenantLogger;
  readonly #now: () => Date;

  constructor(options: TenantServiceOptions) {
    this.#tenants = options.tenants;
    this.#audit = options.audit;
    this.#cluster = options.cluster;
    this.#defaultNamespace = options.defaultNamespace;
    this.#regions = options.regions;
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
  }

  /** Create or replace (`create`: only create, 409 when it exists); `created` tells 201 from 200. */
  async put(department: string, spec: TenantSpec, principal: Principal, options: { create?: boolean } = {}): Promise<{ created: boolean; tenant: TenantDetail }> {
    this.#mayChange(principal, department);
    if (!this.#regions.includes(spec.region)) {
      throw new ValidationError(`region ${spec.region} is not served by this API`, [
        { path: 'body.region', message: `must be a configured region (${this.#regions.join(', ')}); add ${spec.region}=host:port/namespace to TANDEM_REGIONS to serve it` },
      ]);
    }
    const namespace = spec.namespace ?? this.#defaultNamespace(department);
    const existing = await this.#tenants.get(department);
    if (existing && options.create) throw new ConflictError(`department ${department} already has a tenant; PUT /v1/tenants/${department} replaces it`);
    if (existing && existing.namespace !== namespace) {
      // Moving a department would leave its Jobs, and their quota, behind in the old namespace.
      throw new ConflictError(`tenant ${department} lives in namespace ${existing.namespace}; its namespace cannot change (delete the tenant and create it again to move it)`);
    }
    if (existing && existing.spec.region !== spec.region) {
      // Its workflows, hand-offs and reviews live in the old region's history and are found there
      // by the department's region: moving it would strand them.
      throw new ConflictError(`tenant ${department} is in region ${existing.spec.region}; its region cannot change while its flows live there`);
    }
    let saved;
    try {
      saved = await this.#tenants.put({ department, namespace, spec, updatedBy: principal.name, cluster: this.#pending() });
    } catch (err) {
      if (err instanceof NamespaceTakenError) throw new ConflictError(`namespace ${namespace} already belongs to department ${err.department}`, { cause: err });
      throw err;
    }
    this.#log.info({ department, namespace, created: saved.created }, 'tenant saved');
    await this.#audit.append({
      actor: auditActorOf(principal),
      department,
      subject: `tenant:${department}`,
      event: 'tenant-changed',
      details: { created: saved.created, namespace, spec },
    });
    const record = await this.#apply(saved.record);
    return { created: saved.created, tenant: await this.#withDrift(record) };
  }

  /** One tenant with its drift: what differs on the cluster from what tandem applied. */
  async get(department: string, principal: Principal): Promise<TenantDetail> {
    return this.#withDrift(await this.#visible(department, principal));
  }

  /** Ascending by department; a department-scoped key sees its own only. */
  async list(principal: Principal, page: { after?: string; limit: number }): Promise<TenantRecord[]> {
    return this.#tenants.list({ ...departmentFilterOf(principal.department), ...page });
  }

  /** Applies the stored spec again: what repairs drift without resending the spec. */
  async reapply(department: string, principal: Principal): Promise<TenantDetail> {
    this.#mayChange(principal, department);
    const record = await this.#visible(department, principal);
    return this.#withDrift(await this.#apply(record));
  }

  /** Deletes the tenant, and its namespace with everything in it when there is a cluster. */
  async delete(department: string, principal: Principal): Promise<void> {
    this.#mayChange(principal, department);
    const record = await this.#visible(department, principal);
    // The namespace first: if the cluster is down the tenant stays, and a retry deletes both.
    if (this.#cluster) await this.#cluster.deleteNamespace(record.namespace);
    await this.#tenants.delete(department);
    await this.#audit.append({ actor: auditActorOf(principal), department, subject: `tenant:${department}`, event: 'tenant-deleted', details: { namespace: record.namespace } });
    this.#log.info({ department, namespace: record.namespace }, 'tenant deleted');
  }

  /** Read back after an apply too: what the cluster has, not what tandem hopes it has. */
  async #withDrift(record: TenantRecord): Promise<TenantDetail> {
    if (!this.#cluster) return { ...tenantView(record), drift: null };
    const [kueue, live] = await Promise.all([this.#cluster.kueue(), this.#cluster.live(record.namespace)]);
    return { ...tenantView(record), drift: tenantDrift(tenantManifests(record.department, record.namespace, record.spec, kueue), live) };
  }

  #pending(): ClusterApplyStatus {
    return this.#cluster ? { state: 'pending', at: null, message: null } : { state: 'no-cluster', at: null, message: null };
  }

  async #apply(record: TenantRecord): Promise<TenantRecord> {
    if (!this.#cluster) return record;
    const at = this.#now().toISOString();
    try {
      // With Kueue the tenant's flavors, ClusterQueue and LocalQueue go too (manifests.ts).
      await this.#cluster.apply(tenantManifests(record.department, record.namespace, record.spec, await this.#cluster.kueue()));
    } catch (err) {
      const message = err instanceof TandemError ? err.message : String(err);
      await this.#tenants.setClusterStatus(record.department, { state: 'failed', at, message });
      this.#log.warn({ err, department: record.department }, 'tenant not applied to the cluster');
      throw err;
    }
    const cluster: ClusterApplyStatus = { state: 'applied', at, message: null };
    await this.#tenants.setClusterStatus(record.department, cluster);
    this.#log.info({ department: record.department, namespace: record.namespace, server: this.#cluster.server }, 'tenant applied');
    return { ...record, cluster };
  }

  #mayChange(principal: Principal, department: string): void {
    if (principal.department !== allDepartments) {
      throw new ForbiddenError(`tenants are changed by platform admins (keys of scope *); this key is scoped to department ${principal.department} and may only read tenant ${department}`);
    }
  }

  async #visible(department: string, principal: Principal): Promise<TenantRecord> {
    const record = scopeIncludes(principal.department, department) ? await this.#tenants.get(department) : undefined;
    if (!record) throw new NotFoundError(`no tenant for department ${department}`);
    return record;
  }
}
