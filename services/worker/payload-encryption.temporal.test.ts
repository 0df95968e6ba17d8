// The worker's data converter as worker.ts configures it: activity failure messages are encrypted
// in Temporal's history (a control run without the codec shows the same text in clear), and a
// client with the same keyring reads them back.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { clientDataConverter, failureConverterPath, payloadCodecFor } from '../../shared/payload-codec.ts';
import { createTimeSkippingEnv } from '../../test/support/temporal-test-env.ts';
import { openTestAudit, type TestAudit } from '../../test/support/test-audit.ts';
import { echoWorkflow } from '../../workflows/index.ts';
import { prebuildWorkflowBundle } from './bundle.ts';

let env: TestWorkflowEnvironment;
let codePath: string;
let stateDir: string;
let audit: TestAudit;

beforeAll(async () => {
  audit = openTestAudit();
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'payload-enc-'));
  [env, { codePath }] = await Promise.all([createTimeSkippingEnv(), prebuildWorkflowBundle()]);
});

afterAll(async () => {
  await env?.teardown();
  await audit?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

/** Every string and byte field of the raw history (bytes as latin1), so plaintext is findable. */
async function rawHistory(client: Client, workflowId: string): Promise<string> {
  const { history } = await client.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId } });
  const parts: string[] = [];
  // A walk rather than JSON.stringify: protobuf messages' toJSON would base64 the bytes first.
  const walk = (v: unknown): void => {
    if (v instanceof Uint8Array) parts.push(Buffer.from(v).toString('latin1'));
    else if (typeof v === 'string') parts.push(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(history);
  return parts.join('\n');
}

async function failWithCanary(encrypted: boolean) {
  const canary = `CANARY-${randomUUID()}`;
  const codec = payloadCodecFor({ stateDir, payload: {} });
  const taskQueue = `enc-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath },
    ...(encrypted ? { dataConverter: { payloadCodecs: [codec], failureConverterPath } } : {}),
    activities: audit.withAuditFamily({
      async stampEcho() {
        throw ApplicationFailure.create({ message: `lab value for ${canary} out of range`, nonRetryable: true });
      },
    }),
  });
  const client = new Client({ connection: env.connection, ...(encrypted ? { dataConverter: clientDataConverter(codec) } : {}) });
  const workflowId = `enc-${randomUUID()}`;
  const error = await worker.runUntil(
    client.workflow.execute(echoWorkflow, { taskQueue, workflowId, args: [{ message: `input ${canary}` }] }).catch((e: unknown) => e),
  );
  return { canary, error, workflowId, history: await rawHistory(client, workflowId) };
}

describe('worker data converter', () => {
  it('keeps inputs and failure messages out of the history in clear text', async () => {
    const { canary, error, workflowId, history } = await failWithCanary(true);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(((error as WorkflowFailedError).cause?.cause as Error).message).toBe(`lab value for ${canary} out of range`);
    expect(history).toContain('binary/encrypted');
    expect(history).not.toContain(canary);
    // The audit log is not encrypted: the failure is recorded, the message is not.
    const finish = await audit.finishOf(workflowId);
    expect(finish?.details).toMatchObject({ outcome: 'failed' });
    expect(JSON.stringify(finish)).not.toContain(canary);
  });

  it('control: without the codec the same run leaves the canary readable', async () => {
    const { canary, history } = await failWithCanary(false);
    expect(history).toContain(`lab value for ${canary}`);
    expect(history).toContain(`input ${canary}`);
  });
});
