/**
 * Tenants against the local Kubernetes: what `/v1/tenants` applies arrives by server-side apply
 * under the field manager `tandem`, a second apply changes nothing, the quota really bounds the
 * namespace, a hand edit is reported as drift and a re-apply takes it back, and deleting the
 * tenant deletes its namespace. Through the API (app.inject) over a real store, with the real
 * cluster client.
 */
import { randomUUID } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { until } from '../../test/support/kubernetes-container.ts';
import { appFixture, regionWithoutTemporal, type AppFixture } from '../../test/support/app-fixture.ts';
import { freePorts } from '../../test/support/free-ports.ts';
import '../../test/support/stack-info.ts';
import { loadKubeConfig } from '../kubernetes/kubernetes-job-runner.ts';
import { KubernetesTenantCluster } from './cluster.ts';

const cluster = inject('kubernetes');
const kc = loadKubeConfig(cluster.kubeconfigPath);
const core = kc.makeApiClient(k8s.CoreV1Api);
const department = `tenant-${randomUUID().slice(0, 8)}`;
const namespace = `${department}-jobs`;

let f: AppFixture;
const admin = () => f.headers('admin');

const spec = {
  namespace,
  quota: { requests: { cpu: '8', memory: '32Gi', 'nvidia.com/gpu': 2 }, limits: { cpu: '8', memory: '32Gi' }, pods: 10 },
  limitRange: { defaultRequest: { cpu: '250m', memory: '512Mi' }, default: { cpu: '500m', memory: '1Gi' } },
  offPeak: { start: '22:00', end: '06:00', timezone: 'Europe/Paris' },
  spotAllowed: true,
  region: 'eu-west',
};

const objects = async () => ({
  ns: await core.readNamespace({ name: namespace }),
  quota: await core.readNamespacedResourceQuota({ name: 'tandem', namespace }),
  limits: await core.readNamespacedLimitRange({ name: 'tandem', namespace }),
});


beforeAll(async () => {
  f = await appFixture({ tenantCluster: new KubernetesTenantCluster(kc), regions: [regionWithoutTemporal('eu-west')] });
});
afterAll(async () => {
  await core.deleteNamespace({ name: namespace }).catch(() => {});
  await f?.close();
});

describe('tenants on a real API server', () => {
  it('applies the Namespace, ResourceQuota and LimitRange by server-side apply as field manager tandem; a second apply changes nothing', async () => {
    const created = await f.app.inject({ method: 'PUT', url: `/v1/tenants/${department}`, headers: admin(), payload: spec });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().cluster).toMatchObject({ state: 'applied', message: null });

    const first = await objects();
    expect(first.ns.metadata?.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'tandem',
      'tandem.dev/department': department,
      'tandem.dev/region': 'eu-west',
      'tandem.dev/spot-allowed': 'true',
    });
    expect(first.quota.spec?.hard).toEqual({
      'requests.cpu': '8',
      'requests.memory': '32Gi',
      'requests.nvidia.com/gpu': '2',
      'limits.cpu': '8',
      'limits.memory': '32Gi',
      pods: '10',
    });
    // The client's model calls `default` `_default`.
    expect(first.limits.spec?.limits).toMatchObject([{ type: 'Container', _default: { cpu: '500m', memory: '1Gi' }, defaultRequest: { cpu: '250m', memory: '512Mi' } }]);
    for (const o of [first.ns, first.quota, first.limits]) {
      expect(o.metadata?.managedFields?.some((m) => m.manager === 'tandem' && m.operation === 'Apply')).toBe(true);
    }

    const again = await f.app.inject({ method: 'POST', url: `/v1/tenants/${department}/apply`, headers: admin() });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json().drift).toEqual([]);
    const second = await objects();
    expect(second.ns.metadata?.resourceVersion).toBe(first.ns.metadata?.resourceVersion);
    expect(second.quota.metadata?.resourceVersion).toBe(first.quota.metadata?.resourceVersion);
    expect(second.limits.metadata?.resourceVersion).toBe(first.limits.metadata?.resourceVersion);
  });

  it('bounds the namespace: a Pod asking for more GPUs than the quota is refused, with the numbers', async () => {
    await until('the default service account', () => core.readNamespacedServiceAccount({ name: 'default', namespace }).then(() => true, () => undefined));
    // The quota controller must have observed the quota before the API server enforces usage.
    await until('quota status', async () => ((await core.readNamespacedResourceQuota({ name: 'tandem', namespace })).status?.hard ? true : undefined));
    const pod = (gpus: string): k8s.V1Pod => ({
      metadata: { name: `greedy-${gpus}`, namespace },
      spec: { containers: [{ name: 'main', image: 'registry.local/embedder:1.0', resources: { requests: { 'nvidia.com/gpu': gpus }, limits: { 'nvidia.com/gpu': gpus } } }] },
    });
    const refused = await core.createNamespacedPod({ namespace, body: pod('3') }).then(
      () => undefined,
      (err: unknown) => err as k8s.ApiException<string>,
    );
    expect(refused?.code).toBe(403);
    expect(String(refused?.body)).toMatch(/exceeded quota: tandem, requested: requests\.nvidia\.com\/gpu=3, used: requests\.nvidia\.com\/gpu=0, limited: requests\.nvidia\.com\/gpu=2/);
    // Within the quota it is admitted, and the LimitRange gave it the default cpu and memory.
    const admitted = await core.createNamespacedPod({ namespace, body: pod('1') });
    expect(admitted.spec?.containers[0]?.resources?.requests).toMatchObject({ cpu: '250m', memory: '512Mi', 'nvidia.com/gpu': '1' });
    expect(admitted.spec?.containers[0]?.resources?.limits).toMatchObject({ cpu: '500m', memory: '1Gi', 'nvidia.com/gpu': '1' });
    await core.deleteNamespacedPod({ name: 'greedy-1', namespace, gracePeriodSeconds: 0 });
  });

  it('reports a hand edit of the quota as drift, and a re-apply takes it back', async () => {
    // As `kubectl edit` would: an update by another field manager.
    const quota = await core.readNamespacedResourceQuota({ name: 'tandem', namespace });
    quota.spec!.hard!['requests.nvidia.com/gpu'] = '6';
    quota.spec!.hard!['requests.cpu'] = '8000m';
    await core.replaceNamespacedResourceQuota({ name: 'tandem', namespace, body: quota, fieldManager: 'kubectl-edit' });
    await core.patchNamespacedLimitRange(
      { name: 'tandem', namespace, body: [{ op: 'remove', path: '/spec/limits/0/default/memory' }], fieldManager: 'kubectl-patch' },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );

    const drifted = await f.app.inject({ method: 'GET', url: `/v1/tenants/${department}`, headers: admin() });
    expect(drifted.statusCode, drifted.body).toBe(200);
    // 8000m is 8: the same quantity, no drift.
    expect(drifted.json().drift).toEqual([
      { object: 'ResourceQuota/tandem', path: 'spec.hard["requests.nvidia.com/gpu"]', applied: '2', live: '6' },
      { object: 'LimitRange/tandem', path: 'spec.limits[type=Container].default.memory', applied: '1Gi', live: null },
    ]);

    const fixed = await f.app.inject({ method: 'POST', url: `/v1/tenants/${department}/apply`, headers: admin() });
    expect(fixed.statusCode, fixed.body).toBe(200);
    expect((await f.app.inject({ method: 'GET', url: `/v1/tenants/${department}`, headers: admin() })).json().drift).toEqual([]);
    const { quota: back, limits } = await objects();
    expect(back.spec?.hard?.['requests.nvidia.com/gpu']).toBe('2');
    expect(limits.spec?.limits?.[0]?._default).toEqual({ cpu: '500m', memory: '1Gi' });
  });

  it('removes its LimitRange when the tenant no longer sets one, and deletes the namespace with the tenant', async () => {
    const { limitRange: _dropped, ...withoutLimitRange } = spec;
    const replaced = await f.app.inject({ method: 'PUT', url: `/v1/tenants/${department}`, headers: admin(), payload: withoutLimitRange });
    expect(replaced.statusCode, replaced.body).toBe(200);
    await expect(core.readNamespacedLimitRange({ name: 'tandem', namespace })).rejects.toMatchObject({ code: 404 });

    expect((await f.app.inject({ method: 'DELETE', url: `/v1/tenants/${department}`, headers: admin() })).statusCode).toBe(204);
    const ns = await core.readNamespace({ name: namespace }).then(
      (n) => n,
      (err: unknown) => ((err as k8s.ApiException<unknown>).code === 404 ? null : Promise.reject(err)),
    );
    // Gone, or on its way (the namespace controller deletes what is in it first).
    expect(ns === null || ns.status?.phase === 'Terminating').toBe(true);
    expect((await f.app.inject({ method: 'GET', url: `/v1/tenants/${department}`, headers: admin() })).statusCode).toBe(404);
  });

  it('answers 503 with the reason when the API server cannot be reached, and keeps the spec', async () => {
    // A loopback port nobody listens on.
    const [port] = await freePorts('127.0.0.1', 1);
    const down = new k8s.KubeConfig();
    down.loadFromOptions({
      clusters: [{ name: 'down', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'down', cluster: 'down', user: 'u' }],
      currentContext: 'down',
    });
    const offline = await appFixture({ tenantCluster: new KubernetesTenantCluster(down) });
    try {
      const res = await offline.app.inject({ method: 'PUT', url: '/v1/tenants/offline', headers: offline.headers('admin'), payload: {} });
      expect(res.statusCode, res.body).toBe(503);
      // The first thing an apply asks is whether the cluster serves Kueue (which objects to apply).
      expect(res.json().detail).toContain(`cannot reach Kubernetes at https://127.0.0.1:${port} to discover its API groups: ECONNREFUSED`);
      expect(res.json().detail).toContain('ECONNREFUSED');
      expect((await offline.store.tenants.get('offline'))?.cluster.state).toBe('failed');
    } finally {
      await offline.close();
    }
  });
});
