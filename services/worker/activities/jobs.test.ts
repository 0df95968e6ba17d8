// runJob with the real local process runner and real job processes, in a mocked activity context
// (heartbeats, attempts and cancellation under the test's control). The same activity under a
// real Temporal server: workflows/gpu-batch/workflow.temporal.test.ts.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { checkpointingJob } from '../../../test/support/jobs/paths.ts';
import { LocalProcessRunner } from '../jobs/local-process-runner.ts';
import { JobRefusedError, type JobRunner, type JobStatus } from '../../../shared/contracts/job-runner.ts';
import { activityErrorTypes } from '../../../shared/contracts/activity-errors.ts';
import { createJobActivities, type JobActivities, type JobHeartbeat, type RunJobInput } from './jobs.ts';

let root: string;
let runner: LocalProcessRunner;
let runJob: JobActivities['runJob'];
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'run-job-'));
  runner = new LocalProcessRunner({ rootDir: path.join(root, 'jobs'), killGraceMs: 1000 });
  ({ runJob } = createJobActivities({ runner, pollIntervalMs: 50 }));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function input(name: string, args: string[], extra: Partial<RunJobInput> = {}): RunJobInput {
  return {
    name,
    command: [process.execPath, checkpointingJob, ...args],
    resources: { requests: { 'nvidia.com/gpu': 1 }, limits: { 'nvidia.com/gpu': 1 } },
    faultTolerant: true,
    spot: true,
    maxPreemptions: 3,
    ...extra,
  };
}

function environment(info: ConstructorParameters<typeof MockActivityEnvironment>[0] = {}) {
  const env = new MockActivityEnvironment(info);
  const beats: JobHeartbeat[] = [];
  env.on('heartbeat', (d: JobHeartbeat) => beats.push(d));
  return { env, beats };
}

async function until<T>(probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

const logLines = (log: string) => readFileSync(log, 'utf8').trim().split('\n');

describe('runJob', () => {
  it('heartbeats checkpoints and, after a SIGKILL, resumes the job from its last checkpoint', async () => {
    const log = path.join(root, 'a.log');
    const { env, beats } = environment();
    const result = env.run(runJob, input('job-a', ['30', '40', log]));
    const killedAt = await until(() => (Number(beats.at(-1)?.checkpoint) >= 5 ? Number(beats.at(-1)!.checkpoint) : undefined));
    process.kill(runner.pidOf('job-a')!, 'SIGKILL');

    await expect(result).resolves.toEqual({ jobId: 'job-a', exitCode: 0, checkpoint: '30', preemptions: 1, submissions: 2 });
    const starts = logLines(log).filter((l) => l.startsWith('start'));
    expect(starts).toHaveLength(2);
    expect(starts[0]).toBe('start 0');
    expect(Number(starts[1]!.split(' ')[1])).toBeGreaterThanOrEqual(killedAt);
    expect(logLines(log).filter((l) => l === 'step 1')).toHaveLength(1);
    expect(beats.at(-1)).toEqual({ jobId: 'job-a', checkpoint: '30', preemptions: 1, submissions: 2 });
  });

  it('a retried attempt re-attaches to the job still running instead of starting another', async () => {
    const log = path.join(root, 'b.log');
    await runner.submit(input('job-b', ['10', '40', log]));
    const pid = runner.pidOf('job-b');
    const { env } = environment({ attempt: 2, heartbeatDetails: { jobId: 'job-b', checkpoint: '1', preemptions: 0, submissions: 1 } satisfies JobHeartbeat });
    await expect(env.run(runJob, input('job-b', ['10', '40', log]))).resolves.toMatchObject({ checkpoint: '10', submissions: 1, preemptions: 0 });
    expect(runner.pidOf('job-b')).toBe(pid);
    expect(logLines(log).filter((l) => l.startsWith('start'))).toEqual(['start 0']);
  });

  it('a retried attempt on another worker resubmits a lost job, which resumes from its checkpoint', async () => {
    const log = path.join(root, 'c.log');
    await runner.submit(input('job-c', ['40', '30', log]));
    await until(() => (Number(readFileSyncSafe(runner.checkpointFile('job-c'))) >= 4 ? true : undefined));
    process.kill(runner.pidOf('job-c')!, 'SIGKILL');
    await until(() => (existsSync(path.join(runner.jobDir('job-c'), 'exit.json')) ? true : undefined));
    const checkpoint = readFileSyncSafe(runner.checkpointFile('job-c'));

    // The new worker's runner has never seen this job; only the heartbeat details and the job's files remain.
    const other = createJobActivities({ runner: new LocalProcessRunner({ rootDir: path.join(root, 'jobs') }), pollIntervalMs: 50 });
    const { env } = environment({ attempt: 2, heartbeatDetails: { jobId: 'job-c', checkpoint, preemptions: 0, submissions: 1 } satisfies JobHeartbeat });
    await expect(env.run(other.runJob, input('job-c', ['40', '30', log]))).resolves.toMatchObject({ checkpoint: '40', submissions: 2, preemptions: 0 });
    expect(logLines(log).filter((l) => l.startsWith('start'))).toEqual(['start 0', `start ${checkpoint}`]);
  });

  it('on cancellation kills the job and cleans up before reporting cancelled', async () => {
    const { env, beats } = environment();
    const result = env.run(runJob, input('job-d', ['1000', '50', path.join(root, 'd.log')]));
    await until(() => (beats.length >= 2 ? true : undefined));
    const pid = runner.pidOf('job-d')!;
    env.cancel();
    await expect(result).rejects.toBeInstanceOf(CancelledFailure);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(runner.jobDir('job-d'))).toBe(false);
  });

  it('fails non-retryably when the job exits non-zero', async () => {
    const { env } = environment();
    const err = await env.run(runJob, input('job-e', ['2', '10', path.join(root, 'e.log'), '4'])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'GpuJobFailed', nonRetryable: true, message: 'job job-e failed: exited with code 4: giving up on purpose (exit 4)' });
  });

  it('fails the attempt retryably when a job that is not fault-tolerant is killed', async () => {
    const { env, beats } = environment();
    const result = env.run(runJob, input('job-f', ['1000', '50', path.join(root, 'f.log')], { faultTolerant: false, spot: false }));
    await until(() => (beats.length >= 1 ? true : undefined));
    process.kill(runner.pidOf('job-f')!, 'SIGKILL');
    const err = await result.catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'GpuJobPreempted', nonRetryable: false });
    expect((err as Error).message).toMatch(/killed by SIGKILL.*not faultTolerant/);
  });
});

function readFileSyncSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

describe('runJob with a runner that refuses', () => {
  /** The smallest JobRunner: what a cluster answers, scripted; records what the activity asks. */
  function scriptedRunner(statuses: JobStatus[], submitError?: Error) {
    const calls: string[] = [];
    const runner: JobRunner = {
      jobIdOf: (spec) => `ns/${spec.name}`,
      async submit(spec) {
        calls.push(`submit ${spec.name}`);
        if (submitError) throw submitError;
        return `ns/${spec.name}`;
      },
      async status(jobId) {
        calls.push(`status ${jobId}`);
        return statuses.shift() ?? { state: 'running', checkpoint: null, exitCode: null, message: '' };
      },
      async cancel(jobId) {
        calls.push(`cancel ${jobId}`);
      },
      changed: () => sleep(10),
    };
    return { runner, calls };
  }
  const unknown: JobStatus = { state: 'unknown', checkpoint: null, exitCode: null, message: 'no such Job' };

  it('fails at once, not retried, with the quota numbers, and creates nothing', async () => {
    const refused = new JobRefusedError('quota-exceeded', 'job q does not fit the quota: requests.nvidia.com/gpu: requested 4, used 6, limit 8 in namespace ns');
    const { runner: r, calls } = scriptedRunner([unknown], refused);
    const err = await new MockActivityEnvironment().run(createJobActivities({ runner: r }).runJob, input('q', [])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: activityErrorTypes.gpuJob.quotaExceeded, nonRetryable: true, message: refused.message });
    expect(calls).toEqual(['status ns/q', 'submit q']);
  });

  it('deletes a Job the quota refused after submission (FailedCreate), so it cannot start later behind the failed flow', async () => {
    const { runner: r, calls } = scriptedRunner([
      unknown,
      { state: 'failed', refusal: 'quota-exceeded', checkpoint: null, exitCode: null, message: 'the Job controller cannot create its Pod: exceeded quota: gpu' },
    ]);
    const err = await new MockActivityEnvironment().run(createJobActivities({ runner: r }).runJob, input('q', [])).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: activityErrorTypes.gpuJob.quotaExceeded, message: 'job ns/q cannot start: the Job controller cannot create its Pod: exceeded quota: gpu' });
    expect(calls).toEqual(['status ns/q', 'submit q', 'status ns/q', 'cancel ns/q']);
  });

  it('reports an invalid spec with its field paths', async () => {
    const refused = new JobRefusedError('invalid-spec', 'job q is not a valid Kubernetes Job: image: …', [{ path: 'image', message: '…' }]);
    const { runner: r } = scriptedRunner([unknown], refused);
    const err = await new MockActivityEnvironment().run(createJobActivities({ runner: r }).runJob, input('q', [])).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: activityErrorTypes.gpuJob.invalidSpec, nonRetryable: true, details: [{ jobId: 'ns/q', issues: [{ path: 'image', message: '…' }] }] });
  });
});
