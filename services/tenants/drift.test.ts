import { describe, expect, it } from 'vitest';
import { tenantSpecSchema } from '../../shared/contracts/tenants.ts';
import { tenantDrift } from './drift.ts';
import { defaultSpotPlacement } from '../kubernetes/job-manifest.ts';
import type { LiveTenantObjects } from './drift.ts';
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

describe('tenant manifests on a cluster with Kueue', () => {
  const target = { localQueue: 'gpu', spot: defaultSpotPlacement };
  const spotSpec = tenantSpecSchema.parse({ quota: { requests: { memory: '32Gi', 'nvidia.com/gpu': 4 }, limits: { cpu: '8' }, pods: 20 }, spotAllowed: true });

  it('puts cpu, memory and GPU quota in the ClusterQueue (per flavor, spot only when allowed) and keeps pods in the ResourceQuota', () => {
    const m = tenantManifests('cardiology', 'cardio', spotSpec, target);
    expect(m.resourceQuota.spec.hard).toEqual({ pods: '20' });
    const kueue = m.kueue!;
    expect(kueue.resourceFlavors).toEqual([
      { apiVersion: 'kueue.x-k8s.io/v1beta2', kind: 'ResourceFlavor', metadata: { name: 'tandem-on-demand', labels: { 'app.kubernetes.io/managed-by': 'tandem' } }, spec: {} },
      {
        apiVersion: 'kueue.x-k8s.io/v1beta2',
        kind: 'ResourceFlavor',
        metadata: { name: 'tandem-spot', labels: { 'app.kubernetes.io/managed-by': 'tandem' } },
        // A taint, not a toleration: only Jobs that tolerate spot nodes may be given spot quota.
        spec: { nodeLabels: { 'tandem.dev/capacity': 'spot' }, nodeTaints: [{ key: 'tandem.dev/capacity', value: 'spot', effect: 'NoSchedule' }] },
      },
    ]);
    const quota = [
      // No cpu quota: none reachable, and none lent to the cohort.
      { name: 'cpu', nominalQuota: '1M', lendingLimit: '0' },
      { name: 'memory', nominalQuota: '32Gi' },
      { name: 'nvidia.com/gpu', nominalQuota: '4' },
    ];
    expect(kueue.clusterQueue).toEqual({
      apiVersion: 'kueue.x-k8s.io/v1beta2',
      kind: 'ClusterQueue',
      metadata: { name: 'cardio', labels: { 'app.kubernetes.io/managed-by': 'tandem', 'tandem.dev/department': 'cardiology' } },
      spec: {
        cohortName: 'tandem',
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'cardio' } },
        queueingStrategy: 'BestEffortFIFO',
        resourceGroups: [{ coveredResources: ['cpu', 'memory', 'nvidia.com/gpu'], flavors: [{ name: 'tandem-on-demand', resources: quota }, { name: 'tandem-spot', resources: quota }] }],
        preemption: { reclaimWithinCohort: 'Any', withinClusterQueue: 'Never' },
        fairSharing: { weight: '1' },
      },
    });
    expect(kueue.localQueue).toEqual({
      apiVersion: 'kueue.x-k8s.io/v1beta2',
      kind: 'LocalQueue',
      metadata: { name: 'gpu', namespace: 'cardio', labels: { 'app.kubernetes.io/managed-by': 'tandem', 'tandem.dev/department': 'cardiology' } },
      spec: { clusterQueue: 'cardio' },
    });
    const noSpot = tenantManifests('cardiology', 'cardio', { ...spotSpec, spotAllowed: false }, target).kueue!;
    expect(noSpot.clusterQueue.spec.resourceGroups[0].flavors.map((f) => f.name)).toEqual(['tandem-on-demand']);
    // Without Kueue nothing changes.
    expect(tenantManifests('cardiology', 'cardio', spotSpec).kueue).toBeNull();
    expect(tenantManifests('cardiology', 'cardio', spotSpec).resourceQuota.spec.hard).toEqual({ 'requests.memory': '32Gi', 'requests.nvidia.com/gpu': '4', 'limits.cpu': '8', pods: '20' });
  });

  it('reports drift in the ClusterQueue’s quota and cohort, the flavors and the LocalQueue; none when the live objects are the applied ones', () => {
    const applied = tenantManifests('cardiology', 'cardio', spotSpec, target);
    const k = applied.kueue!;
    const live = (): LiveTenantObjects =>
      structuredClone({
        namespace: applied.namespace,
        resourceQuota: applied.resourceQuota,
        limitRange: null,
        kueue: { resourceFlavors: Object.fromEntries(k.resourceFlavors.map((f) => [f.metadata.name, f])), clusterQueue: k.clusterQueue, localQueue: k.localQueue },
      }) as LiveTenantObjects;
    expect(tenantDrift(applied, live())).toEqual([]);

    const l = live() as any;
    l.kueue.clusterQueue.spec.resourceGroups[0].flavors[0].resources[2].nominalQuota = 6;
    l.kueue.clusterQueue.spec.resourceGroups[0].flavors[1].resources[1].nominalQuota = '34359738368';
    delete l.kueue.clusterQueue.spec.cohortName;
    l.kueue.localQueue = null;
    l.kueue.resourceFlavors['tandem-spot'].spec.nodeLabels['tandem.dev/capacity'] = 'preemptible';
    expect(tenantDrift(applied, l)).toEqual([
      { object: 'ResourceFlavor/tandem-spot', path: 'spec.nodeLabels["tandem.dev/capacity"]', applied: 'spot', live: 'preemptible' },
      { object: 'ClusterQueue/cardio', path: 'spec.cohortName', applied: 'tandem', live: '' },
      { object: 'ClusterQueue/cardio', path: 'spec.resourceGroups[0].flavors[name=tandem-on-demand].nominalQuota["nvidia.com/gpu"]', applied: '4', live: '6' },
      { object: 'LocalQueue/gpu', path: '(object)', applied: 'present', live: null },
    ]);
    const gone = live();
    gone.kueue!.clusterQueue!.spec!.resourceGroups![0]!.flavors = gone.kueue!.clusterQueue!.spec!.resourceGroups![0]!.flavors!.slice(0, 1);
    expect(tenantDrift(applied, gone)).toEqual([{ object: 'ClusterQueue/cardio', path: 'spec.resourceGroups[0].flavors[name=tandem-spot]', applied: 'present', live: null }]);
    expect(tenantDrift(applied, { ...live(), kueue: undefined }).map((d) => d.object)).toEqual(['ResourceFlavor/tandem-on-demand', 'ResourceFlavor/tandem-spot', 'ClusterQueue/cardio', 'LocalQueue/gpu']);
  });
});
