/**
 * The tenants family: what a workflow needs to know about its department's tenant. Today that is
 * the GPU peak rule the gpu.batch workflow obeys (services/tenants/settings.ts): read once at the
 * start of a batch, under the `local` preset (a store read).
 */
import type { TandemConfig } from '../../../shared/config.ts';
import type { TenantStore } from '../../../shared/store/tenants.ts';
import { defaultOffPeak } from '../../pipelines/lint.ts';
import { gpuPeakRuleOf, type GpuPeakRule } from '../../tenants/settings.ts';

export interface TenantActivityDependencies {
  tenants: Pick<TenantStore, 'get'>;
  /** The configured windows; a worker started without them uses the built-in 01:00–05:00. */
  pipelines?: TandemConfig['pipelines'];
}

export function createTenantActivities(deps: TenantActivityDependencies) {
  const pipelines = deps.pipelines ?? { offPeak: defaultOffPeak, offPeakByDepartment: {} };
  return {
    /** Null for a department without a tenant: its batches start at once. */
    async gpuPeakRule(input: { department: string }): Promise<GpuPeakRule | null> {
      return (await gpuPeakRuleOf(deps.tenants, pipelines, input.department)) ?? null;
    },
  };
}

export type TenantActivities = ReturnType<typeof createTenantActivities>;
