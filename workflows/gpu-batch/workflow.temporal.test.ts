// gpu.batch end to end on real Temporal servers with the real jobs activity, the local process
// runner and real job processes: a job killed mid-way resumes from its checkpoint, a cancelled
// workflow kills its job, and a worker that stops heartbeating is noticed and the retry picks the
// job up from the last heartbeat instead of starting it again.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createJobActivities, type JobHeartbeat, type RunJobInput } from '../../services/worker/activities/jobs.ts';
import { LocalProcessRunner } from '../../services/worker/jobs/local-process-runner.ts';
import { gpuBatchInputSchema, type GpuBatchInput } from '../../shared/contracts/gpu-batch.ts';
import { checkpointingJob } from '../../test/support/jobs/paths.ts';
import { createLocalEnv } from '../../test/support/temporal-test-env.ts';
import { shortHeartbeatGpuBatch } from '../../test/support/workflows/short-heartbeat-gpu-batch.ts';
import { gpuBatchWorkflow, jobSuffix } from './workflow.ts';

let root: string;
let code: string;
let runner: LocalProcessRunner;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'gpu-batch-'));
  runner = new LocalProcessRunner({ rootDir: path.join(root, 'jobs'), killGraceMs: 1000 });
  ({ code } = await bundleWorkflowCode({ workflowsPath: path.join(import.meta.dirname, 'workflow.ts'), logger: new DefaultLogger('WARN') }));
}, 60_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

function batchInput(args: string[], extra: Partial<GpuBatchInput> = {}): GpuBatchInput {
  return gpuBatchInputSchema.parse({
    name: 'embed-shards',
    command: [process.execPath, checkpointingJob, ...args],
    resources: { requests: { 'nvidia.com/gpu': 1, cpu: '2' }, limits: { 'nvidia.com/gpu': 1 } },
    faultTolerant: true,
    spot: true,
    ...extra,
  });
}

async function until<T>(probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

const shortHeartbeatWorkflowPath = path.join(import.meta.dirname, '..', '..', 'test', 'support', 'workflows', 'short-heartbeat-gpu-batch.ts');

const checkpointOf = (jobId: string) => (existsSync(runner.checkpointFile(jobId)) ? Number(readFileSync(runner.checkpointFile(jobId), 'utf8')) : 0);

describe('gpu.batch on the dev server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createLocalEnv();
  }, 60_000);
  afterAll(async () => {
    await env?.teardown();
  });

  async function start(input: GpuBatchInput) {
    const taskQueue = `gpu-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: { code },
      activities: createJobActivities({ runner, pollIntervalMs: 100 }),
      // Heartbeats reach the server at once, so a cancellation reaches the activity at once.
      maxHeartbeatThrottleInterval: '100 milliseconds',
    });
    const workflowId = `gpu-${randomUUID()}`;
    const running = worker.run();
    const handle = await env.client.workflow.start(gpuBatchWorkflow, { taskQueue, workflowId, args: [input] });
    return { worker, running, handle, jobId: `${input.name}-${jobSuffix(workflowId)}` };
  }

  it('resumes a job killed mid-way from its last checkpoint, not from zero', async () => {
    const log = path.join(root, 'resume.log');
    let killedAt: number | undefined;
    const { worker, running, handle, jobId } = await start(batchInput(['40', '50', log]));
    try {
      killedAt = await until(() => (checkpointOf(jobId) >= 5 ? checkpointOf(jobId) : undefined));
      process.kill(runner.pidOf(jobId)!, 'SIGKILL');
      await expect(handle.result()).resolves.toEqual({ jobId, exitCode: 0, checkpoint: '40', preemptions: 1, submissions: 2 });
    } finally {
      worker.shutdown();
      await running;
    }
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const starts = lines.filter((l) => l.startsWith('start'));
    expect(starts[0]).toBe('start 0');
    expect(starts).toHaveLength(2);
    expect(Number(starts[1]!.split(' ')[1])).toBeGreaterThanOrEqual(killedAt!);
    expect(lines.filter((l) => l === 'step 1')).toHaveLength(1);
  }, 60_000);

  it('cancelling the workflow kills the job process and removes its files', async () => {
    const { worker, running, handle, jobId } = await start(batchInput(['100000', '50', path.join(root, 'cancel.log')]));
    try {
      await until(() => (checkpointOf(jobId) >= 2 ? true : undefined));
      const pid = runner.pidOf(jobId)!;
      await handle.cancel();
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      // WAIT_CANCELLATION_COMPLETED: by the time the workflow is cancelled the job is gone.
      expect(() => process.kill(pid, 0)).toThrow();
      expect(existsSync(runner.jobDir(jobId))).toBe(false);
    } finally {
      worker.shutdown();
      await running;
    }
  }, 60_000);
});

describe('gpu.batch when a worker stops heartbeating (dev server, heartbeat timeout shortened)', () => {
  it('Temporal notices the silence and the retry re-attaches to the job from the last heartbeat', async () => {
    const env = await createLocalEnv();
    try {
      const { code: testCode } = await bundleWorkflowCode({ workflowsPath: shortHeartbeatWorkflowPath, logger: new DefaultLogger('WARN') });
      const real = createJobActivities({ runner, pollIntervalMs: 100 });
      const attempts: { attempt: number; details: unknown; at: number }[] = [];
      let silentSince = 0;
      const taskQueue = `gpu-${randomUUID()}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: { code: testCode },
        activities: {
          async runJob(input: RunJobInput) {
            const ctx = Context.current();
            attempts.push({ attempt: ctx.info.attempt, details: ctx.info.heartbeatDetails, at: performance.now() });
            if (ctx.info.attempt > 1) return real.runJob(input);
            // The first worker submits the job, heartbeats once, then hangs as if dead: no more heartbeats.
            await runner.submit(input);
            await until(() => (checkpointOf(input.name) >= 1 ? true : undefined));
            ctx.heartbeat({ jobId: input.name, checkpoint: String(checkpointOf(input.name)), preemptions: 0, submissions: 1 } satisfies JobHeartbeat);
            silentSince = performance.now();
            await new Promise((resolve) => ctx.cancellationSignal.addEventListener('abort', resolve));
            throw new Error('this attempt was given up');
          },
        },
      });
      const jobId = `hb-${randomUUID().slice(0, 8)}`;
      const input: RunJobInput = { ...batchInput(['40', '50', path.join(root, 'hb.log')]), name: jobId };
      const result = await worker.runUntil(
        env.client.workflow.execute(shortHeartbeatGpuBatch, { taskQueue, workflowId: `gpu-${randomUUID()}`, args: [input] }),
      );
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
      // Noticed by the heartbeat timeout (2 s), not by the 12 h start-to-close timeout.
      expect(attempts[1]!.at - silentSince).toBeGreaterThanOrEqual(1900);
      expect(attempts[1]!.at - silentSince).toBeLessThan(10_000);
      expect(attempts[1]!.details).toMatchObject({ jobId, submissions: 1 });
      // Re-attached to the running job: one submission in all, the job started once.
      expect(result).toEqual({ jobId, exitCode: 0, checkpoint: '40', preemptions: 0, submissions: 1 });
      expect(readFileSync(path.join(root, 'hb.log'), 'utf8').match(/^start/gm)).toHaveLength(1);
    } finally {
      await env.teardown();
    }
  }, 60_000);
});
