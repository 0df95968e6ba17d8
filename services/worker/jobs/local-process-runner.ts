/**
 * The development job runner: each job is a child process of the worker, in its own process
 * group, with a working directory `<root>/<jobId>/` that holds
 *
 *   checkpoint   written by the job (path in TANDEM_CHECKPOINT_FILE); read back by `status`
 *                and by the job itself when it is started again, which is how it resumes
 *   pid          so a restarted worker can still see whether the job runs
 *   exit.json    how it ended, as the runner saw it
 *   stdout.log, stderr.log
 *
 * A process killed by a signal the runner did not send counts as preempted, the local stand-in
 * for a reclaimed spot node. The job gets a minimal environment (PATH, HOME, LANG and its own
 * `env`), never the worker's, which holds provider keys.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { JobRunner, JobSpec, JobStatus } from '../../../shared/contracts/job-runner.ts';

interface ExitRecord {
  code: number | null;
  signal: NodeJS.Signals | null;
  cancelled: boolean;
}

interface TrackedJob {
  child: ChildProcess;
  exited: Promise<ExitRecord>;
  exit: ExitRecord | undefined;
  cancelling: boolean;
}

export interface LocalProcessRunnerOptions {
  /** Parent of the per-job directories, e.g. `<stateDir>/jobs`. */
  rootDir: string;
  /** Between SIGTERM and SIGKILL when cancelling. */
  killGraceMs?: number;
}

/** Checkpoints are small markers (a step, a shard index, a path), not data. */
const maxCheckpointBytes = 4096;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class LocalProcessRunner implements JobRunner {
  readonly #rootDir: string;
  readonly #killGraceMs: number;
  readonly #jobs = new Map<string, TrackedJob>();

  constructor({ rootDir, killGraceMs = 5000 }: LocalProcessRunnerOptions) {
    this.#rootDir = rootDir;
    this.#killGraceMs = killGraceMs;
  }

  jobDir(jobId: string): string {
    if (!/^[a-z0-9][-a-z0-9]*$/.test(jobId)) throw new Error(`invalid job id "${jobId}"`);
    return path.join(this.#rootDir, jobId);
  }

  checkpointFile(jobId: string): string {
    return path.join(this.jobDir(jobId), 'checkpoint');
  }

  /** The pid of the job's process as recorded at start, if any. */
  pidOf(jobId: string): number | undefined {
    const file = path.join(this.jobDir(jobId), 'pid');
    return existsSync(file) ? Number(readFileSync(file, 'utf8')) : undefined;
  }

  jobIdOf(spec: JobSpec): string {
    return spec.name;
  }

  async submit(spec: JobSpec): Promise<string> {
    const jobId = this.jobIdOf(spec);
    const dir = this.jobDir(jobId);
    const tracked = this.#jobs.get(jobId);
    if (tracked && !tracked.exit) return jobId;
    const pid = this.pidOf(jobId);
    if (!tracked && pid !== undefined && alive(pid) && !existsSync(path.join(dir, 'exit.json'))) return jobId;

    mkdirSync(dir, { recursive: true });
    rmSync(path.join(dir, 'exit.json'), { force: true });
    const out = openSync(path.join(dir, 'stdout.log'), 'a');
    const err = openSync(path.join(dir, 'stderr.log'), 'a');
    const [command, ...args] = spec.command;
    let child: ChildProcess;
    try {
      child = spawn(command!, args, {
        cwd: dir,
        // Own process group: cancel reaches the job's children too.
        detached: true,
        stdio: ['ignore', out, err],
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? dir,
          LANG: process.env.LANG ?? 'C.UTF-8',
          ...spec.env,
          TANDEM_CHECKPOINT_FILE: this.checkpointFile(jobId),
          TANDEM_JOB_NAME: jobId,
        },
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    const job: TrackedJob = { child, exit: undefined, cancelling: false, exited: undefined as unknown as Promise<ExitRecord> };
    job.exited = new Promise<ExitRecord>((resolve) => {
      const finish = (record: ExitRecord) => {
        if (job.exit) return;
        job.exit = record;
        if (existsSync(dir)) writeFileSync(path.join(dir, 'exit.json'), JSON.stringify(record));
        resolve(record);
      };
      child.once('exit', (code, signal) => finish({ code, signal, cancelled: job.cancelling }));
      // A command that cannot start (ENOENT) is the job's failure, not a preemption.
      child.once('error', (e) => {
        writeFileSync(path.join(dir, 'stderr.log'), `${e.message}\n`, { flag: 'a' });
        finish({ code: 127, signal: null, cancelled: false });
      });
    });
    if (child.pid !== undefined) writeFileSync(path.join(dir, 'pid'), String(child.pid));
    this.#jobs.set(jobId, job);
    return jobId;
  }

  async status(jobId: string): Promise<JobStatus> {
    const dir = this.jobDir(jobId);
    if (!existsSync(dir)) return { state: 'unknown', checkpoint: null, exitCode: null, message: `job ${jobId} was never submitted` };
    const checkpoint = this.#checkpoint(jobId);
    const tracked = this.#jobs.get(jobId);
    const exit = tracked ? tracked.exit : this.#recordedExit(dir);
    if (!exit) {
      const pid = this.pidOf(jobId);
      if (tracked || (pid !== undefined && alive(pid))) return { state: 'running', checkpoint, exitCode: null, message: `running (pid ${pid})` };
      // The worker that started it is gone and so is the process: it was lost with its host.
      return { state: 'preempted', checkpoint, exitCode: null, message: 'the job process is gone and its exit was not observed' };
    }
    if (exit.cancelled) return { state: 'cancelled', checkpoint, exitCode: exit.code, message: 'cancelled' };
    if (exit.signal) return { state: 'preempted', checkpoint, exitCode: null, message: `killed by ${exit.signal}` };
    if (exit.code === 0) return { state: 'succeeded', checkpoint, exitCode: 0, message: 'exited 0' };
    return { state: 'failed', checkpoint, exitCode: exit.code, message: `exited with code ${exit.code}${this.#lastErrorLine(dir)}` };
  }

  async cancel(jobId: string): Promise<void> {
    const dir = this.jobDir(jobId);
    const tracked = this.#jobs.get(jobId);
    const pid = tracked?.child.pid ?? this.pidOf(jobId);
    if (tracked && !tracked.exit) {
      tracked.cancelling = true;
      this.#signal(pid, 'SIGTERM');
      const timer = setTimeout(() => this.#signal(pid, 'SIGKILL'), this.#killGraceMs);
      await tracked.exited;
      clearTimeout(timer);
    } else if (!tracked && pid !== undefined && alive(pid)) {
      this.#signal(pid, 'SIGKILL');
    }
    this.#jobs.delete(jobId);
    rmSync(dir, { recursive: true, force: true });
  }

  #signal(pid: number | undefined, signal: NodeJS.Signals): void {
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  }

  #checkpoint(jobId: string): string | null {
    try {
      const text = readFileSync(this.checkpointFile(jobId), 'utf8').trim();
      return text === '' ? null : text.slice(0, maxCheckpointBytes);
    } catch {
      return null;
    }
  }

  #recordedExit(dir: string): ExitRecord | undefined {
    try {
      return JSON.parse(readFileSync(path.join(dir, 'exit.json'), 'utf8')) as ExitRecord;
    } catch {
      return undefined;
    }
  }

  #lastErrorLine(dir: string): string {
    try {
      const last = readFileSync(path.join(dir, 'stderr.log'), 'utf8').trim().split('\n').at(-1);
      return last ? `: ${last.slice(0, 500)}` : '';
    } catch {
      return '';
    }
  }
}
