// "Ctrl-C at any moment leaves nothing behind": the launcher is interrupted in each phase of a
// start — the moment it prints the progress line that begins that phase — and must exit, leaving
// no process it started (none in the process groups or sessions it announced, none carrying this
// test's state dir in its environment or command line) and no port of the stack in use. Then the
// next start must succeed. One state dir for every case, so only the first starts migrate.
// Boots stacks of its own (it interrupts them), never the shared integration stack.
// Bootstrap's part (stamps written only after success) is covered by deploy/dev/bootstrap.test.ts.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../shared/config.ts';
import { portIsFree } from '../deploy/dev/supervisor.ts';
import { isolatedStackEnv } from './support/free-ports.ts';

const host = '127.0.0.1';
const launcherScript = path.join(repoRoot, 'deploy/dev/launcher.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.log(`[interrupt] ${line}`);

let stateDir: string;
let env: NodeJS.ProcessEnv;
let ports: number[];

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-interrupt-'));
  const stackEnv = await isolatedStackEnv(stateDir);
  ports = Object.entries(stackEnv)
    .filter(([k]) => k.endsWith('_PORT'))
    .map(([, v]) => Number(v));
  // The caller's TANDEM_* settings (e.g. of the shared stack) must not leak into this stack.
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
  Object.assign(env, stackEnv, { TANDEM_LOG_LEVEL: 'warn' });
});

afterAll(async () => {
  // A failed case must not leave its stack running beside the next test file.
  for (const p of leftovers()) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (stateDir && !process.env.TANDEM_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
});

interface ProcInfo {
  pid: number;
  pgid: number;
  sid: number;
  cmdline: string;
}

/** Every live process on the machine that belongs to this test's stacks. */
function leftovers(announced: Set<number> = new Set()): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue; // exited, waiting to be reaped: runs nothing, holds no port
      const pgid = Number(fields[2]);
      const sid = Number(fields[3]);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (announced.has(pgid) || announced.has(sid) || cmdline.includes(stateDir) || environ.includes(stateDir)) {
        found.push({ pid, pgid, sid, cmdline: cmdline.slice(0, 160) });
      }
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return found;
}

interface Interruption {
  /** The progress line (a substring of it) that begins the phase. */
  at: string;
  /** Wait this long after the line, so the phase is under way (e.g. the processes have spawned). */
  afterMs?: number;
  /** Or wait (after the line) until this holds, at most 60 s. */
  until?: () => boolean;
  /** SIGINT goes to the launcher's process group, as a terminal's Ctrl-C does; SIGTERM to its pid, as `kill` does. */
  signal: 'SIGINT' | 'SIGTERM';
  /** A second Ctrl-C this long after the first: the forced stop. */
  againAfterMs?: number;
  /** Start through `npm start` (bootstrap, then the launcher exec'd in npm's place). */
  viaNpm?: boolean;
  /** Launcher options, e.g. `--with-kubernetes`. */
  options?: string[];
}

interface Outcome {
  code: number | null;
  output: string;
  announced: Set<number>;
  /** Signal to exit. */
  stopMs: number;
}

async function waitFor(i: Interruption): Promise<void> {
  await sleep(i.afterMs ?? 0);
  for (const deadline = Date.now() + 60_000; i.until && !i.until() && Date.now() < deadline; ) await sleep(50);
}

/** Starts the launcher, interrupts it at the given line, and waits until it has exited. */
function startAndInterrupt(i: Interruption): Promise<Outcome> {
  const [command, args] = i.viaNpm ? ['npm', ['start', '--silent', '--', ...(i.options ?? [])]] : [process.execPath, [launcherScript, ...(i.options ?? [])]];
  // detached: a process group of its own, as a shell gives each job.
  const child = spawn(command, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  let signalledAt = 0;
  const announced = new Set<number>();
  const send = (signal: NodeJS.Signals) => {
    try {
      process.kill(signal === 'SIGINT' ? -child.pid! : child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const onLine = (line: string) => {
    const pid = / \(pid (\d+)\)$/.exec(line)?.[1];
    if (pid) announced.add(Number(pid));
    // How the stop went, for a slow one: which process took its time.
    if (signalledAt > 0 && /stopping|did not stop|killing|stopped/.test(line)) log(`+${((Date.now() - signalledAt) / 1000).toFixed(1)} s ${line}`);
    if (signalledAt || !line.includes(i.at)) return;
    signalledAt = -1;
    const seen = Date.now();
    void waitFor(i).then(() => {
      log(`${i.signal} ${Date.now() - seen} ms after "${i.at}"`);
      signalledAt = Date.now();
      send(i.signal);
      if (i.againAfterMs !== undefined) void sleep(i.againAfterMs).then(() => send('SIGINT'));
    });
  };
  let pending = '';
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    lines.forEach(onLine);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      send('SIGKILL');
      reject(new Error(`launcher still running 240 s after its start (signalled: ${signalledAt > 0}); output:\n${output}`));
    }, 240_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (signalledAt <= 0) reject(new Error(`launcher exited (code ${code}) before "${i.at}" was signalled; output:\n${output}`));
      else resolve({ code, output, announced, stopMs: Date.now() - signalledAt });
    });
  });
}

/** Nothing of the stack is left: no process (polled briefly: SIGKILLed ones take a moment), no port. */
async function expectNothingLeft(outcome: Outcome): Promise<void> {
  let left = leftovers(outcome.announced);
  for (let tries = 0; left.length && tries < 20; tries++) {
    await sleep(250);
    left = leftovers(outcome.announced);
  }
  expect(left, `processes left behind; launcher output:\n${outcome.output}`).toEqual([]);
  for (const port of ports) expect(await portIsFree(host, port), `port ${port} still in use`).toBe(true);
}

async function interruptedCleanly(i: Interruption): Promise<Outcome> {
  const t0 = Date.now();
  const outcome = await startAndInterrupt(i);
  log(`stopped in ${(outcome.stopMs / 1000).toFixed(1)} s (case ${((Date.now() - t0) / 1000).toFixed(1)} s), code ${outcome.code}`);
  await expectNothingLeft(outcome);
  // Each process is asked to stop and killed 10 s later at most; with seven that is the bound.
  expect(outcome.stopMs).toBeLessThan(75_000);
  return outcome;
}

const graceful = (outcome: Outcome) => {
  expect(outcome.code, outcome.output).toBe(0);
  expect(outcome.output).toMatch(/\[tandem\] (interrupted|terminated); stopping…/);
  expect(outcome.output).toMatch(/\[tandem\] stopped\n/);
  expect(outcome.output).not.toMatch(/\[tandem\] error:/);
};

describe('launcher: interrupted in any phase, it stops everything it started', () => {
  it('while migrating the Airflow DB (the migration command is killed; the next start migrates again)', async () => {
    // Once the DB file exists the migration is writing it: interrupted half-way, not before it began.
    const db = path.join(stateDir, 'airflow', 'airflow.db');
    const outcome = await interruptedCleanly({ at: 'migrating Airflow metadata DB', until: () => existsSync(db) && statSync(db).size > 0, signal: 'SIGINT' });
    graceful(outcome);
    expect(outcome.output).not.toMatch(/migrating Airflow metadata DB .* done in/);
  }, 300_000);

  it('while the first wave starts (Temporal, Airflow api-server)', async () => {
    const outcome = await interruptedCleanly({ at: 'starting airflow-api-server…', afterMs: 500, signal: 'SIGINT' });
    graceful(outcome);
    // The interrupted start migrated the DB to the end: this start did it again, completely.
    expect(outcome.output).toMatch(/migrating Airflow metadata DB .* done in/);
  }, 300_000);

  it('while the second wave starts (scheduler with its executor, dag-processor, triggerer, worker)', async () => {
    graceful(await interruptedCleanly({ at: 'starting airflow-scheduler…', afterMs: 3_000, signal: 'SIGINT' }));
  }, 300_000);

  it('a second Ctrl-C kills everything at once', async () => {
    const outcome = await interruptedCleanly({ at: 'starting airflow-scheduler…', afterMs: 3_000, signal: 'SIGINT', againAfterMs: 700 });
    expect(outcome.code, outcome.output).toBe(130);
    expect(outcome.output).toContain('SIGINT again: killing every process now');
  }, 300_000);

  it('on SIGTERM while the API starts', async () => {
    graceful(await interruptedCleanly({ at: 'starting api…', signal: 'SIGTERM' }));
  }, 300_000);

  it('while the example pipelines are applied (the case a new user found)', async () => {
    graceful(await interruptedCleanly({ at: 'applying the example pipelines…', signal: 'SIGINT' }));
  }, 300_000);

  it('with --with-kubernetes, while the local cluster starts (etcd is up, the API server starting)', async () => {
    graceful(await interruptedCleanly({ at: 'starting kube-apiserver…', afterMs: 1_000, signal: 'SIGINT', options: ['--with-kubernetes'] }));
  }, 300_000);

  it('with --with-kubernetes, while the kwok nodes are created (everything else running, the example embedder too)', async () => {
    const outcome = await interruptedCleanly({ at: 'creating the kwok nodes…', signal: 'SIGINT', options: ['--with-kubernetes'] });
    graceful(outcome);
    expect(outcome.output).toMatch(/example-embedder ready in/);
  }, 300_000);

  it('after all that, `npm start` gets ready, and Ctrl-C once running stops it', async () => {
    const outcome = await interruptedCleanly({ at: 'Press Ctrl-C to stop.', signal: 'SIGINT', viaNpm: true });
    graceful(outcome);
    expect(outcome.output).toMatch(/tandem is ready in/);
    expect(outcome.output).toMatch(/applied example pipeline kb-refresh/);
    // One Ctrl-C reaches the launcher twice (terminal, and npm forwarding it): still one graceful stop.
    expect(outcome.output).not.toContain('killing every process now');
  }, 300_000);
});
