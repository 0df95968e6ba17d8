/**
 * Every overlay of deploy/k8s, rendered by the built kubectl (`kubectl kustomize`), holds the
 * manifest invariants (manifests.ts) and passes `kubectl apply --server-side --dry-run=server`
 * against the local cluster — the API server's own validation, with strict field checking, so a
 * misspelt or misplaced field fails here, and in a namespace where Pod Security admission warns
 * about anything below the Restricted standard. The RBAC is then applied for real and asked what it
 * allows: the worker's account can run Jobs in a department's namespace and nothing of the
 * tenant manager's, the API's the reverse, and neither reads Secrets.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import '../../test/support/stack-info.ts';
import { checkManifests, overlayNames, renderOverlay, type KubeObject } from './manifests.ts';
import { installSecretsYaml } from './secrets.ts';

const run = promisify(execFile);
const cluster = inject('kubernetes');
const kc = new k8s.KubeConfig();
kc.loadFromFile(cluster.kubeconfigPath);
const core = kc.makeApiClient(k8s.CoreV1Api);

/** The overlays install into this namespace; a dry run of namespaced objects needs it to exist. */
const installNamespace = 'tandem';
let createdNamespace = false;
let dir: string;

async function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfigPath, ...args], { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function writeManifests(name: string, objects: KubeObject[] | string): string {
  const file = path.join(dir, name);
  writeFileSync(file, typeof objects === 'string' ? objects : objects.map((o) => stringify(o)).join('---\n'));
  return file;
}

/** `kubectl apply --server-side --dry-run=server`: the objects as the API server would store them. */
async function dryRunApply(file: string) {
  const result = await kubectl('apply', '--server-side', '--dry-run=server', '--field-manager=tandem-install', '-o', 'json', '-f', file);
  const items = result.code === 0 ? ((JSON.parse(result.stdout) as { items?: KubeObject[] }).items ?? [JSON.parse(result.stdout) as KubeObject]) : [];
  return { ...result, items };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-k8s-manifests-'));
  const existing = await core.readNamespace({ name: installNamespace }).catch(() => undefined);
  if (!existing) {
    await core.createNamespace({ body: { metadata: { name: installNamespace } } });
    createdNamespace = true;
  }
  // Pod Security admission warns (on stderr, which the dry runs must leave empty) about any Pod
  // template that breaks the Restricted standard.
  const label = await kubectl('label', 'namespace', installNamespace, 'pod-security.kubernetes.io/warn=restricted', '--overwrite');
  expect(label.code, label.stderr).toBe(0);
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (createdNamespace) await core.deleteNamespace({ name: installNamespace }).catch(() => {});
});

describe.each(overlayNames)('overlay %s', (overlay) => {
  let objects: KubeObject[];
  beforeAll(async () => {
    objects = await renderOverlay(cluster.kubectl, overlay);
  });

  it('renders with the built kubectl and holds every invariant', () => {
    expect(objects.length).toBeGreaterThan(0);
    expect(objects.every((o) => o.kind.startsWith('Cluster') || o.metadata.namespace === installNamespace)).toBe(true);
    expect(checkManifests(objects, { rendered: true })).toEqual([]);
  });

  it('passes a server-side dry run of every object, changing nothing in the cluster', async () => {
    const result = await dryRunApply(writeManifests(`${overlay}.yaml`, objects));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const applied = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    expect(result.items.map(applied).sort()).toEqual(objects.map(applied).sort());
    // What the server would store still has what tandem relies on (nothing dropped as unknown).
    const api = result.items.find((o) => o.kind === 'Deployment' && o.metadata.name === 'tandem-api') as any;
    const container = api.spec.template.spec.containers[0];
    expect(container.resources.requests).toEqual(container.resources.limits);
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(api.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    // A dry run creates nothing.
    await expect(core.readNamespacedConfigMap({ name: 'tandem-config', namespace: installNamespace })).rejects.toMatchObject({ code: 404 });
  });
});

describe('server-side dry run', () => {
  it('catches what the invariants do not: a field the API server does not know, named by its path', async () => {
    const [deployment] = (await renderOverlay(cluster.kubectl, 'production')).filter((o) => o.kind === 'Deployment') as any[];
    deployment.spec.template.spec.containers[0].readinesProbe = deployment.spec.template.spec.containers[0].readinessProbe;
    const result = await dryRunApply(writeManifests('typo.yaml', [deployment]));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/\.spec\.template\.spec\.containers\[name="api"\]\.readinesProbe: field not declared in schema/);
  });

  it('reports a Pod template below the Restricted Pod Security standard', async () => {
    const [deployment] = (await renderOverlay(cluster.kubectl, 'production')).filter((o) => o.kind === 'Deployment') as any[];
    delete deployment.spec.template.spec.securityContext.seccompProfile;
    const result = await dryRunApply(writeManifests('privileged.yaml', [deployment]));
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/would violate PodSecurity "restricted:latest": seccompProfile/);
  });

  it('accepts the Secrets secrets.ts generates for an install', async () => {
    const result = await dryRunApply(writeManifests('secrets.yaml', installSecretsYaml({ namespace: installNamespace, apiUrl: 'http://tandem-api:8787' })));
    expect(result.stderr).toBe('');
    expect(result.items.map((o) => o.metadata.name).sort()).toEqual([
      'airflow-api-secret-key',
      'airflow-fernet-key',
      'airflow-jwt-secret',
      'tandem-airflow-connection',
      'tandem-airflow-user',
      'tandem-credentials',
      'tandem-payload-keys',
    ]);
  });
});

describe('RBAC, applied', () => {
  const departmentNamespace = `tandem-dept-${process.pid}`;
  let rbac: KubeObject[];

  beforeAll(async () => {
    rbac = (await renderOverlay(cluster.kubectl, 'production')).filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind));
    const result = await kubectl('apply', '--server-side', '--field-manager=tandem-install', '-f', writeManifests('rbac.yaml', rbac));
    expect(result.stderr).toBe('');
    await core.createNamespace({ body: { metadata: { name: departmentNamespace } } });
  });

  afterAll(async () => {
    await kubectl('delete', '--ignore-not-found', '--wait=false', '-f', path.join(dir, 'rbac.yaml'));
    await core.deleteNamespace({ name: departmentNamespace }).catch(() => {});
  });

  /** What `account` may do, as the API server's authorizer answers `kubectl auth can-i`. */
  async function canI(account: 'tandem-worker' | 'tandem-api', verb: string, resource: string, namespace?: string): Promise<boolean> {
    const args = ['auth', 'can-i', verb, resource, '--as', `system:serviceaccount:${installNamespace}:${account}`];
    const result = await kubectl(...args, ...(namespace ? ['-n', namespace] : []));
    if (result.stdout.trim() !== 'yes' && result.stdout.trim() !== 'no') throw new Error(`kubectl auth can-i: ${result.stderr}`);
    return result.stdout.trim() === 'yes';
  }

  /**
   * The same question for a resource of an API group this cluster does not serve (Kueue's): kubectl
   * cannot resolve it through discovery, so the review is asked of the authorizer directly.
   */
  async function mayOnGroup(account: 'tandem-worker' | 'tandem-api', verb: string, group: string, resource: string, namespace?: string): Promise<boolean> {
    const review = await kc.makeApiClient(k8s.AuthorizationV1Api).createSubjectAccessReview({
      body: {
        spec: {
          user: `system:serviceaccount:${installNamespace}:${account}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${installNamespace}`, 'system:authenticated'],
          resourceAttributes: { verb, group, resource, ...(namespace ? { namespace } : {}) },
        },
      },
    });
    return review.status?.allowed === true;
  }

  it('lets the worker run, watch, adopt and cancel Jobs in a department namespace, with their checkpoints, quota and events', async () => {
    const ns = departmentNamespace;
    const allowed = await Promise.all([
      canI('tandem-worker', 'create', 'jobs.batch', ns),
      canI('tandem-worker', 'watch', 'jobs.batch', ns),
      canI('tandem-worker', 'delete', 'jobs.batch', ns),
      canI('tandem-worker', 'list', 'pods', ns),
      canI('tandem-worker', 'delete', 'pods', ns),
      canI('tandem-worker', 'get', 'pods/status', ns),
      canI('tandem-worker', 'patch', 'configmaps', ns),
      canI('tandem-worker', 'get', 'resourcequotas', ns),
      canI('tandem-worker', 'watch', 'events', ns),
      canI('tandem-worker', 'list', 'events.events.k8s.io', ns),
      mayOnGroup('tandem-worker', 'list', 'kueue.x-k8s.io', 'workloads', ns),
    ]);
    expect(allowed).toEqual(allowed.map(() => true));
  });

  it('lets the API apply departments — Namespaces, ResourceQuotas, LimitRanges — and delete a deleted tenant\'s namespace', async () => {
    const allowed = await Promise.all([
      canI('tandem-api', 'create', 'namespaces'),
      canI('tandem-api', 'patch', 'namespaces'),
      canI('tandem-api', 'delete', 'namespaces'),
      canI('tandem-api', 'patch', 'resourcequotas', departmentNamespace),
      canI('tandem-api', 'create', 'limitranges', departmentNamespace),
      canI('tandem-api', 'delete', 'limitranges', departmentNamespace),
      canI('tandem-api', 'get', 'resourcequotas', departmentNamespace),
      // Where the cluster runs Kueue: flavors, the department's ClusterQueue (deleted with it), its LocalQueue.
      mayOnGroup('tandem-api', 'patch', 'kueue.x-k8s.io', 'resourceflavors'),
      mayOnGroup('tandem-api', 'patch', 'kueue.x-k8s.io', 'clusterqueues'),
      mayOnGroup('tandem-api', 'delete', 'kueue.x-k8s.io', 'clusterqueues'),
      mayOnGroup('tandem-api', 'create', 'kueue.x-k8s.io', 'localqueues', departmentNamespace),
    ]);
    expect(allowed).toEqual(allowed.map(() => true));
    // A quota goes with its namespace, never on its own.
    expect(await canI('tandem-api', 'delete', 'resourcequotas', departmentNamespace)).toBe(false);
  });

  it('refuses each the other\'s power, Secrets, updates of running Jobs, and RBAC itself', async () => {
    const refused = await Promise.all([
      canI('tandem-worker', 'create', 'namespaces'),
      canI('tandem-worker', 'patch', 'resourcequotas', departmentNamespace),
      canI('tandem-api', 'create', 'jobs.batch', departmentNamespace),
      canI('tandem-api', 'delete', 'pods', departmentNamespace),
      canI('tandem-worker', 'get', 'secrets', departmentNamespace),
      canI('tandem-api', 'get', 'secrets', installNamespace),
      canI('tandem-worker', 'update', 'jobs.batch', departmentNamespace),
      canI('tandem-worker', 'create', 'pods', departmentNamespace),
      // Kueue's objects are the tenant manager's; the runner only reads Workloads.
      mayOnGroup('tandem-worker', 'patch', 'kueue.x-k8s.io', 'clusterqueues'),
      mayOnGroup('tandem-worker', 'delete', 'kueue.x-k8s.io', 'workloads', departmentNamespace),
      canI('tandem-worker', 'create', 'rolebindings.rbac.authorization.k8s.io', departmentNamespace),
      canI('tandem-api', 'bind', 'clusterroles.rbac.authorization.k8s.io'),
    ]);
    expect(refused).toEqual(refused.map(() => false));
  });
});

describe('the production overlay, applied for real under kwok', () => {
  // kwok runs no containers, so this is about what the cluster does with the objects: the
  // Deployments make Pods that admission accepts and the scheduler places, and the worker lands
  // on the API's node, where the ReadWriteOnce state volume is attached.
  let file: string;
  const volumes = ['tandem-state', 'tandem-dags'].map((claim) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `${claim}-${process.pid}` },
    spec: {
      capacity: { storage: '10Gi' },
      accessModes: ['ReadWriteOnce', 'ReadWriteMany'],
      hostPath: { path: `/srv/${claim}` },
      // Bound to the claim up front: the local cluster has no provisioner.
      claimRef: { namespace: installNamespace, name: claim },
      persistentVolumeReclaimPolicy: 'Delete',
    },
  })) as unknown as KubeObject[];

  beforeAll(async () => {
    file = writeManifests('production-applied.yaml', [...volumes, ...(await renderOverlay(cluster.kubectl, 'production'))]);
    const result = await kubectl('apply', '--server-side', '--field-manager=tandem-install', '-f', file);
    expect(result.code, result.stderr).toBe(0);
  });

  afterAll(async () => {
    await kubectl('delete', '--ignore-not-found', '--wait=false', '-f', file);
  });

  it('runs one API and one worker Pod, the worker on the API\'s node', async () => {
    const running = async (component: string) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const pods = (await core.listNamespacedPod({ namespace: installNamespace, labelSelector: `app.kubernetes.io/name=tandem,app.kubernetes.io/component=${component}` })).items;
        const pod = pods.find((p) => p.status?.phase === 'Running');
        if (pod) return { pod, count: pods.length };
        if (Date.now() > deadline) throw new Error(`no running ${component} Pod: ${JSON.stringify(pods.map((p) => p.status?.conditions))}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const [api, worker] = await Promise.all([running('api'), running('worker')]);
    expect([api.count, worker.count]).toEqual([1, 1]);
    expect(worker.pod.spec?.nodeName).toBe(api.pod.spec?.nodeName);
    expect(worker.pod.spec?.serviceAccountName).toBe('tandem-worker');
    // Guaranteed QoS, from requests = limits.
    expect([api.pod.status?.qosClass, worker.pod.status?.qosClass]).toEqual(['Guaranteed', 'Guaranteed']);
  });
});
