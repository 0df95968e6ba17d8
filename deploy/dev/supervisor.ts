/**
 * Supervises the processes of the embedded stack: checks that binaries exist and ports are free,
 * starts each process in order and waits until its readiness probe passes, and stops everything
 * in reverse order. A process that dies is reported — never silently restarted — and brings the
 * whole stack down, because a half-running stack is harder to reason about at 2 AM than a stopped one.
 *
 * Every process the stack spawns goes through this module — the long-running ones (`start`) and
 * the commands of prepare steps such as Airflow's DB migration (`exec`, `runCommand`) — each in a
 * session and process group of its own, so a stop at any moment reaches all of them and whatever
 * they forked. `handleStopSignals` is the one place that turns SIGINT/SIGTERM/SIGHUP into a stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { processTable, readStat, type ProcStat } from './proc.ts';
import type { CommandOutput, PrepareStep, ProcessSpec, RunCommandOptions } from './process-spec.ts';

export class StackError extends Error {
  override name = 'StackError';
}

/** The stack was asked to stop (a signal, or `stop()`) while it was starting. */
export class StackInterrupted extends StackError {
  override name = 'StackInterrupted';
}

export type ProgressLog = (line: string) => void;

interface Running {
  spec: ProcessSpec;
  child: ChildProcess;
  log: WriteStream;
  exited: Promise<number | null>;
  /** Set when the exit was asked for (`kill`), so it is not reported as a crash. */
  expectedExit?: boolean;
}

export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function assertExecutable(spec: ProcessSpec): void {
  try {
    accessSync(spec.command, constants.X_OK);
  } catch {
    throw new StackError(
      `${spec.name}: executable ${spec.command} not found or not executable; ${spec.installHint ?? 'run `npm run bootstrap`'}`,
    );
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Supervisor {
  readonly #running: Running[] = [];
  readonly #killed = new Map<string, ProcessSpec>();
  /** Commands of prepare steps still running; a stop waits until each has exited. */
  readonly #commands = new Set<Promise<unknown>>();
  /** Aborted when the stop begins: prepare steps and start-up waits give up at once. */
  readonly #stopRequested = new AbortController();
  /** Rejects when the stop begins; raced against every wait of a start-up. */
  readonly #interrupted: Promise<never>;
  #stopped: Promise<void> | undefined;
  readonly #host: string;
  readonly #logDir: string;
  readonly #progress: ProgressLog;
  /** Called once when a supervised process exits on its own. */
  onUnexpectedExit: (name: string, code: number | null) => void = () => {};

  /** `signal`: aborting it stops the supervisor (everything it started and is starting). */
  constructor(options: { host: string; logDir: string; progress: ProgressLog; signal?: AbortSignal }) {
    this.#host = options.host;
    this.#logDir = options.logDir;
    this.#progress = options.progress;
    mkdirSync(this.#logDir, { recursive: true });
    this.#interrupted = new Promise<never>((_, reject) =>
      this.#stopRequested.signal.addEventListener('abort', () => reject(new StackInterrupted('the stack is stopping')), { once: true }),
    );
    this.#interrupted.catch(() => {});
    if (options.signal?.aborted) void this.stop();
    else options.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  get stopping(): boolean {
    return this.#stopRequested.signal.aborted;
  }

  logFile(name: string): string {
    return path.join(this.#logDir, `${name}.log`);
  }

  /** Resolves or rejects with `work`, or rejects with StackInterrupted as soon as a stop begins. */
  #unlessStopping<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.#interrupted]);
  }

  #refuseWhenStopping(what: string): void {
    if (this.stopping) throw new StackInterrupted(`${what}: not started, the stack is stopping`);
  }

  async prepare(steps: PrepareStep[]): Promise<void> {
    for (const step of steps) {
      this.#refuseWhenStopping(step.name);
      const t0 = performance.now();
      this.#progress(`${step.name}…`);
      // A step that is only in-process work (building the bundle) is simply abandoned on a stop;
      // its commands (exec) are killed by the stop itself.
      await this.#unlessStopping(step.run({ signal: this.#stopRequested.signal, exec: (command, args, options) => this.exec(command, args, options) }));
      this.#progress(`${step.name} done in ${seconds(t0)} s`);
    }
  }

  /** `runCommand` under this supervisor: refused once stopping, killed by `stop`, which waits for it. */
  exec(command: string, args: string[], options: RunCommandOptions = {}): Promise<CommandOutput> {
    this.#refuseWhenStopping(path.basename(command));
    const signal = options.signal ? AbortSignal.any([options.signal, this.#stopRequested.signal]) : this.#stopRequested.signal;
    const run = runCommand(command, args, { ...options, signal });
    const settled = run.then(
      () => {},
      () => {},
    );
    this.#commands.add(settled);
    void settled.then(() => this.#commands.delete(settled));
    return run;
  }

  /** Checks every binary and port up front so a conflict is reported before anything starts. */
  async preflight(specs: ProcessSpec[]): Promise<void> {
    for (const spec of specs) assertExecutable(spec);
    for (const spec of specs) {
      for (const port of spec.ports) {
        if (!(await portIsFree(this.#host, port))) {
          throw new StackError(
            `${spec.name}: port ${this.#host}:${port} is already in use (another tandem stack or program?); ` +
              `stop it or choose another port (see "Configuration" in README.md)`,
          );
        }
      }
    }
  }

  async start(spec: ProcessSpec): Promise<void> {
    // Checked right before the spawn, with no await in between: a stop that has begun never
    // misses a process started after it looked at the list.
    this.#refuseWhenStopping(spec.name);
    const t0 = performance.now();
    this.#progress(`starting ${spec.name}…`);
    const log = createWriteStream(this.logFile(spec.name), { flags: 'a' });
    log.write(`\n--- ${new Date().toISOString()} starting ${spec.command} ${spec.args.join(' ')}\n`);
    // detached: each process leads its own process group, so stopping it also stops the children
    // it forks (Airflow's executor and api-server workers).
    // (detached = setsid: a session of its own too, which `stop` uses to find what it forked.)
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const exited = trackGroup(child);
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const running: Running = { spec, child, log, exited };
    this.#running.push(running);
    void exited.then((code) => {
      if (!this.stopping && !running.expectedExit) this.onUnexpectedExit(spec.name, code);
    });

    const deadline = Date.now() + spec.readyTimeoutMs;
    let dead = false;
    void exited.then(() => (dead = true));
    while (Date.now() < deadline) {
      if (this.stopping) throw new StackInterrupted(`start-up of ${spec.name} interrupted: the stack is stopping`);
      if (dead) {
        throw new StackError(`${spec.name} exited during start-up; see ${this.logFile(spec.name)}${this.#lastLines(spec.name)}`);
      }
      // A probe can take seconds (the api-server's first Execution API call); a stop must not wait for it.
      if (await this.#unlessStopping(spec.ready().catch(() => false))) {
        this.#progress(`${spec.name} ready in ${seconds(t0)} s (pid ${child.pid})`);
        return;
      }
      await this.#unlessStopping(sleep(250));
    }
    throw new StackError(
      `${spec.name} not ready after ${Math.round(spec.readyTimeoutMs / 1000)} s; see ${this.logFile(spec.name)}${this.#lastLines(spec.name)}`,
    );
  }

  /** The end of a process's log, so a start-up failure says why without opening the file. */
  #lastLines(name: string, count = 5): string {
    try {
      const lines = readFileSync(this.logFile(name), 'utf8').trimEnd().split('\n').filter((l) => l.trim() && !l.startsWith('--- '));
      const tail = lines.slice(-count);
      return tail.length ? `; last lines:\n    ${tail.join('\n    ')}` : '';
    } catch {
      return '';
    }
  }

  pids(): Record<string, number> {
    return Object.fromEntries(this.#running.map((r) => [r.spec.name, r.child.pid ?? -1]));
  }

  /**
   * Fault injection for tests and benchmarks: sends `signal` (SIGKILL by default) to the
   * process's whole group — the process and everything it forked, as when its machine dies — and
   * waits for it to exit. `restart` then starts it again from the same spec.
   */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const r = this.#find(name);
    r.expectedExit = true;
    signalGroup(r.child, signal);
    await r.exited;
    signalGroup(r.child, 'SIGKILL');
    r.log.end();
    this.#running.splice(this.#running.indexOf(r), 1);
    this.#killed.set(name, r.spec);
  }

  /** Starts a process `kill` stopped (same spec, same log file); resolves when it is ready again. */
  async restart(name: string): Promise<void> {
    const spec = this.#killed.get(name);
    if (!spec) throw new StackError(`${name} was not killed through the supervisor; nothing to restart`);
    this.#killed.delete(name);
    await this.start(spec);
  }

  #find(name: string): Running {
    const r = this.#running.find((x) => x.spec.name === name);
    if (!r) throw new StackError(`no running process named ${name} (running: ${this.#running.map((x) => x.spec.name).join(', ')})`);
    return r;
  }

  /**
   * Stops everything, at any moment — while preparing, while a wave starts, or running: commands
   * of prepare steps first, then the processes in reverse start order (those still starting up
   * included): SIGTERM to the process, then to its group, SIGKILL after a grace period, then SIGKILL to
   * whatever the process forked (its session, and descendants that left it). Idempotent: a second
   * call returns the first call's promise.
   */
  stop(graceMs = 10_000): Promise<void> {
    this.#stopped ??= this.#stop(graceMs);
    return this.#stopped;
  }

  async #stop(graceMs: number): Promise<void> {
    this.#stopRequested.abort();
    // runCommand settles only once its process group is gone (SIGKILL 5 s after SIGTERM).
    await Promise.all([...this.#commands]);
    for (const r of [...this.#running].reverse()) {
      // Taken before SIGTERM: a descendant in a session of its own (a task's `bash` command) is
      // re-parented to init once its parent exits and cannot be found from the leader any more.
      const forked = descendants(r.child.pid);
      if (r.child.exitCode === null && r.child.signalCode === null) {
        this.#progress(`stopping ${r.spec.name}…`);
        // The leader first, so it stops its own children in order: Airflow's triggerer hangs for
        // good when its trigger runner got the signal too. Then the whole group: a scheduler
        // waiting for running tasks takes a second signal as "do not wait".
        if (r.child.pid !== undefined) signalPid(r.child.pid, 'SIGTERM');
        const exitedSoon = await Promise.race([r.exited.then(() => true), sleep(Math.min(2_000, graceMs / 2)).then(() => false)]);
        if (!exitedSoon) signalGroup(r.child, 'SIGTERM');
        const stopped = exitedSoon || (await Promise.race([r.exited.then(() => true), sleep(graceMs).then(() => false)]));
        if (!stopped) {
          this.#progress(`${r.spec.name} did not stop in ${graceMs / 1000} s; killing it`);
          signalGroup(r.child, 'SIGKILL');
          await r.exited;
        }
      }
      // Children (executor workers, task runners in process groups of their own) may outlive
      // their leader.
      killForked(r.child.pid, forked);
      r.log.end();
    }
    this.#running.length = 0;
  }
}

// --- process groups ------------------------------------------------------------------------------

/**
 * Leaders of every process group this module started and that has not exited yet, whichever
 * Supervisor started it: what a forced stop (`killAllProcessGroups`) must reach.
 */
const liveLeaders = new Set<number>();

function trackGroup(child: ChildProcess): Promise<number | null> {
  const pid = child.pid;
  if (pid !== undefined) liveLeaders.add(pid);
  return new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      if (pid !== undefined) liveLeaders.delete(pid);
      resolve(code ?? (signal ? 128 : null));
    });
    child.once('error', () => resolve(127));
  });
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid !== undefined) signalPid(-child.pid, signal);
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** The processes below pid, by parent links. */
function descendants(pid: number | undefined): ProcStat[] {
  if (pid === undefined) return [];
  const table = processTable();
  const found: ProcStat[] = [];
  const parents = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        found.push(p);
        grew = true;
      }
    }
  }
  return found;
}

/**
 * SIGKILL to what a supervised process (a session leader) forked: its group, every process still
 * in its session (Airflow's task runners move to process groups of their own, not sessions), and
 * the descendants seen before the stop, each only if it is still the same process.
 */
function killForked(leader: number | undefined, seenBefore: ProcStat[]): void {
  if (leader === undefined) return;
  signalPid(-leader, 'SIGKILL');
  for (const p of processTable()) if (p.session === leader) signalPid(p.pid, 'SIGKILL');
  for (const p of seenBefore) if (readStat(p.pid)?.startTime === p.startTime) signalPid(p.pid, 'SIGKILL');
}

/** SIGKILL to every process group this process started, and to what they forked: the forced stop. */
export function killAllProcessGroups(): void {
  for (const leader of liveLeaders) killForked(leader, descendants(leader));
}

// --- one-shot commands -----------------------------------------------------------------------

/**
 * Runs a command to completion in a session and process group of its own and resolves with its
 * output; rejects with the output's tail when it fails. On `signal` or timeout the group gets
 * SIGTERM, then SIGKILL after 5 s. Settles only once the whole group is gone, so a caller that
 * awaits it knows nothing of the command is left.
 */
export function runCommand(command: string, args: string[], options: RunCommandOptions = {}): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new StackInterrupted(`${path.basename(command)} ${args.join(' ')}: not started, the stack is stopping`));
      return;
    }
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const exited = trackGroup(child);
    const out: string[] = [];
    const err: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => out.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => err.push(chunk));
    let stopReason: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const terminate = (reason: string) => {
      if (stopReason) return;
      stopReason = reason;
      signalGroup(child, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), 5_000);
    };
    const onAbort = () => terminate('interrupted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timeout = options.timeoutMs ? setTimeout(() => terminate(`timed out after ${options.timeoutMs} ms`), options.timeoutMs) : undefined;
    void exited.then(() => {
      clearTimeout(timeout);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      // What the command forked may still hold the pipes open (and 'close' waiting); it goes with its leader.
      killForked(child.pid, []);
    });
    const what = `${path.basename(command)} ${args.join(' ')}`;
    const settle = (code: number | null, error?: Error) => {
      const result = { stdout: out.join(''), stderr: err.join('') };
      if (stopReason === 'interrupted') reject(new StackInterrupted(`${what} interrupted: the stack is stopping`));
      else if (code === 0 && !stopReason && !error) resolve(result);
      else {
        const why = stopReason ?? error?.message ?? (child.signalCode ? `killed by ${child.signalCode}` : `exit code ${code}`);
        const tail = `${result.stderr}\n${result.stdout}`.trim().split('\n').slice(-25).join('\n');
        reject(Object.assign(new Error(`${what} failed (${why}):\n${tail}`), result));
      }
    };
    // 'close' comes after 'exit' and the end of both pipes, so the output is complete.
    child.once('close', (code) => settle(code));
    child.once('error', (e) => {
      clearTimeout(timeout);
      options.signal?.removeEventListener('abort', onAbort);
      settle(null, e);
    });
  });
}

// --- signals -----------------------------------------------------------------------------------

/**
 * The one place that turns SIGINT (Ctrl-C), SIGTERM and SIGHUP (terminal closed — the stack's
 * processes are in sessions of their own, so they would not get it) into a stop. The first signal
 * calls `onStop`, which stops gracefully (e.g. aborts the signal given to `startStack`, or calls
 * `stack.stop()`) and exits. A second one — an impatient Ctrl-C — SIGKILLs every process group
 * this process started and exits at once. A repeat within `echoMs` does not count as a second:
 * under `npm start` one Ctrl-C arrives twice, from the terminal and forwarded by npm.
 */
export function handleStopSignals(onStop: (signal: NodeJS.Signals) => void, progress: ProgressLog, echoMs = 500): void {
  let firstAt: number | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (firstAt === undefined) {
      firstAt = performance.now();
      onStop(signal);
      return;
    }
    if (performance.now() - firstAt < echoMs) return;
    progress(`${signal} again: killing every process now`);
    killAllProcessGroups();
    process.exit(130);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, handler);
}

function seconds(t0: number): string {
  return ((performance.now() - t0) / 1000).toFixed(1);
}
