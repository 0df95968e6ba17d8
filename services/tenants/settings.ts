/**
 * The per-department settings that global configuration also has (shared/config.ts): the
 * tenant's value wins, the configuration stays the default, so a department without a tenant
 * behaves exactly as before. The pipeline lint, the LLM budget check, the API's GPU peak gate and
 * the gpu.batch workflow's wait all read them through here.
 */
import type { OffPeakWindow, TandemConfig } from '../../shared/config.ts';
import type { GpuPeakPolicy } from '../../shared/contracts/tenants.ts';
import { windowStatus, type ZonedWindow } from '../../shared/off-peak-window.ts';
import { OutsideOffPeakWindowError } from '../../shared/errors.ts';
import type { TenantRecord, TenantStore } from '../../shared/store/tenants.ts';

/**
 * The window a department's GPU batch waits for: the tenant's (in its own time zone), else the
 * configured one for the department, else the global one — a configured window has no time zone
 * of its own, and is read in UTC here (the pipeline lint reads it in the schedule's, as it always
 * has; services/pipelines/pipeline-service.ts puts the tenant's over it).
 */
export function gpuWindowOf(tenant: TenantRecord | undefined, pipelines: TandemConfig['pipelines'], department: string): ZonedWindow {
  const w: OffPeakWindow & { timezone?: string } = tenant?.spec.offPeak ?? pipelines.offPeakByDepartment[department] ?? pipelines.offPeak;
  return { start: w.start, end: w.end, timezone: w.timezone ?? 'UTC' };
}

/** Tokens per calendar month (0 = no limit): the tenant's budget, else `llm.tokenBudgetPerDepartment`. */
export async function tokenBudgetOf(tenants: Pick<TenantStore, 'get'>, fallback: number, department: string): Promise<number> {
  return (await tenants.get(department))?.spec.llmTokenBudget ?? fallback;
}

export interface GpuPeakRule {
  department: string;
  policy: GpuPeakPolicy;
  window: ZonedWindow;
}

/**
 * What a GPU batch of `department` must do about the off-peak window; undefined for a department
 * without a tenant, whose batches start at once (as they did before tenants existed).
 */
export async function gpuPeakRuleOf(tenants: Pick<TenantStore, 'get'>, pipelines: TandemConfig['pipelines'], department: string): Promise<GpuPeakRule | undefined> {
  const tenant = await tenants.get(department);
  if (!tenant) return undefined;
  return { department, policy: tenant.spec.gpuPeakPolicy, window: gpuWindowOf(tenant, pipelines, department) };
}

/** The API's gate: a `refuse` department's GPU batch at peak time is a 409 that says when to come back. */
export function refuseAtPeak(rule: GpuPeakRule | undefined, now: Date): void {
  if (rule?.policy !== 'refuse') return;
  const status = windowStatus(rule.window, now);
  if (status.inside) return;
  const { start, end, timezone } = rule.window;
  throw new OutsideOffPeakWindowError(
    `department ${rule.department} runs GPU batch work only off-peak, ${start}–${end} ${timezone}, and refuses it at peak time (gpuPeakPolicy: refuse); ` +
      `start it again after ${status.opensAt.toISOString()}, or set the tenant's gpuPeakPolicy to wait`,
    status.opensAt,
  );
}
