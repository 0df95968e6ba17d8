import { describe, expect, it } from 'vitest';
import {
  allowedRbac,
  checkBindings,
  checkManifests,
  checkNoSecrets,
  checkRbac,
  checkSettings,
  checkWorkloads,
  checkAvailability,
  parseManifests,
  parseQuantity,
  readBaseManifests,
  type KubeObject,
} from './manifests.ts';

const base = () => structuredClone(readBaseManifests());
const find = (objects: KubeObject[], kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`${kind} ${name} not in the base`);
  return found as any;
};
const apiContainer = (objects: KubeObject[]) => find(objects, 'Deployment', 'tandem-api').spec.template.spec.containers[0];

describe('deploy/k8s base', () => {
  it('holds every invariant', () => {
    expect(checkManifests(base(), { rendered: false })).toEqual([]);
  });

  it('has the control plane: both Deployments, the API Service, config, storage, identities, RBAC, policies', () => {
    const kinds = base().map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual(
      [
        'ClusterRole/tandem-job-runner',
        'ClusterRole/tandem-tenant-manager',
        'ClusterRoleBinding/tandem-job-runner',
        'ClusterRoleBinding/tandem-tenant-manager',
        'ConfigMap/tandem-config',
        'Deployment/tandem-api',
        'Deployment/tandem-worker',
        'NetworkPolicy/tandem-api',
        'NetworkPolicy/tandem-worker',
        'PersistentVolumeClaim/tandem-dags',
        'PersistentVolumeClaim/tandem-state',
        'PodDisruptionBudget/tandem-api',
        'PodDisruptionBudget/tandem-worker',
        'Service/tandem-api',
        'ServiceAccount/tandem-api',
        'ServiceAccount/tandem-worker',
      ].sort(),
    );
  });

  it('gives the worker the Job runner and the API the tenant manager, each under its own account', () => {
    const objects = base();
    expect(find(objects, 'Deployment', 'tandem-worker').spec.template.spec.serviceAccountName).toBe('tandem-worker');
    expect(find(objects, 'Deployment', 'tandem-api').spec.template.spec.serviceAccountName).toBe('tandem-api');
    expect(find(objects, 'ClusterRoleBinding', 'tandem-job-runner').subjects.map((s: any) => s.name)).toEqual(['tandem-worker']);
    expect(find(objects, 'ClusterRoleBinding', 'tandem-tenant-manager').subjects.map((s: any) => s.name)).toEqual(['tandem-api']);
  });

  it('grants the Job runner every right its list names (and the check refuses any other)', () => {
    // Limited is checked by checkRbac; this is the other half: nothing on the list was forgotten.
    for (const [role, allowed] of Object.entries(allowedRbac)) {
      const granted = new Map<string, Set<string>>();
      for (const rule of find(base(), 'ClusterRole', role).rules) {
        for (const g of rule.apiGroups) for (const r of rule.resources) granted.set(`${g}/${r}`, new Set(rule.verbs));
      }
      for (const [resource, verbs] of Object.entries(allowed)) expect([...(granted.get(resource) ?? [])].sort(), `${role} ${resource}`).toEqual([...verbs].sort());
    }
  });
});

describe('the manifest checks catch', () => {
  it('requests that differ from limits, even written alike ("1" = "1000m")', () => {
    const objects = base();
    apiContainer(objects).resources = { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1000m', memory: '1024Mi' } };
    expect(checkWorkloads(objects)).toEqual([]);
    apiContainer(objects).resources.limits.cpu = '2';
    expect(checkWorkloads(objects)).toEqual(['Deployment tandem-api container api: requests.cpu (1) must equal limits.cpu (2)']);
  });

  it('a missing limit', () => {
    const objects = base();
    delete apiContainer(objects).resources.limits.memory;
    expect(checkWorkloads(objects)).toEqual(['Deployment tandem-api container api: resources.requests and resources.limits must both set memory']);
  });

  it('missing or misdirected probes', () => {
    const objects = base();
    delete apiContainer(objects).readinessProbe;
    apiContainer(objects).livenessProbe.httpGet.path = '/';
    expect(checkWorkloads(objects)).toEqual([
      'Deployment tandem-api container api: livenessProbe must be an httpGet of /healthz',
      'Deployment tandem-api container api: readinessProbe must be an httpGet of /readyz',
    ]);
  });

  it('root, a writable root filesystem, privilege escalation', () => {
    const objects = base();
    const worker = find(objects, 'Deployment', 'tandem-worker').spec.template.spec;
    worker.securityContext.runAsNonRoot = false;
    worker.containers[0].securityContext.readOnlyRootFilesystem = false;
    delete worker.containers[0].securityContext.allowPrivilegeEscalation;
    expect(checkWorkloads(objects)).toEqual([
      'Deployment tandem-worker: the Pod must set securityContext.runAsNonRoot: true',
      'Deployment tandem-worker container worker: securityContext.readOnlyRootFilesystem must be true',
      'Deployment tandem-worker container worker: securityContext.allowPrivilegeEscalation must be false',
    ]);
  });

  it('a committed Secret, with data or without', () => {
    const objects = parseManifests(`
apiVersion: v1
kind: Secret
metadata: { name: tandem-credentials }
stringData: { credentials.json: "{}" }
`);
    expect(checkNoSecrets(objects)).toEqual([
      'Secret tandem-credentials: Secrets are created by the installer, never committed (reference it by name instead)',
    ]);
  });

  it('an extra verb, an extra resource, a wildcard, an unknown role', () => {
    const objects = base();
    const runner = find(objects, 'ClusterRole', 'tandem-job-runner');
    runner.rules[0].verbs.push('update');
    runner.rules.push({ apiGroups: [''], resources: ['secrets'], verbs: ['get'] });
    find(objects, 'ClusterRole', 'tandem-tenant-manager').rules[0].verbs = ['*'];
    find(objects, 'ClusterRole', 'tandem-tenant-manager').rules[1].verbs.push('delete');
    objects.push(...parseManifests('apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: { name: tandem-admin }\nrules: []\n'));
    expect(checkRbac(objects)).toEqual([
      'ClusterRole tandem-job-runner: grants update on batch/jobs; allowed: get, list, watch, create, delete',
      'ClusterRole tandem-job-runner: grants /secrets, which it does not need',
      'ClusterRole tandem-tenant-manager: grants * on /namespaces; allowed: get, list, watch, create, patch, delete',
      'ClusterRole tandem-tenant-manager: grants * on /limitranges; allowed: get, list, watch, create, patch, delete',
      'ClusterRole tandem-tenant-manager: grants delete on /resourcequotas; allowed: get, list, watch, create, patch',
      'ClusterRole tandem-admin: not a role tandem\'s code needs (known: tandem-job-runner, tandem-tenant-manager)',
    ]);
  });

  it('a setting tandem does not know, and one the loader refuses', () => {
    const objects = base();
    find(objects, 'ConfigMap', 'tandem-config').data.TANDEM_API_PROT = '8787';
    apiContainer(objects).env.push({ name: 'TANDEM_LOG_LEVEL', value: 'loud' });
    const problems = checkSettings(objects);
    expect(problems).toContain('Deployment tandem-api container api: TANDEM_API_PROT is not a tandem setting (a typo would stop the process at start)');
    expect(problems).toContainEqual(expect.stringMatching(/^Deployment tandem-api container api: invalid configuration: logLevel \(TANDEM_LOG_LEVEL\)/));
    // The worker takes the same ConfigMap, so it has the typo too, but not the API's own env.
    expect(problems.filter((p) => p.startsWith('Deployment tandem-worker'))).toEqual([
      'Deployment tandem-worker container worker: TANDEM_API_PROT is not a tandem setting (a typo would stop the process at start)',
    ]);
  });

  it('a Deployment no PodDisruptionBudget or NetworkPolicy selects', () => {
    const objects = base().filter((o) => !(o.kind === 'PodDisruptionBudget' && o.metadata.name === 'tandem-worker'));
    find(objects, 'NetworkPolicy', 'tandem-api').spec.podSelector.matchLabels['app.kubernetes.io/component'] = 'apii';
    expect(checkAvailability(objects)).toEqual([
      'Deployment tandem-api: no NetworkPolicy selects its Pods',
      'Deployment tandem-worker: no PodDisruptionBudget selects its Pods',
    ]);
  });

  it('a binding whose subject is not in the install\'s namespace (the unrendered base has none)', () => {
    expect(checkBindings(base())).toEqual([
      'ClusterRoleBinding tandem-job-runner: subject tandem-worker is in namespace (none), its ServiceAccount in (none)',
      'ClusterRoleBinding tandem-tenant-manager: subject tandem-api is in namespace (none), its ServiceAccount in (none)',
    ]);
  });
});

describe('parseQuantity', () => {
  it('reads the suffixes Kubernetes writes', () => {
    expect(parseQuantity('500m')).toBe(0.5);
    expect(parseQuantity('2Gi')).toBe(2 * 1024 ** 3);
    expect(parseQuantity('768Mi')).toBe(768 * 1024 ** 2);
    expect(parseQuantity('1G')).toBe(1e9);
    expect(parseQuantity(2)).toBe(2);
    expect(() => parseQuantity('two')).toThrow(/not a quantity/);
  });
});
