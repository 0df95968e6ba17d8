/**
 * Supervises the processes of the embedded stack: checks that binaries exist and ports are free,
 * starts each process in order and waits until its readiness probe passes, and stops everything
 * in reverse order. A process that dies is reported — never silently restarted — and brings the
 * whole stack down, because a half-running stack is harder to reason about at 2 AM than a stopped one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { PrepareStep, ProcessSpec } from './process-spec.ts';

export class StackError extends Error {
  override name = 'StackError';
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
  #stopping = false;
  readonly #host: string;
  readonly #logDir: string;
  readonly #progress: ProgressLog;
  /** Called once when a supervised process exits on its own. */
  onUnexpectedExit: (name: string, code: number | null) => void = () => {};

  constructor(options: { host: string; logDir: string; progress: ProgressLog }) {
    this.#host = options.host;
    this.#logDir = options.logDir;
    this.#progress = options.progress;
    mkdirSync(this.#logDir, { recursive: true });
  }

  logFile(name: string): string {
    return path.join(this.#logDir, `${name}.log`);
  }

  async prepare(steps: PrepareStep[]): Promise<void> {
    for (const step of steps) {
      const t0 = performance.now();
      this.#progress(`${step.name}…`);
      await step.run();
      this.#progress(`${step.name} done in ${seconds(t0)} s`);
    }
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
    const t0 = performance.now();
    this.#progress(`starting ${spec.name}…`);
    const log = createWriteStream(this.logFile(spec.name), { flags: 'a' });
    log.write(`\n--- ${new Date().toISOString()} starting ${spec.command} ${spec.args.join(' ')}\n`);
    // detached: each process leads its own process group, so stopping it also stops the children
    // it forks (Airflow's executor and api-server workers).
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)));
      child.once('error', () => resolve(127));
    });
    const running: Running = { spec, child, log, exited };
    this.#running.push(running);
    void exited.then((code) => {
      if (!this.#stopping && !running.expectedExit) this.onUnexpectedExit(spec.name, code);
    });

    const deadline = Date.now() + spec.readyTimeoutMs;
    let dead = false;
    void exited.then(() => (dead = true));
    while (Date.now() < deadline) {
      if (dead) {
        throw new StackError(`${spec.name} exited during start-up; see ${this.logFile(spec.name)}${this.#lastLines(spec.name)}`);
      }
      if (await spec.ready().catch(() => false)) {
        this.#progress(`${spec.name} ready in ${seconds(t0)} s (pid ${child.pid})`);
        return;
      }
      await sleep(250);
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

  /** Stops in reverse start order: SIGTERM to the process group, SIGKILL after a grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    for (const r of [...this.#running].reverse()) {
      if (r.child.exitCode === null && r.child.signalCode === null) {
        this.#progress(`stopping ${r.spec.name}…`);
        signalGroup(r.child, 'SIGTERM');
        const stopped = await Promise.race([r.exited.then(() => true), sleep(graceMs).then(() => false)]);
        if (!stopped) {
          this.#progress(`${r.spec.name} did not stop in ${graceMs / 1000} s; killing it`);
          signalGroup(r.child, 'SIGKILL');
          await r.exited;
        }
      }
      // Children of the group (e.g. executor workers) may outlive their leader briefly.
      signalGroup(r.child, 'SIGKILL');
      r.log.end();
    }
    this.#running.length = 0;
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function seconds(t0: number): string {
  return ((performance.now() - t0) / 1000).toFixed(1);
}
