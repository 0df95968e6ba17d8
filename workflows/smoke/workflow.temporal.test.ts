import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type * as smoke from '../../services/worker/activities/smoke.ts';
import { prebuildWorkflowBundle } from '../../services/worker/bundle.ts';
import { createTimeSkippingEnv } from '../../test/support/temporal-test-env.ts';
import { openTestAudit, type TestAudit } from '../../test/support/test-audit.ts';
import { echoWorkflow } from './workflow.ts';

let env: TestWorkflowEnvironment;
let codePath: string;
let audit: TestAudit;

beforeAll(async () => {
  audit = openTestAudit();
  [env, { codePath }] = await Promise.all([createTimeSkippingEnv(), prebuildWorkflowBundle()]);
});

afterAll(async () => {
  await env?.teardown();
  await audit?.close();
});

async function runEcho(activities: typeof smoke, message: string) {
  const taskQueue = `test-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath },
    activities: audit.withAuditFamily(activities),
  });
  const workflowId = `smoke-${randomUUID()}`;
  const result = worker.runUntil(
    env.client.workflow.execute(echoWorkflow, { taskQueue, workflowId, args: [{ message }] }),
  );
  return { workflowId, result };
}

describe('echoWorkflow', () => {
  it('returns the message stamped by the activity and its own workflow id', async () => {
    const seen: string[] = [];
    const { workflowId, result } = await runEcho(
      {
        async stampEcho({ message }) {
          seen.push(message);
          return { message, echoedAt: '2030-01-02T03:04:05.000Z' };
        },
      },
      'hello',
    );
    await expect(result).resolves.toEqual({ message: 'hello', echoedAt: '2030-01-02T03:04:05.000Z', workflowId });
    expect(seen).toEqual(['hello']);
    // Its end is audited by the bundled interceptor, through the audit activity.
    expect(await audit.finishesOf(workflowId)).toMatchObject([
      {
        event: 'workflow-finished',
        subject: `workflow:${workflowId}`,
        workflowId,
        department: '*',
        actor: { kind: 'workflow', name: 'echoWorkflow' },
        details: { type: 'echoWorkflow', outcome: 'completed' },
      },
    ]);
  });

  it('retries a failing activity under the `local` preset, then succeeds', async () => {
    let attempts = 0;
    const { result } = await runEcho(
      {
        async stampEcho({ message }) {
          attempts += 1;
          if (attempts < 3) throw new Error('transient');
          return { message, echoedAt: '2030-01-02T03:04:05.000Z' };
        },
      },
      'flaky',
    );
    await expect(result).resolves.toMatchObject({ message: 'flaky' });
    expect(attempts).toBe(3);
  });

  it('fails the workflow after the `local` preset runs out of attempts', async () => {
    let attempts = 0;
    const { workflowId, result } = await runEcho(
      {
        async stampEcho() {
          attempts += 1;
          throw ApplicationFailure.create({ message: 'still broken', type: 'Broken' });
        },
      },
      'doomed',
    );
    const err = await result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(attempts).toBe(3);
    // The failure is audited by its type; its message (which may carry patient data) is not.
    const finish = await audit.finishOf(workflowId);
    expect(finish?.details).toEqual({ type: 'echoWorkflow', outcome: 'failed', failureType: 'Broken', runId: expect.any(String) });
    expect(JSON.stringify(finish)).not.toContain('still broken');
  });

  it('audits a cancelled workflow as cancelled, although its scope is cancelled', async () => {
    let activityStarted!: () => void;
    const started = new Promise<void>((resolve) => (activityStarted = resolve));
    const { workflowId, result } = await runEcho(
      {
        async stampEcho() {
          activityStarted();
          // Holds the workflow in its activity until the worker shuts down.
          await Context.current().cancelled;
          throw new Error('unreachable');
        },
      },
      'cancel me',
    );
    await started;
    await env.client.workflow.getHandle(workflowId).cancel();
    const err = await result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect((await audit.finishOf(workflowId))?.details).toMatchObject({ outcome: 'cancelled' });
  });
});
