import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkpointingJob } from '../../../test/support/jobs/paths.ts';
import { LocalProcessRunner } from './local-process-runner.ts';
import type { JobSpec } from '../../../shared/contracts/job-runner.ts';

let root: string;
let runner: LocalProcessRunner;
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'jobs-'));
  runner = new LocalProcessRunner({ rootDir: path.join(root, 'jobs'), killGraceMs: 1000 });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function spec(name: string, args: string[], extra: Partial<JobSpec> = {}): JobSpec {
  return {
    name,
    command: [process.execPath, checkpointingJob, ...args],
    resources: { requests: { 'nvidia.com/gpu': 1 }, limits: { 'nvidia.com/gpu': 1 } },
    faultTolerant: true,
    spot: false,
    ...extra,
  };
}

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

/**
 * Whether the process still runs. A killed orphan stays a zombie until its new parent (PID 1 or a
 * subreaper) reaps it, and signal 0 still reaches a zombie; it runs nothing, so it counts as gone.
 */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

describe('LocalProcessRunner', () => {
  it('runs a job, reports its checkpoints, and its success', async () => {
    const log = path.join(root, 'a.log');
    expect((await runner.status('job-a')).state).toBe('unknown');
    expect(await runner.submit(spec('job-a', ['5', '40', log]))).toBe('job-a');
    // Submitting again while it runs is a no-op (idempotent by name).
    await runner.submit(spec('job-a', ['5', '40', log]));
    const running = await until(async () => {
      const s = await runner.status('job-a');
      return s.state === 'running' && s.checkpoint !== null ? s : undefined;
    });
    expect(running.checkpoint).toMatch(/^[1-5]$/);
    const done = await until(async () => {
      const s = await runner.status('job-a');
      return s.state === 'running' ? undefined : s;
    });
    expect(done).toEqual({ state: 'succeeded', checkpoint: '5', exitCode: 0, message: 'exited 0' });
    expect(readFileSync(log, 'utf8').match(/^start/gm)).toHaveLength(1);
  });

  it('reports a killed job as preempted, and a resubmitted one resumes from its checkpoint', async () => {
    const log = path.join(root, 'b.log');
    await runner.submit(spec('job-b', ['20', '50', log]));
    await until(async () => (Number((await runner.status('job-b')).checkpoint) >= 3 ? true : undefined));
    process.kill(runner.pidOf('job-b')!, 'SIGKILL');
    const killed = await until(async () => {
      const s = await runner.status('job-b');
      return s.state === 'running' ? undefined : s;
    });
    expect(killed).toMatchObject({ state: 'preempted', message: 'killed by SIGKILL' });
    const resumedFrom = Number(killed.checkpoint);
    expect(resumedFrom).toBeGreaterThanOrEqual(3);

    await runner.submit(spec('job-b', ['20', '50', log]));
    const done = await until(async () => {
      const s = await runner.status('job-b');
      return s.state === 'running' ? undefined : s;
    });
    expect(done).toMatchObject({ state: 'succeeded', checkpoint: '20' });
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.filter((l) => l.startsWith('start'))).toEqual(['start 0', `start ${resumedFrom}`]);
    // Steps after the checkpoint ran once more at most (the one in flight when killed), never from zero.
    expect(lines.filter((l) => l === 'step 1')).toHaveLength(1);
  });

  it('reports a non-zero exit as failed with the last stderr line', async () => {
    await runner.submit(spec('job-c', ['1', '10', path.join(root, 'c.log'), '3']));
    const done = await until(async () => {
      const s = await runner.status('job-c');
      return s.state === 'running' ? undefined : s;
    });
    expect(done).toEqual({ state: 'failed', checkpoint: '1', exitCode: 3, message: 'exited with code 3: giving up on purpose (exit 3)' });
  });

  it('cancel kills the job and its children and removes its directory', async () => {
    await runner.submit({ ...spec('job-d', []), command: ['sh', '-c', 'sleep 30 & echo $! > child.pid; wait'] });
    const dir = runner.jobDir('job-d');
    const childPid = await until(() => (existsSync(path.join(dir, 'child.pid')) ? Number(readFileSync(path.join(dir, 'child.pid'), 'utf8')) : undefined));
    const pid = runner.pidOf('job-d')!;
    await runner.cancel('job-d');
    expect(alive(pid)).toBe(false);
    await until(() => (alive(childPid) ? undefined : true), 3000);
    expect(existsSync(dir)).toBe(false);
    expect((await runner.status('job-d')).state).toBe('unknown');
    await runner.cancel('job-d'); // idempotent
  });

  it('gives the job only its own environment, not the worker’s', async () => {
    process.env.TANDEM_TEST_SECRET = 'sk-worker-only';
    try {
      await runner.submit({ ...spec('job-e', []), command: ['sh', '-c', 'env > env.txt'], env: { SHARD: '7' } });
      await until(async () => ((await runner.status('job-e')).state === 'succeeded' ? true : undefined));
    } finally {
      delete process.env.TANDEM_TEST_SECRET;
    }
    const env = readFileSync(path.join(runner.jobDir('job-e'), 'env.txt'), 'utf8');
    expect(env).toContain('SHARD=7');
    expect(env).toContain(`TANDEM_CHECKPOINT_FILE=${runner.checkpointFile('job-e')}`);
    expect(env).not.toContain('sk-worker-only');
  });

  it('a new runner (restarted worker) still sees a running job and a lost one as preempted', async () => {
    await runner.submit(spec('job-f', ['100', '50', path.join(root, 'f.log')]));
    const pid = runner.pidOf('job-f')!;
    const restarted = new LocalProcessRunner({ rootDir: path.join(root, 'jobs') });
    expect((await restarted.status('job-f')).state).toBe('running');
    // Submitting from the restarted worker attaches instead of starting a second process.
    await restarted.submit(spec('job-f', ['100', '50', path.join(root, 'f.log')]));
    expect(restarted.pidOf('job-f')).toBe(pid);
    process.kill(pid, 'SIGKILL');
    await until(() => (alive(pid) ? undefined : true));
    expect(await restarted.status('job-f')).toMatchObject({ state: 'preempted', message: 'killed by SIGKILL' });
    // Had the first worker died too, nobody would have recorded the exit.
    await until(() => (existsSync(path.join(runner.jobDir('job-f'), 'exit.json')) ? true : undefined));
    rmSync(path.join(runner.jobDir('job-f'), 'exit.json'));
    expect(await restarted.status('job-f')).toMatchObject({ state: 'preempted', message: 'the job process is gone and its exit was not observed' });
  });
});
