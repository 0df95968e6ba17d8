/**
 * Data residency: which Temporal client serves a department. Each configured region
 * (shared/regions.ts) has its own client on its own endpoint and namespace; a department's region
 * is its tenant's `region` (`local` without a tenant). Every start, signal, update, query,
 * describe, list and cancel of a department's workflow goes through `forDepartment`, so a
 * department's flows are written to its region's history and to no other.
 *
 * Workflow ids are the same in every region. A read by id that knows the department (a review, a
 * hand-off, a department-scoped key) asks that department's region; a `*` key's read by id asks
 * every region (`locate`), because Temporal is the one record of where a workflow lives and a
 * second record of it could disagree. With the one default region that is one call, as before.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { allDepartments } from '../../shared/contracts/roles.ts';
import { TandemError } from '../../shared/errors.ts';
import { localRegion } from '../../shared/regions.ts';
import type { TenantStore } from '../../shared/store/tenants.ts';

/** One region's connected client. */
export interface RegionClient {
  readonly region: string;
  readonly client: Client;
  /** Its namespace has the TandemDepartment search attribute (see department-search-attribute.ts). */
  readonly departmentSearchAttribute: boolean;
}

/** A department whose tenant names a region this process has no Temporal for: nothing is started. */
export class RegionNotConfiguredError extends TandemError {
  override name = 'RegionNotConfiguredError';
  readonly region: string;
  constructor(department: string, region: string, served: readonly string[]) {
    super(
      `department ${department} is in region ${region}, which has no Temporal configured here (regions served: ${served.join(', ')}); add ${region}=host:port/namespace to TANDEM_REGIONS, or move the tenant to a served region`,
      { status: 409, slug: 'region-not-configured', title: 'The department’s region has no Temporal here' },
    );
    this.region = region;
  }
}

export class RegionalTemporal {
  readonly #regions: ReadonlyMap<string, RegionClient>;
  readonly #tenants: Pick<TenantStore, 'get'>;

  constructor(regions: readonly RegionClient[], tenants: Pick<TenantStore, 'get'>) {
    if (!regions.some((r) => r.region === localRegion)) throw new Error(`the regions must include ${localRegion}`);
    this.#regions = new Map(regions.map((r) => [r.region, r]));
    this.#tenants = tenants;
  }

  /** Every region this process serves, `local` first. */
  get all(): readonly RegionClient[] {
    return [...this.#regions.values()];
  }

  get names(): readonly string[] {
    return [...this.#regions.keys()];
  }

  serves(region: string): boolean {
    return this.#regions.has(region);
  }

  /** The region of departments without a tenant; also where department-less work runs. */
  get local(): RegionClient {
    return this.#regions.get(localRegion)!;
  }

  /** The department's region by its tenant; `local` without one. */
  async regionOf(department: string): Promise<string> {
    return (await this.#tenants.get(department))?.spec.region ?? localRegion;
  }

  /** The client of the department's region; refused (409) when this process does not serve it. */
  async forDepartment(department: string): Promise<RegionClient> {
    return this.inRegion(await this.regionOf(department), department);
  }

  /** The client of a region a record names (a hand-off keeps the region it began in); refused like `forDepartment`. */
  inRegion(region: string, department: string): RegionClient {
    const served = this.#regions.get(region);
    if (!served) throw new RegionNotConfiguredError(department, region, this.names);
    return served;
  }

  /**
   * The region that holds workflow `workflowId`, for a caller of scope `scope`: a department's own
   * region, or for `*` the first region whose Temporal knows the id (asked all at once). A workflow
   * no region knows gets `local`, whose describe then answers not found as before; when a region
   * could not be asked and no other has it, that region's error, since it may be there.
   */
  async locate(workflowId: string, scope: string): Promise<RegionClient> {
    if (scope !== allDepartments) return this.forDepartment(scope);
    if (this.#regions.size === 1) return this.local;
    const asked = await Promise.allSettled(this.all.map(async (r) => (await r.client.workflow.getHandle(workflowId).describe(), r)));
    const found = asked.find((a) => a.status === 'fulfilled');
    if (found) return found.value;
    const failed = asked.find((a): a is PromiseRejectedResult => a.status === 'rejected' && !(a.reason instanceof WorkflowNotFoundError));
    if (failed) throw failed.reason;
    return this.local;
  }
}
