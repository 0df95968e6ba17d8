// gpu.batch's tenant step on the time-skipping test server, with the job and tenant activities
// mocked: at peak time a `wait` department's batch sleeps on a durable timer until its window
// opens (its state says so, and until when), then runs; a `refuse` department's batch fails; in
// the window, or without a tenant, it runs at once with no timer at all.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { workflowStateOf } from '../../services/flows/workflow-state.ts';
import type { RunJobInput } from '../../services/worker/activities/jobs.ts';
import type { GpuPeakRule } from '../../services/tenants/settings.ts';
import { gpuBatchInputSchema } from '../../shared/contracts/gpu-batch.ts';
import { clockOf, minuteOfDayIn } from '../../shared/off-peak-window.ts';
import { createTimeSkippingEnv } from '../../test/support/temporal-test-env.ts';
import { gpuBatchWorkflow } from './workflow.ts';

let env: TestWorkflowEnvironment;
let code: string;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  ({ code } = await bundleWorkflowCode({ workflowsPath: path.join(import.meta.dirname, 'workflow.ts'), logger: new DefaultLogger('WARN') }));
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

const input = gpuBatchInputSchema.parse({
  name: 'embed-night',
  command: ['embed'],
  resources: { requests: { 'nvidia.com/gpu': 1 }, limits: { 'nvidia.com/gpu': 1 } },
});

/** A window opening `inMinutes` from the server's now (UTC), an hour long. */
async function windowIn(inMinutes: number): Promise<{ start: string; end: string; timezone: string }> {
  const now = new Date(await env.currentTimeMs());
  const start = (((minuteOfDayIn(now, 'UTC') + inMinutes) % 1440) + 1440) % 1440;
  return { start: clockOf(start), end: clockOf((start + 60) % 1440), timezone: 'UTC' };
}

async function run(
  rule: GpuPeakRule | null,
  inspectWhileWaiting?: (workflowId: string, jobsRunAt: number[]) => Promise<void>,
  options: { spotAllowed?: boolean | null; input?: typeof input } = {},
) {
  const taskQueue = `off-peak-${randomUUID()}`;
  const jobsRunAt: number[] = [];
  const owners: RunJobInput['owner'][] = [];
  const spots: boolean[] = [];
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { code },
    activities: {
      gpuBatchTenancy: async () => ({ peak: rule, namespace: rule ? 'radiology-gpu' : null, spotAllowed: options.spotAllowed ?? null }),
      runJob: async (job: RunJobInput) => {
        jobsRunAt.push(await env.currentTimeMs());
        owners.push(job.owner);
        spots.push(job.spot);
        return { jobId: job.name, exitCode: 0, checkpoint: null, preemptions: 0, submissions: 1 };
      },
    },
  });
  const workflowId = `gpu-${randomUUID()}`;
  const startedAt = await env.currentTimeMs();
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(gpuBatchWorkflow, { taskQueue, workflowId, args: [options.input ?? input], memo: { department: 'radiology' } });
    if (inspectWhileWaiting) await inspectWhileWaiting(workflowId, jobsRunAt);
    const outcome = await handle.result().then(
      (result) => ({ ok: true as const, result }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const history = await handle.fetchHistory();
    const timers = (history.events ?? []).filter((e) => e.timerStartedEventAttributes).map((e) => Number(e.timerStartedEventAttributes!.startToFireTimeout!.seconds));
    return { outcome, timers, jobsRunAt, owners, spots, startedAt, state: await workflowStateOf(handle, { keyId: 'k', name: 'test', role: 'admin', department: '*' }) };
  });
}

const untilMemo = async (workflowId: string) => {
  for (let i = 0; i < 200; i++) {
    const state = await workflowStateOf(env.client.workflow.getHandle(workflowId), { keyId: 'k', name: 'test', role: 'admin', department: '*' });
    if (state.waiting) return state;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the workflow never said it was waiting');
};

describe('gpu.batch and the off-peak window', () => {
  it('waits at peak time on one durable timer until the window opens, saying so and until when, then runs the job', async () => {
    const window = await windowIn(120);
    let waitingState: Awaited<ReturnType<typeof untilMemo>> | undefined;
    let jobsWhileWaiting = -1;
    const { outcome, timers, jobsRunAt, owners, startedAt, state } = await run({ department: 'radiology', policy: 'wait', window }, async (workflowId, jobsSoFar) => {
      waitingState = await untilMemo(workflowId);
      jobsWhileWaiting = jobsSoFar.length;
    });
    expect(outcome.ok).toBe(true);
    expect(waitingState).toMatchObject({ status: 'running', waiting: { reason: 'off-peak-window', detail: expect.stringContaining(`off-peak window ${window.start}–${window.end} UTC`) } });
    const until = Date.parse(waitingState!.waiting!.until);
    // Two hours ahead, to the minute (the window starts at a whole minute).
    expect(until - startedAt).toBeGreaterThan(119 * 60_000);
    expect(until - startedAt).toBeLessThanOrEqual(120 * 60_000);
    expect(new Date(until).toISOString().slice(11, 16)).toBe(window.start);
    // Zero compute while waiting: the job had not run; one timer, then it ran once the window opened.
    expect(jobsWhileWaiting).toBe(0);
    expect(timers).toHaveLength(1);
    expect(timers[0]).toBeGreaterThan(119 * 60);
    expect(jobsRunAt).toHaveLength(1);
    expect(jobsRunAt[0]!).toBeGreaterThanOrEqual(until);
    // The Job goes to the tenant's namespace.
    expect(owners[0]).toMatchObject({ department: 'radiology', namespace: 'radiology-gpu' });
    // Closed: no longer waiting.
    expect(state.status).toBe('completed');
    expect(state.waiting).toBeUndefined();
  });

  it('fails at peak time when the department refuses GPU batch work then, without running the job', async () => {
    const window = await windowIn(180);
    const { outcome, jobsRunAt, timers } = await run({ department: 'radiology', policy: 'refuse', window });
    expect(outcome.ok).toBe(false);
    const cause = (outcome as { error: WorkflowFailedError }).error.cause as ApplicationFailure;
    expect(cause.type).toBe('GpuJobOutsideOffPeakWindow');
    expect(cause.message).toMatch(new RegExp(`refuses GPU batch work at peak time; its off-peak window is ${window.start}–${window.end} UTC`));
    expect(jobsRunAt).toHaveLength(0);
    expect(timers).toHaveLength(0);
  });

  it('runs at once inside the window, and for a department without a tenant', async () => {
    const inside = await windowIn(-10);
    for (const rule of [{ department: 'radiology', policy: 'wait' as const, window: inside }, null]) {
      const { outcome, timers, jobsRunAt, owners } = await run(rule);
      expect(outcome.ok).toBe(true);
      expect(timers).toHaveLength(0);
      expect(jobsRunAt).toHaveLength(1);
      // Without a tenant the runner picks its default namespace: none is passed.
      expect(owners[0]!.namespace).toBe(rule ? 'radiology-gpu' : undefined);
    }
  });

  it('puts a spot batch on on-demand capacity when the department’s tenant does not allow spot', async () => {
    const spotInput = gpuBatchInputSchema.parse({ ...input, faultTolerant: true, spot: true });
    const inside = { department: 'radiology', policy: 'wait' as const, window: await windowIn(-10) };
    expect((await run(inside, undefined, { input: spotInput, spotAllowed: false })).spots).toEqual([false]);
    expect((await run(inside, undefined, { input: spotInput, spotAllowed: true })).spots).toEqual([true]);
    // Without a tenant nothing forbids it, as before tenants.
    expect((await run(null, undefined, { input: spotInput })).spots).toEqual([true]);
  });
});
