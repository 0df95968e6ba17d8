/**
 * The local Kubernetes that tests, benchmarks and `npm start -- --with-kubernetes` run: etcd,
 * kube-apiserver, kube-controller-manager (Job, ResourceQuota, garbage
 * collector and node lifecycle controllers), kube-scheduler and kwok, every listener on
 * 127.0.0.1, built by build.sh into a cache outside the repository. kwok simulates the nodes in
 * nodes.ts (GPU capacity, some of it spot) and runs no containers (kwok-stages.yaml says what it
 * does do).
 *
 * Authentication is a static token file (one cluster-admin token for tandem, its tests and the
 * control-plane components) and RBAC authorization; the API server serves TLS with a certificate
 * it makes itself, which the kubeconfig does not verify — this cluster is for one machine's
 * loopback and holds nothing that matters once it is stopped.
 *
 * Processes go through the stack's Supervisor, so a stop (Ctrl-C) at any moment leaves none.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PrepareStep, ProcessSpec } from '../process-spec.ts';
import { freePorts } from '../ports.ts';
import { StackError, Supervisor, type ProgressLog } from '../supervisor.ts';
import { simulatedNodes } from './nodes.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const buildScript = path.join(here, 'build.sh');
const stagesFile = path.join(here, 'kwok-stages.yaml');
const host = '127.0.0.1';

export interface LocalKubernetes {
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin kubeconfig (cluster-admin through the static token). */
  kubeconfigPath: string;
  /** The kubectl built from the same Kubernetes module. */
  kubectl: string;
  stop(): Promise<void>;
}

export interface KubernetesPorts {
  etcdClient: number;
  etcdPeer: number;
  apiServer: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
  /** Kueue's health probes, metrics and webhook server (used only with `kueue`). */
  kueueHealth: number;
  kueueMetrics: number;
  kueueWebhook: number;
}

/** Where build.sh puts (or finds) the binaries; asks the script so the path is written once. */
export function kubernetesBinDir(): string {
  return execFileSync('sh', [buildScript, '--print-bin'], { encoding: 'utf8' }).trim();
}

/** Where build.sh puts Kueue: `bin/kueue` and `crds/`. */
function kueueDir(): string {
  return execFileSync('sh', [buildScript, '--print-kueue'], { encoding: 'utf8' }).trim();
}

interface ClusterFiles {
  dir: string;
  token: string;
  kubeconfig: string;
  tokens: string;
  saKey: string;
  saPub: string;
  certDir: string;
  etcdData: string;
  kwokConfig: string;
}

function clusterFiles(dir: string): Omit<ClusterFiles, 'token'> {
  return {
    dir,
    kubeconfig: path.join(dir, 'admin.kubeconfig'),
    tokens: path.join(dir, 'tokens.csv'),
    saKey: path.join(dir, 'service-account.key'),
    saPub: path.join(dir, 'service-account.pub'),
    certDir: path.join(dir, 'pki'),
    etcdData: path.join(dir, 'etcd'),
    kwokConfig: stagesFile,
  };
}

/**
 * Writes the token file, the service-account key pair and the admin kubeconfig, keeping what an
 * earlier start wrote (the token stays valid for the etcd data it has seen). Files are 0600.
 */
function writeClusterFiles(dir: string, server: string): ClusterFiles {
  const files = clusterFiles(dir);
  mkdirSync(files.certDir, { recursive: true, mode: 0o700 });
  let token: string;
  if (existsSync(files.tokens)) {
    token = execFileSync('cut', ['-d,', '-f1', files.tokens], { encoding: 'utf8' }).trim();
  } else {
    token = randomBytes(24).toString('hex');
    // token,user,uid,"group1,group2": system:masters is cluster-admin without any binding.
    writeFileSync(files.tokens, `${token},tandem-admin,tandem-admin,"system:masters"\n`, { mode: 0o600 });
  }
  if (!existsSync(files.saKey)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(files.saKey, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
    writeFileSync(files.saPub, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o600 });
  }
  const kubeconfig = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: tandem-local',
    '    cluster:',
    `      server: ${server}`,
    // The API server's self-made certificate: loopback only, see the module comment.
    '      insecure-skip-tls-verify: true',
    'users:',
    '  - name: tandem-admin',
    '    user:',
    `      token: ${token}`,
    'contexts:',
    '  - name: tandem-local',
    '    context: { cluster: tandem-local, user: tandem-admin }',
    'current-context: tandem-local',
    '',
  ].join('\n');
  writeFileSync(files.kubeconfig, kubeconfig, { mode: 0o600 });
  return { ...files, token };
}

/** GET over HTTP(S), self-signed certificates accepted (loopback only); resolves true on 200. */
function probe(url: string, token?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const request = get(url, { rejectUnauthorized: false, timeout: 2000, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => request.destroy());
  });
}

export function kubernetesProcesses(files: ClusterFiles, ports: KubernetesPorts, binDir: string): ProcessSpec[][] {
  const bin = (name: string) => path.join(binDir, name);
  const etcdUrl = `http://${host}:${ports.etcdClient}`;
  const server = `https://${host}:${ports.apiServer}`;
  const installHint = 'run `sh deploy/dev/kubernetes/build.sh` (builds etcd, the Kubernetes binaries and kwok)';
  // Delegated authn/z for the components' own /healthz and /metrics; no lookup of client CAs,
  // which this cluster (token authentication only) does not publish.
  const delegated = ['--authentication-kubeconfig', files.kubeconfig, '--authorization-kubeconfig', files.kubeconfig, '--authentication-skip-lookup'];
  const etcd: ProcessSpec = {
    name: 'etcd',
    command: bin('etcd'),
    args: [
      '--name', 'tandem-local',
      '--data-dir', files.etcdData,
      '--listen-client-urls', etcdUrl,
      '--advertise-client-urls', etcdUrl,
      '--listen-peer-urls', `http://${host}:${ports.etcdPeer}`,
      '--initial-advertise-peer-urls', `http://${host}:${ports.etcdPeer}`,
      '--initial-cluster', `tandem-local=http://${host}:${ports.etcdPeer}`,
      '--log-level', 'warn',
    ],
    ports: [ports.etcdClient, ports.etcdPeer],
    ready: () => probe(`${etcdUrl}/health`),
    readyTimeoutMs: 30_000,
    installHint,
  };
  const apiServer: ProcessSpec = {
    name: 'kube-apiserver',
    command: bin('kube-apiserver'),
    args: [
      '--etcd-servers', etcdUrl,
      '--bind-address', host,
      '--advertise-address', host,
      '--secure-port', String(ports.apiServer),
      '--cert-dir', files.certDir,
      '--token-auth-file', files.tokens,
      '--authorization-mode', 'RBAC',
      '--service-cluster-ip-range', '10.96.0.0/16',
      '--service-account-issuer', 'https://kubernetes.default.svc.cluster.local',
      '--service-account-key-file', files.saPub,
      '--service-account-signing-key-file', files.saKey,
      // The `kubernetes` Service's endpoints would name a loopback address, which is refused.
      '--endpoint-reconciler-type', 'none',
      '--profiling=false',
    ],
    ports: [ports.apiServer],
    ready: () => probe(`${server}/readyz`, files.token),
    readyTimeoutMs: 90_000,
    installHint,
  };
  const controllerManager: ProcessSpec = {
    name: 'kube-controller-manager',
    command: bin('kube-controller-manager'),
    args: [
      '--kubeconfig', files.kubeconfig,
      ...delegated,
      '--bind-address', host,
      '--secure-port', String(ports.controllerManager),
      '--leader-elect=false',
      '--service-account-private-key-file', files.saKey,
      '--use-service-account-credentials=false',
      '--profiling=false',
    ],
    ports: [ports.controllerManager],
    ready: () => probe(`https://${host}:${ports.controllerManager}/healthz`),
    readyTimeoutMs: 60_000,
    installHint,
  };
  const scheduler: ProcessSpec = {
    name: 'kube-scheduler',
    command: bin('kube-scheduler'),
    args: ['--kubeconfig', files.kubeconfig, ...delegated, '--bind-address', host, '--secure-port', String(ports.scheduler), '--leader-elect=false', '--profiling=false'],
    ports: [ports.scheduler],
    ready: () => probe(`https://${host}:${ports.scheduler}/healthz`),
    readyTimeoutMs: 60_000,
    installHint,
  };
  const kwok: ProcessSpec = {
    name: 'kwok',
    command: bin('kwok'),
    args: [
      '--kubeconfig', files.kubeconfig,
      '--config', files.kwokConfig,
      '--manage-nodes-with-annotation-selector', 'kwok.x-k8s.io/node=fake',
      '--server-address', `${host}:${ports.kwok}`,
      '--node-ip', host,
      '--cidr', '10.244.0.0/16',
      '--node-lease-duration-seconds', '40',
    ],
    ports: [ports.kwok],
    ready: () => probe(`http://${host}:${ports.kwok}/healthz`),
    readyTimeoutMs: 60_000,
    installHint,
  };
  return [[etcd], [apiServer], [controllerManager, scheduler, kwok]];
}

/** Builds (or finds in the cache) the binaries; cold this takes ~15 minutes, and says so. */
export function buildStep(): PrepareStep {
  return {
    name: 'building the local Kubernetes binaries (cached; cold ~15 min)',
    run: async (context) => {
      if (!context) throw new StackError('building Kubernetes needs a supervisor');
      const out = await context.exec('sh', [buildScript], { timeoutMs: 60 * 60_000 });
      for (const line of `${out.stdout}${out.stderr}`.split('\n')) if (line.startsWith('[kubernetes]')) console.log(line);
    },
  };
}

/** Nodes, then readiness of what a first Job needs: every node Ready, the default service account. */
async function seedCluster(files: ClusterFiles, server: string, progress: ProgressLog, timeoutMs = 60_000): Promise<void> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(files.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  for (const node of simulatedNodes()) {
    try {
      await core.createNode({ body: node });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = await core.listNode();
    const ready = nodes.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    const taintsGone = nodes.items.every((n) => !(n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/not-ready'));
    const account = await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }).then(
      () => true,
      () => false,
    );
    if (ready === simulatedNodes().length && taintsGone && account) break;
    if (Date.now() > deadline) throw new StackError(`local Kubernetes at ${server}: ${ready} of ${simulatedNodes().length} kwok nodes Ready after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
  progress(`kubernetes: ${simulatedNodes().length} kwok nodes ready (${server})`);
}

/**
 * Free ports for the cluster's processes, below the ephemeral range. The search starts between
 * 10000 and 19000, under the stack's own search (20000 up), so that the two, run one after the
 * other before either binds, do not promise the same port.
 */
export async function freeKubernetesPorts(): Promise<KubernetesPorts> {
  const names = ['etcdClient', 'etcdPeer', 'apiServer', 'controllerManager', 'scheduler', 'kwok', 'kueueHealth', 'kueueMetrics', 'kueueWebhook'] as const;
  const found = await freePorts(host, names.length, { from: 10_000, spread: 9_000 });
  return Object.fromEntries(names.map((name, i) => [name, found[i]!])) as unknown as KubernetesPorts;
}

/**
 * Kueue (sigs.k8s.io/kueue) beside the cluster, for the job runner's Kueue path: its CRDs, and
 * the manager out of cluster with the kubeconfig. Its admission webhooks are not registered (the
 * API server could not reach a webhook Service without kube-proxy); tandem creates its Jobs
 * suspended with their LocalQueue label itself, which is all the webhook would have added.
 * Kueue insists on a metrics certificate at /etc/kueue/metrics/certs when it does not manage
 * its own certificates, so a self-signed one is written there (this needs root, as the tests run).
 */
function kueueSteps(files: ClusterFiles, ports: KubernetesPorts): { install: PrepareStep; process: ProcessSpec } {
  const dir = kueueDir();
  const config = path.join(files.dir, 'kueue-config.yaml');
  return {
    install: {
      name: 'installing Kueue (CRDs, namespace, certificates)',
      run: async (context) => {
        const kubectl = path.join(kubernetesBinDir(), 'kubectl');
        const exec = context?.exec ?? (async (command: string, args: string[]) => ({ stdout: execFileSync(command, args, { encoding: 'utf8' }), stderr: '' }));
        await exec(kubectl, ['--kubeconfig', files.kubeconfig, 'apply', '--server-side', '-f', path.join(dir, 'crds')]);
        await exec(kubectl, ['--kubeconfig', files.kubeconfig, 'wait', '--for=condition=Established', '--timeout=60s', '-f', path.join(dir, 'crds')]);
        await exec(kubectl, ['--kubeconfig', files.kubeconfig, 'create', 'namespace', 'kueue-system']).catch(() => undefined);
        for (const certDir of ['/etc/kueue/metrics/certs', path.join(files.dir, 'kueue-webhook')]) {
          mkdirSync(certDir, { recursive: true, mode: 0o700 });
          if (!existsSync(path.join(certDir, 'tls.crt'))) {
            await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
              '-keyout', path.join(certDir, 'tls.key'), '-out', path.join(certDir, 'tls.crt')]);
          }
        }
        writeFileSync(config, [
          'apiVersion: config.kueue.x-k8s.io/v1beta2',
          'kind: Configuration',
          'namespace: kueue-system',
          `health: { healthProbeBindAddress: "${host}:${ports.kueueHealth}" }`,
          `metrics: { bindAddress: "${host}:${ports.kueueMetrics}" }`,
          `webhook: { host: "${host}", port: ${ports.kueueWebhook}, certDir: "${path.join(files.dir, 'kueue-webhook')}" }`,
          'leaderElection: { leaderElect: false }',
          'internalCertManagement: { enable: false }',
          'integrations: { frameworks: ["batch/job"] }',
          // Fair sharing across the cohort tandem's ClusterQueues join (services/tenants/kueue-manifests.ts):
          // borrowed quota goes to the department with the lowest share first, and is taken back from the highest.
          'fairSharing: { preemptionStrategies: ["LessThanOrEqualToFinalShare", "LessThanInitialShare"] }',
          '',
        ].join('\n'));
      },
    },
    process: {
      name: 'kueue',
      command: path.join(dir, 'bin', 'kueue'),
      // The on-demand visibility API is an aggregated API server of its own, with certificates
      // of its own; nothing here reads pending workloads through it.
      args: ['--config', config, '--feature-gates=VisibilityOnDemand=false'],
      env: { KUBECONFIG: files.kubeconfig },
      ports: [ports.kueueHealth, ports.kueueMetrics, ports.kueueWebhook],
      ready: () => probe(`http://${host}:${ports.kueueHealth}/readyz`),
      readyTimeoutMs: 60_000,
      installHint: 'run `sh deploy/dev/kubernetes/build.sh` (builds Kueue too)',
    },
  };
}

export interface LocalKubernetesPlan {
  /** etcd; the API server; the controller-manager, scheduler and kwok. */
  waves: ProcessSpec[][];
  /** Runs once every wave is ready: creates the kwok nodes and waits until they are Ready. */
  seed: PrepareStep;
  server: string;
  kubeconfigPath: string;
}

/**
 * The cluster's processes in `dir` on `ports`, for a supervisor that runs them among its own
 * (stack.ts, and startLocalKubernetes below). Call it once the binaries exist (buildStep):
 * it writes the token file, keys and kubeconfig.
 */
export function localKubernetesPlan(dir: string, ports: KubernetesPorts, progress: ProgressLog): LocalKubernetesPlan {
  const server = `https://${host}:${ports.apiServer}`;
  const files = writeClusterFiles(dir, server);
  return {
    waves: kubernetesProcesses(files, ports, kubernetesBinDir()),
    seed: { name: 'creating the kwok nodes', run: () => seedCluster(files, server, progress) },
    server,
    kubeconfigPath: files.kubeconfig,
  };
}

/**
 * A cluster of its own in `stateDir` (tests, benchmarks): builds or finds the binaries, starts
 * every process on free ports, creates the kwok nodes and waits until they are Ready.
 */
export async function startLocalKubernetes(options: {
  stateDir: string;
  log?: ProgressLog;
  signal?: AbortSignal;
  ports?: KubernetesPorts;
  /** Also install and run Kueue (see kueueSteps). */
  kueue?: boolean;
}): Promise<LocalKubernetes> {
  const progress = options.log ?? ((line: string) => console.log(`[kubernetes] ${line}`));
  mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
  const supervisor = new Supervisor({ host, logDir: path.join(options.stateDir, 'logs'), progress, signal: options.signal });
  try {
    await supervisor.prepare([buildStep()]);
    const ports = options.ports ?? (await freeKubernetesPorts());
    const plan = localKubernetesPlan(options.stateDir, ports, progress);
    const kueue = options.kueue ? kueueSteps(writeClusterFiles(options.stateDir, plan.server), ports) : undefined;
    await supervisor.preflight([...plan.waves.flat(), ...(kueue ? [kueue.process] : [])]);
    for (const wave of plan.waves) await Promise.all(wave.map((spec) => supervisor.start(spec)));
    await supervisor.prepare([plan.seed]);
    if (kueue) {
      await supervisor.prepare([kueue.install]);
      await supervisor.start(kueue.process);
    }
    return {
      server: plan.server,
      kubeconfigPath: plan.kubeconfigPath,
      kubectl: path.join(kubernetesBinDir(), 'kubectl'),
      stop: () => supervisor.stop(),
    };
  } catch (err) {
    await supervisor.stop();
    throw err;
  }
}
