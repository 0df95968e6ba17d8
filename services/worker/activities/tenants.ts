/**
 * The tenants family: what a workflow needs to know about its department's tenant. Today that is
 * what a gpu.batch obeys, read once at its start under the `local` preset (a store read): the GPU
 * peak rule (services/tenants/settings.ts), the namespace its Job runs in and whether it may use spot.
 */
import type { TandemConfig } from '../../../shared/config.ts';
import type { TenantStore } from '../../../shared/store/tenants.ts';
import { defaultOffPeak } from '../../pipelines/lint.ts';
import { gpuPeakRuleOf, type GpuPeakRule } from '../../tenants/settings.ts';

export interface GpuBatchTenancy {
  peak: GpuPeakRule | null;
  namespace: string | null;
  /** The tenant's `spotAllowed`; null without a tenant (nothing forbids spot then). */
  spotAllowed: boolean | null;
}

export interface TenantActivityDependencies {
  tenants: Pick<TenantStore, 'get'>;
  /** The configured windows; a worker started without them uses the built-in 01:00–05:00. */
  pipelines?: TandemConfig['pipelines'];
}

export function createTenantActivities(deps: TenantActivityDependencies) {
  const pipelines = deps.pipelines ?? { offPeak: defaultOffPeak, offPeakByDepartment: {} };
  return {
    /** Both null for a department without a tenant: its batches start at once, in the runner's default namespace. */
    async gpuBatchTenancy(input: { department: string }): Promise<GpuBatchTenancy> {
      const tenant = await deps.tenants.get(input.department);
      if (!tenant) return { peak: null, namespace: null, spotAllowed: null };
      return {
        peak: (await gpuPeakRuleOf({ get: async () => tenant }, pipelines, input.department)) ?? null,
        namespace: tenant.namespace,
        spotAllowed: tenant.spec.spotAllowed,
      };
    },
  };
}

export type TenantActivities = ReturnType<typeof createTenantActivities>;
