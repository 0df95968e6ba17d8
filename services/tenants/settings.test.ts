import { describe, expect, it } from 'vitest';
import { tenantSpecSchema, type TenantSpecInput } from '../../shared/contracts/tenants.ts';
import { OutsideOffPeakWindowError } from '../../shared/errors.ts';
import type { TenantRecord } from '../../shared/store/tenants.ts';
import { gpuPeakRuleOf, gpuWindowOf, refuseAtPeak, tokenBudgetOf } from './settings.ts';

const pipelines = { offPeak: { start: '01:00', end: '05:00' }, offPeakByDepartment: { oncology: { start: '23:00', end: '04:00' } } };
const tenant = (spec: TenantSpecInput): TenantRecord => ({
  department: 'radiology',
  namespace: 'radiology',
  spec: tenantSpecSchema.parse(spec),
  createdAt: '',
  updatedAt: '',
  updatedBy: 'admin',
  cluster: { state: 'no-cluster', at: null, message: null },
});
const storeOf = (t?: TenantRecord) => ({ get: async () => t });

describe('per-department settings: the tenant wins, the configuration is the default', () => {
  it('picks the off-peak window of the tenant, then the department’s configured one, then the global one', () => {
    expect(gpuWindowOf(tenant({ offPeak: { start: '20:00', end: '02:00', timezone: 'Asia/Tokyo' } }), pipelines, 'radiology')).toEqual({ start: '20:00', end: '02:00', timezone: 'Asia/Tokyo' });
    expect(gpuWindowOf(tenant({}), pipelines, 'oncology')).toEqual({ start: '23:00', end: '04:00', timezone: 'UTC' });
    expect(gpuWindowOf(undefined, pipelines, 'radiology')).toEqual({ start: '01:00', end: '05:00', timezone: 'UTC' });
  });

  it('takes the tenant’s token budget unless it is null', async () => {
    expect(await tokenBudgetOf(storeOf(tenant({ llmTokenBudget: 500 })), 10_000, 'radiology')).toBe(500);
    expect(await tokenBudgetOf(storeOf(tenant({ llmTokenBudget: null })), 10_000, 'radiology')).toBe(10_000);
    expect(await tokenBudgetOf(storeOf(), 10_000, 'radiology')).toBe(10_000);
  });

  it('refuses a GPU batch at peak time only where the tenant says refuse, saying when the window opens', async () => {
    const noon = new Date('2026-03-10T12:00:00Z');
    const refusing = await gpuPeakRuleOf(storeOf(tenant({ gpuPeakPolicy: 'refuse', offPeak: { start: '22:00', end: '06:00', timezone: 'Europe/Paris' } })), pipelines, 'radiology');
    let refused: unknown;
    try {
      refuseAtPeak(refusing, noon);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(OutsideOffPeakWindowError);
    expect((refused as OutsideOffPeakWindowError).opensAt).toEqual(new Date('2026-03-10T21:00:00Z'));
    expect((refused as Error).message).toMatch(/22:00–06:00 Europe\/Paris.*after 2026-03-10T21:00:00\.000Z/);
    expect(() => refuseAtPeak(refusing, new Date('2026-03-10T23:00:00Z'))).not.toThrow();
    const waiting = await gpuPeakRuleOf(storeOf(tenant({ gpuPeakPolicy: 'wait' })), pipelines, 'radiology');
    expect(() => refuseAtPeak(waiting, noon)).not.toThrow();
    expect(await gpuPeakRuleOf(storeOf(), pipelines, 'radiology')).toBeUndefined();
  });
});
