import { describe, expect, it } from 'vitest';
import { tenantSpecSchema } from '../../shared/contracts/tenants.ts';
import { tenantDrift } from './drift.ts';
import { tenantManifests } from './manifests.ts';
import { quantityValue, sameQuantity } from './quantity.ts';

const spec = tenantSpecSchema.parse({
  quota: { requests: { cpu: '8', memory: '32Gi', 'nvidia.com/gpu': 4 } },
  limitRange: { defaultRequest: { cpu: '250m' }, default: { memory: '1Gi' } },
});

describe('tenant manifests', () => {
  it('quotas GPUs by requests only, and sets tandem’s labels', () => {
    const m = tenantManifests('cardiology', 'cardio', spec);
    expect(m.resourceQuota).toEqual({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'tandem', namespace: 'cardio', labels: { 'app.kubernetes.io/managed-by': 'tandem', 'tandem.dev/department': 'cardiology' } },
      spec: { hard: { 'requests.cpu': '8', 'requests.memory': '32Gi', 'requests.nvidia.com/gpu': '4' } },
    });
    expect(m.namespace.metadata.labels).toEqual({
      'app.kubernetes.io/managed-by': 'tandem',
      'tandem.dev/department': 'cardiology',
      'tandem.dev/region': 'local',
      'tandem.dev/spot-allowed': 'false',
    });
    expect(m.limitRange!.spec.limits).toEqual([{ type: 'Container', default: { memory: '1Gi' }, defaultRequest: { cpu: '250m' } }]);
    expect(tenantManifests('cardiology', 'cardio', tenantSpecSchema.parse({})).limitRange).toBeNull();
  });
});

describe('tenant drift', () => {
  const applied = tenantManifests('cardiology', 'cardio', spec);
  const live = () => structuredClone({ namespace: applied.namespace, resourceQuota: applied.resourceQuota, limitRange: applied.limitRange }) as any;

  it('finds nothing when the cluster has what tandem applied, in canonical form, plus others’ fields', () => {
    const l = live();
    l.resourceQuota.spec.hard['requests.memory'] = '34359738368';
    l.resourceQuota.spec.hard['requests.cpu'] = '8000m';
    l.resourceQuota.spec.hard['services'] = '5';
    l.namespace.metadata.labels['kubernetes.io/metadata.name'] = 'cardio';
    expect(tenantDrift(applied, l)).toEqual([]);
  });

  it('lists changed and removed fields and missing objects', () => {
    const l = live();
    l.resourceQuota.spec.hard['requests.nvidia.com/gpu'] = '16';
    delete l.limitRange.spec.limits[0].defaultRequest;
    l.namespace.metadata.labels['tandem.dev/spot-allowed'] = 'true';
    expect(tenantDrift(applied, l)).toEqual([
      { object: 'Namespace/cardio', path: 'metadata.labels["tandem.dev/spot-allowed"]', applied: 'false', live: 'true' },
      { object: 'ResourceQuota/tandem', path: 'spec.hard["requests.nvidia.com/gpu"]', applied: '4', live: '16' },
      { object: 'LimitRange/tandem', path: 'spec.limits[type=Container].defaultRequest.cpu', applied: '250m', live: null },
    ]);
    expect(tenantDrift(applied, { ...live(), resourceQuota: null })).toEqual([{ object: 'ResourceQuota/tandem', path: '(object)', applied: 'present', live: null }]);
  });

  it('compares quantities by value', () => {
    expect(quantityValue('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(sameQuantity('500m', '0.5')).toBe(true);
    expect(sameQuantity('1G', '1Gi')).toBe(false);
    expect(sameQuantity('2', '2000m')).toBe(true);
  });
});
