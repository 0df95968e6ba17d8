import { afterEach, describe, expect, it } from 'vitest';
import { newApiKey } from '../../../../../shared/credentials.ts';
import type { Role } from '../../../../../shared/contracts/roles.ts';
import { KubernetesUnavailableError } from '../../../../../shared/errors.ts';
import { hashApiKey } from '../../../../../shared/store/api-key-hash.ts';
import { appFixture, regionWithoutTemporal, type AppFixture } from '../../../../../test/support/app-fixture.ts';
import { FakeTenantCluster } from '../../../../../test/support/fake-tenant-cluster.ts';
import { defaultSpotPlacement } from '../../../../kubernetes/job-manifest.ts';

/** The region the spec names, served by this API (no workflow is started here). */
const euWest = [regionWithoutTemporal('eu-west')];

let f: AppFixture;
afterEach(() => f?.close());

async function keyOf(role: Role, department: string): Promise<{ authorization: string }> {
  const key = newApiKey('key');
  await f.store.createApiKey({ name: `${role}-${department}`, role, department, keyHash: hashApiKey(key) });
  return { authorization: `Bearer ${key}` };
}

const spec = {
  quota: { requests: { cpu: '64', memory: '256Gi', 'nvidia.com/gpu': 8 }, limits: { cpu: '64', memory: '256Gi' }, pods: 100 },
  limitRange: { defaultRequest: { cpu: '500m', memory: '1Gi' }, default: { cpu: '1', memory: '2Gi' } },
  offPeak: { start: '22:00', end: '06:00', timezone: 'Europe/Paris' },
  gpuPeakPolicy: 'refuse',
  spotAllowed: true,
  llmTokenBudget: 1_000_000,
  region: 'eu-west',
};

describe('/v1/tenants', () => {
  it('on a cluster with Kueue also applies the department’s ClusterQueue and LocalQueue, and reports their drift', async () => {
    const cluster = new FakeTenantCluster();
    cluster.kueueTarget = { localQueue: 'gpu-queue', spot: defaultSpotPlacement };
    f = await appFixture({ tenantCluster: cluster, regions: euWest });
    const admin = f.headers('admin');
    const created = await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: admin, payload: spec });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().drift).toEqual([]);
    const live = cluster.namespaces.get('tandem-cardiology')!;
    // Kueue's quota now, not the ResourceQuota's.
    expect(live.resourceQuota!.spec!.hard).toEqual({ pods: '100' });
    expect(live.kueue!.localQueue).toMatchObject({ metadata: { name: 'gpu-queue', namespace: 'tandem-cardiology' }, spec: { clusterQueue: 'tandem-cardiology' } });
    const flavors = live.kueue!.clusterQueue!.spec!.resourceGroups![0]!.flavors!;
    expect(flavors.map((fl) => [fl.name, fl.resources!.find((r) => r.name === 'nvidia.com/gpu')!.nominalQuota])).toEqual([['tandem-on-demand', '8'], ['tandem-spot', '8']]);

    cluster.edit('tandem-cardiology', (l) => {
      l.kueue!.clusterQueue!.spec!.resourceGroups![0]!.flavors![0]!.resources!.find((r) => r.name === 'nvidia.com/gpu')!.nominalQuota = '16';
    });
    const read = await f.app.inject({ method: 'GET', url: '/v1/tenants/cardiology', headers: admin });
    expect(read.json().drift).toEqual([
      { object: 'ClusterQueue/tandem-cardiology', path: 'spec.resourceGroups[0].flavors[name=tandem-on-demand].nominalQuota["nvidia.com/gpu"]', applied: '8', live: '16' },
    ]);
    const reapplied = await f.app.inject({ method: 'POST', url: '/v1/tenants/cardiology/apply', headers: admin });
    expect(reapplied.json().drift).toEqual([]);
  });

  it('creates, replaces, lists and deletes a tenant, applying each change to the cluster', async () => {
    const cluster = new FakeTenantCluster();
    f = await appFixture({ tenantCluster: cluster, regions: euWest });
    const admin = f.headers('admin');
    const created = await f.app.inject({ method: 'POST', url: '/v1/tenants', headers: admin, payload: { department: 'cardiology', ...spec } });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({
      department: 'cardiology',
      // The job runner's default namespace for the department (TANDEM_KUBERNETES_NAMESPACE_PREFIX).
      namespace: 'tandem-cardiology',
      gpuPeakPolicy: 'refuse',
      region: 'eu-west',
      updatedBy: 'test-admin',
      cluster: { state: 'applied', at: expect.any(String), message: null },
      drift: [],
    });
    const live = cluster.namespaces.get('tandem-cardiology')!;
    expect(live.resourceQuota!.spec!.hard).toEqual({
      'requests.cpu': '64',
      'requests.memory': '256Gi',
      'requests.nvidia.com/gpu': '8',
      'limits.cpu': '64',
      'limits.memory': '256Gi',
      pods: '100',
    });
    expect(live.namespace!.metadata!.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'tandem', 'tandem.dev/department': 'cardiology', 'tandem.dev/region': 'eu-west' });

    // POST does not replace; PUT does (200), and the cluster follows.
    expect((await f.app.inject({ method: 'POST', url: '/v1/tenants', headers: admin, payload: { department: 'cardiology', ...spec } })).statusCode).toBe(409);
    const replaced = await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: admin, payload: { ...spec, quota: { requests: { 'nvidia.com/gpu': 4 } } } });
    expect(replaced.statusCode, replaced.body).toBe(200);
    expect(cluster.namespaces.get('tandem-cardiology')!.resourceQuota!.spec!.hard).toEqual({ 'requests.nvidia.com/gpu': '4' });

    const put = await f.app.inject({ method: 'PUT', url: '/v1/tenants/oncology', headers: admin, payload: { namespace: 'onco-jobs' } });
    expect(put.statusCode).toBe(201);
    expect(put.json()).toMatchObject({ namespace: 'onco-jobs', gpuPeakPolicy: 'wait', spotAllowed: false, llmTokenBudget: null, region: 'local', offPeak: null });

    const page1 = await f.app.inject({ method: 'GET', url: '/v1/tenants?limit=1', headers: admin });
    expect(page1.json().items.map((t: any) => t.department)).toEqual(['cardiology']);
    const page2 = await f.app.inject({ method: 'GET', url: page1.json().next, headers: admin });
    expect(page2.json()).toMatchObject({ items: [{ department: 'oncology' }], next: null });

    expect((await f.app.inject({ method: 'DELETE', url: '/v1/tenants/oncology', headers: admin })).statusCode).toBe(204);
    expect(cluster.namespaces.has('onco-jobs')).toBe(false);

    // Every change is in the department's audit trail, with who made it and the spec it set.
    const trail = await f.store.audit.list({ limit: 100 });
    const tenantEntries = trail.filter((e) => e.subject.startsWith('tenant:')).map((e) => [e.subject, e.event, e.actor.name, (e.details as any).created ?? null]);
    expect(tenantEntries).toEqual([
      ['tenant:cardiology', 'tenant-changed', 'test-admin', true],
      ['tenant:cardiology', 'tenant-changed', 'test-admin', false],
      ['tenant:oncology', 'tenant-changed', 'test-admin', true],
      ['tenant:oncology', 'tenant-deleted', 'test-admin', null],
    ]);
    expect((await f.store.audit.verify()).ok).toBe(true);
    expect((await f.app.inject({ method: 'GET', url: '/v1/tenants/oncology', headers: admin })).statusCode).toBe(404);
  });

  it('reports drift after a hand edit, and a re-apply takes it back', async () => {
    const cluster = new FakeTenantCluster();
    f = await appFixture({ tenantCluster: cluster, regions: euWest });
    const admin = f.headers('admin');
    await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: admin, payload: spec });
    cluster.edit('tandem-cardiology', (live) => {
      live.resourceQuota!.spec!.hard!['requests.nvidia.com/gpu'] = '16';
      // The API server writes quantities in canonical form: the same value is no drift.
      live.resourceQuota!.spec!.hard!['requests.cpu'] = '64000m';
      delete live.namespace!.metadata!.labels!['tandem.dev/region'];
    });
    const drifted = await f.app.inject({ method: 'GET', url: '/v1/tenants/cardiology', headers: admin });
    expect(drifted.json().drift).toEqual([
      { object: 'Namespace/tandem-cardiology', path: 'metadata.labels["tandem.dev/region"]', applied: 'eu-west', live: null },
      { object: 'ResourceQuota/tandem', path: 'spec.hard["requests.nvidia.com/gpu"]', applied: '8', live: '16' },
    ]);
    const reapplied = await f.app.inject({ method: 'POST', url: '/v1/tenants/cardiology/apply', headers: admin });
    expect(reapplied.statusCode, reapplied.body).toBe(200);
    expect((await f.app.inject({ method: 'GET', url: '/v1/tenants/cardiology', headers: admin })).json().drift).toEqual([]);
  });

  it('keeps the spec when the cluster is down: 503, state failed, and the same request again finishes the job', async () => {
    const cluster = new FakeTenantCluster();
    f = await appFixture({ tenantCluster: cluster, regions: euWest });
    const admin = { ...f.headers('admin'), 'idempotency-key': 'tenant-cardiology-1' };
    cluster.failWith(new KubernetesUnavailableError('cannot reach Kubernetes at https://127.0.0.1:0: ECONNREFUSED'));
    const down = await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: admin, payload: spec });
    expect(down.statusCode).toBe(503);
    expect(down.headers['retry-after']).toBeDefined();
    expect((await f.store.tenants.get('cardiology'))!.cluster).toMatchObject({ state: 'failed', message: expect.stringContaining('ECONNREFUSED') });
    cluster.failWith(null);
    const retried = await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: admin, payload: spec });
    // A 5xx is not kept for replay: the retry did the work (200: the tenant was saved the first time).
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.headers['idempotency-replayed']).toBeUndefined();
    expect(retried.json().cluster.state).toBe('applied');
  });

  it('lets a department read its own tenant only; changing one takes an admin of scope *', async () => {
    f = await appFixture({ regions: euWest });
    await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: f.headers('admin'), payload: spec });
    const cardioEngineer = await keyOf('data-engineer', 'cardiology');
    const got = await f.app.inject({ method: 'GET', url: '/v1/tenants/cardiology', headers: cardioEngineer });
    // No cluster configured: stored and used for settings, drift cannot be known.
    expect(got.json()).toMatchObject({ department: 'cardiology', cluster: { state: 'no-cluster' }, drift: null });
    expect((await f.app.inject({ method: 'GET', url: '/v1/tenants/cardiology', headers: await keyOf('reviewer', 'oncology') })).statusCode).toBe(404);
    expect((await f.app.inject({ method: 'GET', url: '/v1/tenants', headers: await keyOf('reviewer', 'oncology') })).json().items).toEqual([]);

    const cardioAdmin = await keyOf('admin', 'cardiology');
    const raise = await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: cardioAdmin, payload: { ...spec, quota: { requests: { 'nvidia.com/gpu': 64 } } } });
    expect(raise.statusCode).toBe(403);
    expect(raise.json().detail).toMatch(/platform admins/);
    expect((await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: cardioEngineer, payload: spec })).statusCode).toBe(403);
  });

  it('refuses bad specs with the field path, and a namespace another department has', async () => {
    f = await appFixture();
    const admin = f.headers('admin');
    const bad = await f.app.inject({
      method: 'PUT',
      url: '/v1/tenants/cardiology',
      headers: admin,
      payload: { namespace: 'Not_A_Label', quota: { requests: { 'nvidia.com/gpu': 2.5, cpu: 'lots' } }, offPeak: { start: '22:00', end: '06:00', timezone: 'Mars/Olympus' } },
    });
    expect(bad.statusCode).toBe(422);
    const paths = bad.json().errors.map((e: any) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['body.namespace', 'body.quota.requests.nvidia.com.gpu', 'body.quota.requests.cpu', 'body.offPeak.timezone']));
    // GPUs are quota'd by requests only (Pods request their limit): a GPU limit is no quota item.
    const gpuLimit = await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: admin, payload: { quota: { requests: { 'nvidia.com/gpu': 2 }, limits: { 'nvidia.com/gpu': 2 } } } });
    expect(gpuLimit.statusCode).toBe(422);
    expect(gpuLimit.json().errors[0].path).toBe('body.quota.limits');

    await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: admin, payload: { namespace: 'shared-ns' } });
    const taken = await f.app.inject({ method: 'PUT', url: '/v1/tenants/oncology', headers: admin, payload: { namespace: 'shared-ns' } });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().detail).toMatch(/already belongs to department cardiology/);
    const moved = await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: admin, payload: { namespace: 'elsewhere' } });
    expect(moved.statusCode).toBe(409);
  });

  it('takes only a region this API serves, and keeps a tenant in its region', async () => {
    f = await appFixture({ regions: euWest });
    const admin = f.headers('admin');
    const unknown = await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: admin, payload: { region: 'us-east' } });
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json().errors).toEqual([
      { path: 'body.region', message: 'must be a configured region (local, eu-west); add us-east=host:port/namespace to TANDEM_REGIONS to serve it' },
    ]);
    expect(await f.store.tenants.get('cardiology')).toBeUndefined();
    expect((await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: admin, payload: { region: 'eu-west' } })).statusCode).toBe(201);
    // Its flows live in eu-west's history and are found there by the department's region.
    const move = await f.app.inject({ method: 'PUT', url: '/v1/tenants/cardiology', headers: admin, payload: { region: 'local' } });
    expect(move.statusCode).toBe(409);
    expect(move.json().detail).toBe('tenant cardiology is in region eu-west; its region cannot change while its flows live there');
    expect((await f.store.tenants.get('cardiology'))!.spec.region).toBe('eu-west');
  });
});
