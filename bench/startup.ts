/**
 * `npm run bench -- startup`: how long until tandem is usable, and what it costs idle.
 *
 * - cold bootstrap: a fresh clone running deploy/dev/bootstrap.sh (npm ci + .venv), with the
 *   machine's package caches as they are (skipped with --quick);
 * - first start (fresh state dir: migrations, credentials) and warm start (same state dir again),
 *   each from `startStack` to every process ready;
 * - idle memory (PSS) per process, summed over each process group.
 *
 * Baseline, in the same run: the two engines alone (see `engineStarts`), first and warm start, and
 * their memory, so each ratio says what tandem's own processes add.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, repoRoot, statePaths } from '../shared/config.ts';
import { stackPlan, startStack } from '../deploy/dev/stack.ts';
import { Supervisor } from '../deploy/dev/supervisor.ts';
import { ensureCredentials } from '../shared/credentials.ts';
import { isolatedStackEnv } from '../test/support/free-ports.ts';
import { figure, writeReport, type Figure } from './report.ts';
import { groupMemoryBytes, mib } from './process-memory.ts';

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
    const rss = Object.fromEntries(Object.entries(warm.supervisor.pids()).map(([name, pid]) => [name, groupMemoryBytes(pid)]));
    await warm.stop();
    return { first: first.readySeconds, warm: warm.readySeconds, rss };
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/**
 * The engines alone — Temporal dev server and Airflow's four processes, prepared and started
 * exactly as tandem does, without tandem's worker, API and workflow bundle — so the ratio is what
 * tandem adds. (`airflow standalone` would be the textbook baseline, but its log servers bind every
 * interface, which this machine's rules forbid.)
 */
async function engineStarts(): Promise<{ first: number; warm: number; rss: number }> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-engines-'));
  const config = loadConfig({ env: { ...process.env, ...(await isolatedStackEnv(stateDir)) } });
  const credentials = ensureCredentials(statePaths(stateDir).credentials).credentials;
  const plan = stackPlan(config, credentials);
  const tandemOwn = new Set(['worker', 'api']);
  const waves = plan.waves.map((wave) => wave.filter((spec) => !tandemOwn.has(spec.name))).filter((wave) => wave.length);
  const prepare = plan.prepare.filter((step) => !/workflow bundle/.test(step.name));
  const once = async () => {
    const t0 = performance.now();
    const supervisor = new Supervisor({ host: config.host, logDir: statePaths(stateDir).logs, progress: () => {} });
    try {
      await supervisor.preflight(waves.flat());
      await supervisor.prepare(prepare);
      for (const wave of waves) await Promise.all(wave.map((spec) => supervisor.start(spec)));
    } catch (err) {
      await supervisor.stop();
      throw err;
    }
    return { seconds: (performance.now() - t0) / 1000, supervisor };
  };
  try {
    const first = await once();
    await first.supervisor.stop();
    const warm = await once();
    await sleep(IDLE_SETTLE_MS);
    const rss = Object.values(warm.supervisor.pids()).reduce((n, pid) => n + groupMemoryBytes(pid), 0);
    await warm.supervisor.stop();
    return { first: first.seconds, warm: warm.seconds, rss };
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
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
  const baseline = await engineStarts();
  const tandem = await tandemStarts();
  const total = Object.values(tandem.rss).reduce((a, b) => a + b, 0);
  figures.push(
    figure({ metric: 'first_start_to_ready', unit: 's', value: tandem.first, baseline: 'engines alone (Temporal + Airflow), fresh', baseline_value: baseline.first }),
    figure({ metric: 'warm_start_to_ready', unit: 's', value: tandem.warm, baseline: 'engines alone (Temporal + Airflow), warm', baseline_value: baseline.warm, target: '<= 45' }),
    figure({ metric: 'idle_pss_total', unit: 'MiB', value: mib(total), baseline: 'engines alone (Temporal + Airflow)', baseline_value: mib(baseline.rss), note: `after ${IDLE_SETTLE_MS / 1000} s idle` }),
    ...Object.entries(tandem.rss).map(([name, bytes]) => figure({ metric: `idle_pss_${name}`, unit: 'MiB', value: mib(bytes) })),
  );
  writeReport('startup', figures);
  return figures;
}
