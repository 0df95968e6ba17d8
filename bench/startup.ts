/**
 * `npm run bench -- startup`: how long until tandem is usable, and what it costs idle.
 *
 * - cold bootstrap: a fresh clone running deploy/dev/bootstrap.sh (npm ci + .venv), with the
 *   machine's package caches as they are (skipped with --quick);
 * - first start (fresh state dir: migrations, credentials) and warm start (same state dir again),
 *   each from `startStack` to every process ready;
 * - idle resident memory per process, summed over each process group.
 *
 * Baseline, in the same run: the engines started the usual hand-made way for local development —
 * `airflow standalone` plus `temporal server start-dev` — timed to the same readiness (Airflow's
 * health endpoint all healthy, Temporal answering), first and warm start, and their memory.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, repoRoot } from '../shared/config.ts';
import { startStack } from '../deploy/dev/stack.ts';
import { temporalCliPath, temporalServerReady } from '../deploy/dev/temporal.ts';
import { freePorts, isolatedStackEnv } from '../test/support/free-ports.ts';
import { figure, writeReport, type Figure } from './report.ts';
import { groupRssBytes, mib } from './process-memory.ts';

const host = '127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const IDLE_SETTLE_MS = 15_000;

async function tandemStarts(): Promise<{ first: number; warm: number; rss: Record<string, number> }> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-startup-'));
  const config = loadConfig({ env: { ...process.env, ...(await isolatedStackEnv(stateDir)) } });
  const quiet = () => {};
  try {
    const first = await startStack(config, quiet);
    await first.stop();
    const warm = await startStack(config, (l) => console.log(`[bench startup] ${l}`));
    await sleep(IDLE_SETTLE_MS);
    const rss = Object.fromEntries(Object.entries(warm.supervisor.pids()).map(([name, pid]) => [name, groupRssBytes(pid)]));
    await warm.stop();
    return { first: first.readySeconds, warm: warm.readySeconds, rss };
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function airflowHealthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/api/v2/monitor/health`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return false;
    const body = (await res.json()) as Record<string, { status?: string } | undefined>;
    return ['metadatabase', 'scheduler', 'triggerer', 'dag_processor'].every((c) => body[c]?.status === 'healthy');
  } catch {
    return false;
  }
}

function killGroup(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      resolve();
    }
    setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 15_000).unref();
  });
}

/** `airflow standalone` + `temporal server start-dev`: one start until both are ready. */
async function baselineStart(home: string, ports: number[]): Promise<{ seconds: number; children: ChildProcess[] }> {
  const [airflowPort, temporalPort, uiPort] = ports as [number, number, number];
  const t0 = performance.now();
  const env = {
    ...process.env,
    AIRFLOW_HOME: path.join(home, 'airflow'),
    AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
    AIRFLOW__CORE__DAGS_FOLDER: path.join(home, 'dags'),
    AIRFLOW__API__HOST: host,
    AIRFLOW__API__PORT: String(airflowPort),
    AIRFLOW__API__BASE_URL: `http://${host}:${airflowPort}`,
    AIRFLOW__CORE__EXECUTION_API_SERVER_URL: `http://${host}:${airflowPort}/execution/`,
  };
  const airflow = spawn(path.join(repoRoot, '.venv/bin/airflow'), ['standalone'], { env, stdio: 'ignore', detached: true });
  const temporal = spawn(
    temporalCliPath,
    ['server', 'start-dev', '--ip', host, '--port', String(temporalPort), '--ui-port', String(uiPort), '--db-filename', path.join(home, 'temporal.db'), '--log-level', 'error'],
    { stdio: 'ignore', detached: true },
  );
  const probeConfig = loadConfig({ env: { TANDEM_STATE_DIR: home, TANDEM_TEMPORAL_PORT: String(temporalPort) } });
  const deadline = Date.now() + 300_000;
  let temporalUp = false;
  let airflowUp = false;
  while (!(temporalUp && airflowUp)) {
    if (Date.now() > deadline) throw new Error('baseline did not become ready in 300 s');
    temporalUp ||= await temporalServerReady(probeConfig).catch(() => false);
    airflowUp ||= await airflowHealthy(`http://${host}:${airflowPort}`);
    if (!(temporalUp && airflowUp)) await sleep(250);
  }
  return { seconds: (performance.now() - t0) / 1000, children: [airflow, temporal] };
}

async function baselineStarts(): Promise<{ first: number; warm: number; rss: number }> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-baseline-'));
  const ports = await freePorts(host, 3);
  try {
    const first = await baselineStart(home, ports);
    await Promise.all(first.children.map(killGroup));
    const warm = await baselineStart(home, ports);
    await sleep(IDLE_SETTLE_MS);
    const rss = warm.children.reduce((n, c) => n + groupRssBytes(c.pid!), 0);
    await Promise.all(warm.children.map(killGroup));
    return { first: first.seconds, warm: warm.seconds, rss };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

function coldBootstrapSeconds(): number {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-clone-'));
  try {
    execFileSync('git', ['clone', '--quiet', repoRoot, dir]);
    const t0 = performance.now();
    execFileSync('sh', ['deploy/dev/bootstrap.sh'], { cwd: dir, stdio: 'inherit' });
    return (performance.now() - t0) / 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startupBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const figures: Figure[] = [];
  if (!quick) {
    figures.push(
      figure({ metric: 'cold_bootstrap', unit: 's', value: coldBootstrapSeconds(), target: '<= 600', note: 'fresh clone, npm ci + .venv from requirements.lock, package caches as on this machine' }),
    );
  }
  const baseline = await baselineStarts();
  const tandem = await tandemStarts();
  const total = Object.values(tandem.rss).reduce((a, b) => a + b, 0);
  figures.push(
    figure({ metric: 'first_start_to_ready', unit: 's', value: tandem.first, baseline: 'airflow standalone + temporal start-dev, fresh', baseline_value: baseline.first }),
    figure({ metric: 'warm_start_to_ready', unit: 's', value: tandem.warm, baseline: 'airflow standalone + temporal start-dev, warm', baseline_value: baseline.warm, target: '<= 45' }),
    figure({ metric: 'idle_rss_total', unit: 'MiB', value: mib(total), baseline: 'airflow standalone + temporal start-dev', baseline_value: mib(baseline.rss), note: `after ${IDLE_SETTLE_MS / 1000} s idle` }),
    ...Object.entries(tandem.rss).map(([name, bytes]) => figure({ metric: `idle_rss_${name}`, unit: 'MiB', value: mib(bytes) })),
  );
  writeReport('startup', figures);
  return figures;
}
