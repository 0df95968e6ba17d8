/**
 * The embedded stack as one unit: prepare the state dir, then Temporal → Airflow → worker → API.
 * Used by `npm start` (launcher.ts), by the integration tests' global setup and by benchmarks,
 * so all three run exactly the same stack.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { TandemConfig } from '../../shared/config.ts';
import { configToEnv, statePaths } from '../../shared/config.ts';
import { ensureCredentials, type Credentials } from '../../shared/credentials.ts';
import { prebuildWorkflowBundle } from '../../services/worker/bundle.ts';
import { airflowPrepareSteps, airflowProcesses } from './airflow.ts';
import { apiProcess } from './api.ts';
import { workerProcess } from './worker.ts';
import { embeddedRegions, temporalPrepareSteps, temporalProcess } from './temporal.ts';
import type { PrepareStep, ProcessSpec } from './process-spec.ts';
import { StackError, StackInterrupted, Supervisor, type ProgressLog } from './supervisor.ts';
import { probeAirflow, probeTemporal } from './external-probes.ts';
import { temporalRegions } from '../../shared/regions.ts';
import { buildStep, freeKubernetesPorts, localKubernetesPlan, type LocalKubernetesPlan } from './kubernetes/cluster.ts';
import { exampleEmbedderProcess } from './kubernetes/example-embedder.ts';
import { launcherPostgresUrl, postgresPrepareSteps, postgresProcess } from './postgres.ts';
import {
  clusterPorts,
  temporalBuildStep,
  temporalClusterPrepareSteps,
  temporalClusterProcesses,
  type TemporalClusterOptions,
} from './temporal-cluster/cluster.ts';
import pg from 'pg';
import { connectionProblem, describeDatabaseUrl } from '../../shared/store/postgres-store.ts';
import { openStore } from '../../shared/store/open-store.ts';

export interface StackHandle {
  config: TandemConfig;
  credentials: Credentials;
  credentialsFile: string;
  supervisor: Supervisor;
  /** Seconds from `startStack` to everything ready. */
  readySeconds: number;
  /** The local Kubernetes, when started with `withKubernetes`. */
  kubernetes?: { server: string; kubeconfigPath: string };
  profile: StackProfile;
  stop(): Promise<void>;
}

function prepareStateDir(config: TandemConfig): void {
  const dir = config.stateDir;
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new StackError(`state dir ${dir} exists but is not a directory; move it away or set TANDEM_STATE_DIR`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** One launcher per state dir: two would corrupt each other's SQLite files. */
function lockStateDir(config: TandemConfig): () => void {
  const lock = `${config.stateDir}/launcher.pid`;
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new StackError(
        `another tandem stack (pid ${pid}) is running on state dir ${config.stateDir}; stop it, or set TANDEM_STATE_DIR and the ports for a second stack`,
      );
    }
  }
  writeFileSync(lock, `${process.pid}\n`);
  return () => rmSync(lock, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * What to prepare, and the processes in waves: each wave starts in parallel once the previous one
 * is ready. Engines' servers first (Temporal, Airflow's api-server); then what talks to them
 * (Airflow's scheduler, dag-processor and triggerer, the tandem worker); the API last, so that its
 * readiness means the whole stack is ready. Starting a wave in parallel saves ~10 s per start.
 */
export function stackPlan(
  config: TandemConfig,
  credentials: Credentials,
  kubernetes?: LocalKubernetesPlan,
  cluster?: ClusterEngines,
): { prepare: PrepareStep[]; waves: ProcessSpec[][]; finish: PrepareStep[] } {
  const prepare: PrepareStep[] = [];
  const servers: ProcessSpec[] = [];
  const clients: ProcessSpec[] = [];
  let temporalWaves: ProcessSpec[][] = [];
  if (cluster?.temporal) {
    // First: its schema check is the one that refuses (an older or newer schema) before anything is written.
    prepare.push(...temporalClusterPrepareSteps(cluster.temporal));
    // history, matching, the frontend; the worker service (the last wave) starts beside Airflow's api-server.
    const waves = temporalClusterProcesses(cluster.temporal);
    servers.push(...waves.pop()!);
    temporalWaves = waves;
  } else if (config.temporal.embedded) {
    prepare.push(...temporalPrepareSteps(config));
    servers.push(temporalProcess(config));
  }
  // Regions on other servers are checked up front whether or not one Temporal is embedded.
  const external = temporalRegions(config).filter((r) => !config.temporal.embedded || r.address !== config.temporal.address);
  if (external.length > 0) {
    prepare.push({ name: `checking Temporal at ${external.map((r) => r.address).join(', ')}`, run: () => probeTemporal(config) });
  }
  if (config.airflow.embedded) {
    if (cluster?.airflowDatabase) prepare.push(createDatabaseStep(cluster.airflowDatabase.serverUrl, cluster.airflowDatabase.name));
    prepare.push(...airflowPrepareSteps(config, credentials));
    const [apiServer, ...components] = airflowProcesses(config, credentials);
    servers.push(apiServer!);
    clients.push(...components);
  } else {
    prepare.push({ name: `checking Airflow at ${config.airflow.url}`, run: () => probeAirflow(config) });
  }
  if (config.database.url) {
    // The API and the worker refuse a PostgreSQL schema older than their code: it moves here, once.
    prepare.push({ name: 'migrating the tandem store on PostgreSQL', run: () => migrateStore(config) });
  }
  prepare.push({ name: 'building workflow bundle', run: async () => void (await prebuildWorkflowBundle()) });
  // With the local Kubernetes, batch jobs run as Jobs on it: the worker gets its kubeconfig.
  const worker = workerProcess(config);
  clients.push(kubernetes ? { ...worker, env: { ...worker.env, TANDEM_JOBS_RUNNER: 'kubernetes', TANDEM_KUBECONFIG: kubernetes.kubeconfigPath } } : worker);
  // kwok runs no containers: this plays the example GPU image (README "Kubernetes") on the cluster.
  if (kubernetes) clients.push(exampleEmbedderProcess(kubernetes.kubeconfigPath, kubernetesDir(config)));
  const childEnv = configToEnv(config);
  // The API applies tenants (/v1/tenants) to the same cluster.
  const api = apiProcess(config);
  const apiWithCluster = kubernetes ? { ...api, env: { ...api.env, TANDEM_KUBECONFIG: kubernetes.kubeconfigPath } } : api;
  const tandemWaves = [servers, clients, [apiWithCluster]].map((wave) =>
    wave.map((spec) => ({ ...spec, env: { ...childEnv, ...spec.env } })),
  );
  // The cluster comes up before the engines: the worker's runner needs its API server.
  const clusterWaves = temporalWaves.map((wave) => wave.map((spec) => ({ ...spec, env: { ...childEnv, ...spec.env } })));
  return { prepare, waves: [...(kubernetes?.waves ?? []), ...clusterWaves, ...tandemWaves], finish: kubernetes ? [kubernetes.seed] : [] };
}

/** What the cluster profile runs on its PostgreSQL besides the store (see `startStack`). */
export interface ClusterEngines {
  /** The Temporal cluster, instead of the dev server. */
  temporal?: TemporalClusterOptions;
  /** Airflow's metadata database, created when missing (`airflow db migrate` then fills it). */
  airflowDatabase?: { serverUrl: string; name: string };
}

/** A connection to the server's `postgres` database, or a StackError saying why not and what to fix. */
async function connectToServer(serverUrl: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => {});
    throw new StackError(connectionProblem(err, describeDatabaseUrl(serverUrl)), { cause: err });
  }
}

function createDatabaseStep(serverUrl: string, name: string): PrepareStep {
  return {
    name: `creating the ${name} database on PostgreSQL (first start only)`,
    run: async () => {
      const client = await connectToServer(serverUrl);
      try {
        const exists = (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
        if (!exists) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } finally {
        await client.end().catch(() => {});
      }
    },
  };
}

/** `url` with its database part replaced: the other databases of the store's server. */
function onSameServer(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Where the local Kubernetes keeps its state: etcd data, kubeconfig, keys. */
const kubernetesDir = (config: TandemConfig) => `${config.stateDir}/kubernetes`;

async function migrateStore(config: TandemConfig): Promise<void> {
  try {
    await (await openStore(config, { migrate: true })).close();
  } catch (err) {
    throw new StackError((err as Error).message, { cause: err });
  }
}

/**
 * The stack's profiles: `embedded` (the default) keeps every piece of state in files of the state
 * dir; `cluster` runs the engines as a deployment past one machine would, on one PostgreSQL —
 * Debian's server in <state dir>/postgres on `database.port`, or the one `TANDEM_DATABASE_URL`
 * names: the store (as replicas would share it), the Temporal cluster (temporal-cluster/:
 * frontend, history, matching and worker services, 4 history shards, databases `temporal` and
 * `temporal_visibility`) instead of the dev server, and Airflow's metadata DB (database `airflow`,
 * unless `airflow.databaseUrl` names another) instead of SQLite.
 */
export const stackProfiles = ['embedded', 'cluster'] as const;
export type StackProfile = (typeof stackProfiles)[number];

export interface StartOptions {
  /**
   * Aborting it stops the stack at whatever point it has reached (preparing, a wave starting, or
   * running): every process it started, whole process groups, is stopped; a start under way
   * rejects with StackInterrupted once that is done.
   */
  signal?: AbortSignal;
  /**
   * Also run the local Kubernetes (deploy/dev/kubernetes) in <state dir>/kubernetes, and point
   * the worker's job runner at it (`npm start -- --with-kubernetes`).
   */
  withKubernetes?: boolean;
  /** `cluster`: the store, Temporal and Airflow on PostgreSQL (see `stackProfiles`). */
  profile?: StackProfile;
  /**
   * Cluster profile: bring an older Temporal schema up to the binary's (an upgrade cannot be
   * undone; back the databases up first). Without it an older schema is refused.
   */
  upgradeTemporalSchema?: boolean;
}

export async function startStack(config: TandemConfig, progress: ProgressLog, options: StartOptions = {}): Promise<StackHandle> {
  const t0 = performance.now();
  prepareStateDir(config);
  const unlock = lockStateDir(config);
  const paths = statePaths(config.stateDir);
  const { credentials, created } = ensureCredentials(paths.credentials, config.adminKey);
  if (created) progress(`generated credentials in ${paths.credentials}`);

  const supervisor = new Supervisor({ host: config.host, logDir: paths.logs, progress, signal: options.signal });
  const stop = async () => {
    await supervisor.stop();
    unlock();
  };
  let kubernetes: LocalKubernetesPlan | undefined;
  let cluster: ClusterEngines | undefined;
  const profile = options.profile ?? 'embedded';
  try {
    if (options.profile === 'cluster' && !config.database.url) {
      // First, like the engines' own databases would be: the migration (a prepare step of the
      // plan) and then the API and the worker need it answering.
      const postgres = postgresProcess(config.stateDir, config.database.port);
      await supervisor.preflight([postgres]);
      await supervisor.prepare(postgresPrepareSteps(config.stateDir));
      await supervisor.start(postgres);
      config = { ...config, database: { ...config.database, url: launcherPostgresUrl(config.stateDir, config.database.port) } };
    }
    if (profile === 'cluster') {
      const serverUrl = onSameServer(config.database.url!, 'postgres');
      // Before the Temporal build (minutes, cold): a server nobody answers is the user's to fix now.
      await supervisor.prepare([
        { name: `checking PostgreSQL at ${describeDatabaseUrl(serverUrl)}`, run: async () => void (await connectToServer(serverUrl)).end() },
      ]);
      cluster = {};
      if (config.temporal.embedded) {
        // Before the preflight: it checks that the binaries the build makes exist.
        await supervisor.prepare([temporalBuildStep()]);
        const t = config.temporal;
        cluster.temporal = {
          postgresUrl: serverUrl,
          ports: clusterPorts(t.port, t.httpPort, t.clusterPortBase),
          dir: `${config.stateDir}/temporal-cluster`,
          // Every region served by this Temporal gets its namespace, as on the dev server.
          namespaces: embeddedRegions(config).map((r) => r.namespace),
          upgradeSchema: options.upgradeTemporalSchema,
        };
      }
      if (config.airflow.embedded && !config.airflow.databaseUrl) {
        cluster.airflowDatabase = { serverUrl, name: 'airflow' };
        config = { ...config, airflow: { ...config.airflow, databaseUrl: onSameServer(config.database.url!, 'airflow') } };
      }
    }
    if (options.withKubernetes) {
      // Before the preflight: it checks that the binaries the build makes exist.
      await supervisor.prepare([buildStep()]);
      kubernetes = localKubernetesPlan(kubernetesDir(config), await freeKubernetesPorts(), progress);
    }
    const plan = stackPlan(config, credentials, kubernetes, cluster);
    await supervisor.preflight(plan.waves.flat());
    await supervisor.prepare(plan.prepare);
    for (const wave of plan.waves) await Promise.all(wave.map((spec) => supervisor.start(spec)));
    await supervisor.prepare(plan.finish);
  } catch (err) {
    // Asked before our own stop() below makes it true. When a stop was requested, a start that
    // failed meanwhile (its process was stopped) is reported as the interruption it was.
    const interrupted = supervisor.stopping;
    await stop();
    if (interrupted && !(err instanceof StackInterrupted)) throw new StackInterrupted('the stack was stopped while starting', { cause: err });
    throw err;
  }
  return {
    config,
    credentials,
    credentialsFile: paths.credentials,
    supervisor,
    readySeconds: (performance.now() - t0) / 1000,
    profile,
    ...(kubernetes ? { kubernetes: { server: kubernetes.server, kubeconfigPath: kubernetes.kubeconfigPath } } : {}),
    stop,
  };
}
