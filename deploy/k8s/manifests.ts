/**
 * What must hold of every manifest tandem ships in deploy/k8s, as one pure check over parsed
 * objects, so the unit tier can hold the base to it and the Kubernetes tier each rendered overlay
 * (manifests.kubernetes.test.ts, which also has the API server dry-run them):
 *
 * - every container sets cpu and memory requests equal to its limits (Guaranteed QoS: the
 *   control plane is not what a busy node evicts first), has liveness and readiness probes on
 *   `/healthz` and `/readyz`, runs as non-root on a read-only root filesystem;
 * - no Secret is committed: manifests only reference Secrets the installer creates;
 * - RBAC grants exactly what tandem's code uses (`allowedRbac`), per role, and nothing else;
 * - the settings (the ConfigMap and every `TANDEM_*` variable) are a configuration the config
 *   loader accepts, so a typo fails here rather than in a crash-looping Pod;
 * - every Deployment has a PodDisruptionBudget and a NetworkPolicy that select its Pods;
 * - once rendered into a namespace, every RoleBinding's ServiceAccount subject is in it.
 *
 * `check…` functions return the violations as sentences naming the object; empty means fine.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { knownVariables, loadConfig } from '../../shared/config.ts';

export const k8sDir = import.meta.dirname;
export const overlayNames = ['dev', 'production'] as const;

/** The slice of a Kubernetes object these checks read; anything else is carried along untyped. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface Container {
  name: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  livenessProbe?: { httpGet?: { path?: string } };
  readinessProbe?: { httpGet?: { path?: string } };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; privileged?: boolean };
}

interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  serviceAccountName?: string;
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/**
 * The rights of each role, by `apiGroup/resource` (core group: ''). The Job runner's (worker)
 * and the tenant manager's (API) are explained in base/rbac-*.yaml; this is the list a review of
 * a new verb must change on purpose.
 */
export const allowedRbac: Record<string, Record<string, readonly string[]>> = {
  'tandem-job-runner': {
    'batch/jobs': ['get', 'list', 'watch', 'create', 'delete'],
    '/pods': ['get', 'list', 'watch', 'delete'],
    '/pods/status': ['get'],
    '/configmaps': ['get', 'list', 'watch', 'create', 'patch', 'delete'],
    '/resourcequotas': ['get', 'list', 'watch'],
    '/events': ['get', 'list', 'watch'],
    'events.k8s.io/events': ['get', 'list', 'watch'],
    'kueue.x-k8s.io/workloads': ['get', 'list'],
  },
  'tandem-tenant-manager': {
    '/namespaces': ['get', 'list', 'watch', 'create', 'patch', 'delete'],
    '/resourcequotas': ['get', 'list', 'watch', 'create', 'patch'],
    '/limitranges': ['get', 'list', 'watch', 'create', 'patch', 'delete'],
    'kueue.x-k8s.io/resourceflavors': ['get', 'list', 'watch', 'create', 'patch'],
    'kueue.x-k8s.io/localqueues': ['get', 'list', 'watch', 'create', 'patch'],
    'kueue.x-k8s.io/clusterqueues': ['get', 'list', 'watch', 'create', 'patch', 'delete'],
  },
};

export function parseManifests(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0]!.message}`);
      return doc.toJS() as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null);
}

/** The base's objects as written (its kustomization only lists them and sets labels and images). */
export function readBaseManifests(): KubeObject[] {
  const base = path.join(k8sDir, 'base');
  const { resources } = parseYaml(readFileSync(path.join(base, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  return resources.flatMap((file) => parseManifests(readFileSync(path.join(base, file), 'utf8')));
}

/** `kubectl kustomize` of an overlay, parsed. */
export async function renderOverlay(kubectl: string, overlay: (typeof overlayNames)[number]): Promise<KubeObject[]> {
  const { stdout } = await promisify(execFile)(kubectl, ['kustomize', path.join(k8sDir, 'overlays', overlay)], { maxBuffer: 16 * 1024 * 1024 });
  return parseManifests(stdout);
}

const describe = (o: KubeObject) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

/** A Kubernetes quantity as a number ("500m" → 0.5, "2Gi" → 2147483648), so "1" equals "1000m". */
export function parseQuantity(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(value.trim());
  if (!match) throw new Error(`not a quantity: ${JSON.stringify(value)}`);
  const factor: Record<string, number> = {
    '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40,
  };
  return Number(match[1]) * factor[match[2] ?? '']!;
}

function podSpecOf(o: KubeObject): PodSpec | undefined {
  const spec = o.spec as { template?: { spec?: PodSpec }; jobTemplate?: { spec?: { template?: { spec?: PodSpec } } } } | undefined;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet'].includes(o.kind)) return spec?.template?.spec;
  if (o.kind === 'CronJob') return spec?.jobTemplate?.spec?.template?.spec;
  if (o.kind === 'Pod') return o.spec as PodSpec;
  return undefined;
}

function podLabelsOf(o: KubeObject): Record<string, string> {
  return ((o.spec as { template?: { metadata?: { labels?: Record<string, string> } } }).template?.metadata?.labels) ?? {};
}

function selects(selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] } | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  if (selector.matchExpressions?.length) throw new Error('matchExpressions are not checked here; use matchLabels');
  return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

export function checkWorkloads(objects: KubeObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const pod = podSpecOf(o);
    if (!pod) continue;
    const where = describe(o);
    if (pod.securityContext?.runAsNonRoot !== true) problems.push(`${where}: the Pod must set securityContext.runAsNonRoot: true`);
    if (pod.securityContext?.runAsUser === 0) problems.push(`${where}: the Pod runs as user 0`);
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      const at = `${where} container ${c.name}`;
      const { requests = {}, limits = {} } = c.resources ?? {};
      for (const resource of ['cpu', 'memory']) {
        if (requests[resource] === undefined || limits[resource] === undefined) {
          problems.push(`${at}: resources.requests and resources.limits must both set ${resource}`);
        }
      }
      for (const resource of new Set([...Object.keys(requests), ...Object.keys(limits)])) {
        const [req, lim] = [requests[resource], limits[resource]];
        if (req !== undefined && lim !== undefined && parseQuantity(req) !== parseQuantity(lim)) {
          problems.push(`${at}: requests.${resource} (${req}) must equal limits.${resource} (${lim})`);
        }
      }
      if (!pod.initContainers?.includes(c)) {
        if (c.livenessProbe?.httpGet?.path !== '/healthz') problems.push(`${at}: livenessProbe must be an httpGet of /healthz`);
        if (c.readinessProbe?.httpGet?.path !== '/readyz') problems.push(`${at}: readinessProbe must be an httpGet of /readyz`);
      }
      if (c.securityContext?.readOnlyRootFilesystem !== true) problems.push(`${at}: securityContext.readOnlyRootFilesystem must be true`);
      if (c.securityContext?.allowPrivilegeEscalation !== false) problems.push(`${at}: securityContext.allowPrivilegeEscalation must be false`);
      if (c.securityContext?.privileged) problems.push(`${at}: must not be privileged`);
    }
  }
  return problems;
}

export function checkNoSecrets(objects: KubeObject[]): string[] {
  return objects
    .filter((o) => o.kind === 'Secret')
    .map((o) => `${describe(o)}: Secrets are created by the installer, never committed (reference it by name instead)`);
}

export function checkRbac(objects: KubeObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
    const allowed = allowedRbac[o.metadata.name];
    if (!allowed) {
      problems.push(`${describe(o)}: not a role tandem's code needs (known: ${Object.keys(allowedRbac).join(', ')})`);
      continue;
    }
    if ((o as { aggregationRule?: unknown }).aggregationRule) problems.push(`${describe(o)}: aggregated roles gain rules from elsewhere`);
    for (const rule of (o.rules as PolicyRule[] | undefined) ?? []) {
      if (rule.nonResourceURLs?.length) problems.push(`${describe(o)}: grants non-resource URLs ${rule.nonResourceURLs.join(', ')}`);
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          const key = `${group}/${resource}`;
          const verbs = allowed[key];
          if (!verbs) {
            problems.push(`${describe(o)}: grants ${key}, which it does not need`);
            continue;
          }
          const extra = (rule.verbs ?? []).filter((v) => !verbs.includes(v));
          if (extra.length) problems.push(`${describe(o)}: grants ${extra.join(', ')} on ${key}; allowed: ${verbs.join(', ')}`);
        }
      }
    }
  }
  return problems;
}

/**
 * The settings a container starts with: the ConfigMaps it takes whole, then its own `env`
 * literals (a value from a Secret is left out: it is optional or the installer's). They must be
 * known `TANDEM_*` variables that the config loader accepts together.
 */
export function checkSettings(objects: KubeObject[]): string[] {
  const problems: string[] = [];
  const known = new Set(knownVariables);
  const configMaps = new Map(objects.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name, (o.data as Record<string, string>) ?? {}]));
  for (const o of objects) {
    const pod = podSpecOf(o);
    if (!pod) continue;
    for (const c of pod.containers) {
      const at = `${describe(o)} container ${c.name}`;
      const env: Record<string, string> = {};
      for (const from of (c as { envFrom?: { configMapRef?: { name: string } }[] }).envFrom ?? []) {
        const data = from.configMapRef && configMaps.get(from.configMapRef.name);
        if (from.configMapRef && !data) problems.push(`${at}: envFrom names ConfigMap ${from.configMapRef.name}, which is not among the manifests`);
        Object.assign(env, data ?? {});
      }
      const names = [...Object.keys(env), ...(c.env ?? []).map((e) => e.name)];
      for (const name of names.filter((n) => n.startsWith('TANDEM_') && !known.has(n))) {
        problems.push(`${at}: ${name} is not a tandem setting (a typo would stop the process at start)`);
      }
      for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
      try {
        // Unknown names are reported above, once; the loader judges the values of the rest.
        loadConfig({ env: Object.fromEntries(Object.entries(env).filter(([n]) => known.has(n))), cwd: '/' });
      } catch (err) {
        problems.push(`${at}: ${(err as Error).message}`);
      }
    }
  }
  return problems;
}

export function checkAvailability(objects: KubeObject[]): string[] {
  const problems: string[] = [];
  const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget');
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
  for (const d of objects.filter((o) => o.kind === 'Deployment')) {
    const labels = podLabelsOf(d);
    const spec = (x: KubeObject) => x.spec as { selector?: { matchLabels?: Record<string, string> }; podSelector?: { matchLabels?: Record<string, string> } };
    if (!pdbs.some((p) => selects(spec(p).selector, labels))) problems.push(`${describe(d)}: no PodDisruptionBudget selects its Pods`);
    if (!policies.some((p) => selects(spec(p).podSelector, labels))) problems.push(`${describe(d)}: no NetworkPolicy selects its Pods`);
  }
  return problems;
}

/** After rendering: bindings point at the ServiceAccounts of this install, in its namespace. */
export function checkBindings(objects: KubeObject[]): string[] {
  const problems: string[] = [];
  const accounts = new Map(objects.filter((o) => o.kind === 'ServiceAccount').map((o) => [o.metadata.name, o.metadata.namespace]));
  for (const b of objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
    for (const s of (b.subjects as { kind: string; name: string; namespace?: string }[] | undefined) ?? []) {
      if (s.kind !== 'ServiceAccount') {
        problems.push(`${describe(b)}: binds ${s.kind} ${s.name}; only tandem's ServiceAccounts are bound`);
      } else if (!accounts.has(s.name)) {
        problems.push(`${describe(b)}: binds ServiceAccount ${s.name}, which is not among the manifests`);
      } else if (!s.namespace || s.namespace !== accounts.get(s.name)) {
        problems.push(`${describe(b)}: subject ${s.name} is in namespace ${s.namespace ?? '(none)'}, its ServiceAccount in ${accounts.get(s.name) ?? '(none)'}`);
      }
    }
  }
  return problems;
}

/** Everything above; `rendered` adds what only holds once an overlay has set the namespace. */
export function checkManifests(objects: KubeObject[], { rendered }: { rendered: boolean }): string[] {
  return [
    ...checkWorkloads(objects),
    ...checkNoSecrets(objects),
    ...checkRbac(objects),
    ...checkSettings(objects),
    ...checkAvailability(objects),
    ...(rendered ? checkBindings(objects) : []),
  ];
}
