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
import { temporalPrepareSteps, temporalProcess } from './temporal.ts';
import type { PrepareStep, ProcessSpec } from './process-spec.ts';
import { StackError, StackInterrupted, Supervisor, type ProgressLog } from './supervisor.ts';
import { probeAirflow, probeTemporal } from './external-probes.ts';
import { buildStep, freeKubernetesPorts, localKubernetesPlan, type LocalKubernetesPlan } from './kubernetes/cluster.ts';

export interface StackHandle {
  config: TandemConfig;
  credentials: Credentials;
  credentialsFile: string;
  supervisor: Supervisor;
  /** Seconds from `startStack` to everything ready. */
  readySeconds: number;
  /** The local Kubernetes, when started with `withKubernetes`. */
  kubernetes?: { server: string; kubeconfigPath: string };
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
): { prepare: PrepareStep[]; waves: ProcessSpec[][]; finish: PrepareStep[] } {
  const prepare: PrepareStep[] = [];
  const servers: ProcessSpec[] = [];
  const clients: ProcessSpec[] = [];
  if (config.temporal.embedded) {
    prepare.push(...temporalPrepareSteps(config));
    servers.push(temporalProcess(config));
  } else {
    prepare.push({ name: `checking Temporal at ${config.temporal.address}`, run: () => probeTemporal(config) });
  }
  if (config.airflow.embedded) {
    prepare.push(...airflowPrepareSteps(config, credentials));
    const [apiServer, ...components] = airflowProcesses(config, credentials);
    servers.push(apiServer!);
    clients.push(...components);
  } else {
    prepare.push({ name: `checking Airflow at ${config.airflow.url}`, run: () => probeAirflow(config) });
  }
  prepare.push({ name: 'building workflow bundle', run: async () => void (await prebuildWorkflowBundle()) });
  // With the local Kubernetes, batch jobs run as Jobs on it: the worker gets its kubeconfig.
  const worker = workerProcess(config);
  clients.push(kubernetes ? { ...worker, env: { ...worker.env, TANDEM_JOBS_RUNNER: 'kubernetes', TANDEM_KUBECONFIG: kubernetes.kubeconfigPath } } : worker);
  const childEnv = configToEnv(config);
  // The API applies tenants (/v1/tenants) to the same cluster.
  const api = apiProcess(config);
  const apiWithCluster = kubernetes ? { ...api, env: { ...api.env, TANDEM_KUBECONFIG: kubernetes.kubeconfigPath } } : api;
  const tandemWaves = [servers, clients, [apiWithCluster]].map((wave) =>
    wave.map((spec) => ({ ...spec, env: { ...childEnv, ...spec.env } })),
  );
  // The cluster comes up before the engines: the worker's runner needs its API server.
  return { prepare, waves: [...(kubernetes?.waves ?? []), ...tandemWaves], finish: kubernetes ? [kubernetes.seed] : [] };
}

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
  try {
    if (options.withKubernetes) {
      // Before the preflight: it checks that the binaries the build makes exist.
      await supervisor.prepare([buildStep()]);
      kubernetes = localKubernetesPlan(`${config.stateDir}/kubernetes`, await freeKubernetesPorts(), progress);
    }
    const plan = stackPlan(config, credentials, kubernetes);
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
    ...(kubernetes ? { kubernetes: { server: kubernetes.server, kubeconfigPath: kubernetes.kubeconfigPath } } : {}),
    stop,
  };
}
