import { describe, expect, it } from 'vitest';
import { quotaShortfalls } from './quota.ts';

const quota = (name: string, hard: Record<string, string>, used: Record<string, string>) => ({ metadata: { name }, status: { hard, used } });

describe('quotaShortfalls', () => {
  it('names every overflowing key with requested, used and limit', () => {
    const q = quota('gpu', { 'requests.nvidia.com/gpu': '8', 'limits.memory': '64Gi', pods: '20' }, { 'requests.nvidia.com/gpu': '6', 'limits.memory': '60Gi', pods: '3' });
    expect(quotaShortfalls([q], { 'nvidia.com/gpu': '4', memory: '8Gi' }, 'dept-a')).toEqual([
      'requests.nvidia.com/gpu: requested 4, used 6, limit 8 in namespace dept-a',
      'limits.memory: requested 8Gi, used 60Gi, limit 64Gi in namespace dept-a',
    ]);
  });

  it('fits exactly up to the limit, counts cpu in any spelling, and ignores keys a quota does not set', () => {
    const q = quota('cpu', { 'requests.cpu': '4', cpu: '4' }, { 'requests.cpu': '3500m' });
    expect(quotaShortfalls([q], { cpu: '500m', 'nvidia.com/gpu': '8' }, 'ns')).toEqual([]);
    expect(quotaShortfalls([q], { cpu: '501m' }, 'ns')).toEqual(['requests.cpu: requested 0.501, used 3.5, limit 4 in namespace ns']);
    expect(quotaShortfalls([quota('pods', { pods: '2' }, { pods: '2' }), quota('other', {}, {})], {}, 'ns')).toEqual([
      'pods: requested 1, used 2, limit 2 in namespace ns (ResourceQuota pods)',
    ]);
  });
});
