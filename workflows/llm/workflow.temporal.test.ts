// The LLM activity's error taxonomy under the real `llmCall` preset, end to end: a real Temporal
// server (the dev server, so retry delays are real time), a real worker running llm.complete and
// the real activity code, against a local fake provider that scripts each fault and records every
// request. Attempt counts are exact; delays are measured at the provider.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { openSqliteStore, type SqliteStore } from '../../shared/store/sqlite-store.ts';
import { createLlmActivities, llmDependencies } from '../../services/worker/activities/llm.ts';
import { tenantSpecSchema } from '../../shared/contracts/tenants.ts';
import { OpenAiCompatibleClient } from '../../services/worker/llm/openai-client.ts';
import { startFakeLlmProvider, type FakeLlmProvider, type FakeLlmStep } from '../../test/support/fake-llm-provider.ts';
import { createLocalEnv, createTimeSkippingEnv } from '../../test/support/temporal-test-env.ts';
import { llmCall } from '../activity-options.ts';
import { llmCompleteWorkflow } from './workflow.ts';

let env: TestWorkflowEnvironment;
let provider: FakeLlmProvider;
let store: SqliteStore;
let dir: string;
let code: string;

/** Short per-request timeout so a scripted hang is a timeout within the test's time. */
const requestTimeoutMs = 400;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'llm-wf-'));
  store = openSqliteStore(path.join(dir, 'tandem.db'));
  [env, provider, { code }] = await Promise.all([
    createLocalEnv(),
    startFakeLlmProvider(),
    bundleWorkflowCode({ workflowsPath: path.join(import.meta.dirname, 'workflow.ts'), logger: new DefaultLogger('WARN') }),
  ]);
}, 120_000);

afterAll(async () => {
  await provider?.close();
  await env?.teardown();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function complete(steps: FakeLlmStep[], { department = `dept-${randomUUID()}`, budget = 0, tenants = false } = {}) {
  provider.script(steps);
  provider.requests.length = 0;
  const taskQueue = `llm-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { code },
    activities: createLlmActivities(
      tenants
        ? // The worker's own wiring: the configured budget, under each department's tenant's.
          llmDependencies(store.llmTokenUsage, { baseUrl: provider.baseUrl, apiKey: 'sk-test', model: 'fake-model', tokenBudgetPerDepartment: budget, timeoutMs: requestTimeoutMs }, store.tenants)
        : {
            client: new OpenAiCompatibleClient({ baseUrl: provider.baseUrl, apiKey: 'sk-test', timeoutMs: requestTimeoutMs }),
            usage: store.llmTokenUsage,
            defaultModel: 'fake-model',
            tokenBudgetPerDepartment: budget,
          },
    ),
  });
  const workflowId = `llm-${randomUUID()}`;
  const outcome = await worker.runUntil(
    env.client.workflow
      .execute(llmCompleteWorkflow, {
        taskQueue,
        workflowId,
        args: [{ messages: [{ role: 'user', content: 'Summarise the discharge note.' }] }],
        memo: { department },
      })
      .then(
        (result) => ({ ok: true as const, result }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
  );
  return { workflowId, department, outcome, requests: [...provider.requests] };
}

function failureOf(outcome: { ok: boolean; error?: unknown }): ApplicationFailure {
  expect(outcome.ok).toBe(false);
  const error = (outcome as { error: unknown }).error;
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const activityFailure = (error as WorkflowFailedError).cause;
  expect(activityFailure).toBeInstanceOf(ActivityFailure);
  const cause = (activityFailure as ActivityFailure).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

const gaps = (at: number[]) => at.slice(1).map((t, i) => t - at[i]!);
/** llmCall.retry.initialInterval ('2 seconds'); asserted in the first test. */
const initialIntervalMs = 2000;

describe('llm.complete under the llmCall preset', () => {
  it('retries a reset connection, a timeout and a 500 with the preset backoff, with one idempotency key', async () => {
    expect(llmCall.retry).toMatchObject({ initialInterval: '2 seconds', backoffCoefficient: 2 });
    const { workflowId, outcome, requests } = await complete([
      { kind: 'reset' },
      { kind: 'delay', ms: requestTimeoutMs * 5 },
      { kind: 'status', status: 500 },
      { kind: 'ok', content: 'Patient stable.', usage: { prompt_tokens: 30, completion_tokens: 5 } },
    ]);
    expect(outcome).toEqual({
      ok: true,
      result: { content: 'Patient stable.', finishReason: 'stop', model: 'fake-model', usage: { promptTokens: 30, completionTokens: 5, totalTokens: 35 } },
    });
    expect(requests).toHaveLength(4);
    expect(new Set(requests.map((r) => r.headers['idempotency-key']))).toEqual(new Set([`${workflowId}:1`]));
    expect(requests.every((r) => r.headers.authorization === 'Bearer sk-test' && r.path === '/v1/chat/completions')).toBe(true);
    const [afterReset, afterTimeout, after500] = gaps(requests.map((r) => r.at));
    // Backoff 2 s, 4 s, 8 s (coefficient 2); a timed-out attempt adds its own timeout.
    expect(afterReset).toBeGreaterThanOrEqual(initialIntervalMs - 50);
    expect(afterTimeout).toBeGreaterThanOrEqual(2 * initialIntervalMs + requestTimeoutMs - 50);
    expect(after500).toBeGreaterThanOrEqual(4 * initialIntervalMs - 50);
  }, 60_000);

  it('waits for Retry-After (seconds) after a 429 instead of the shorter preset backoff', async () => {
    const { outcome, requests } = await complete([{ kind: 'rateLimited', retryAfter: '3' }, { kind: 'ok' }]);
    expect(outcome.ok).toBe(true);
    expect(requests).toHaveLength(2);
    const [gap] = gaps(requests.map((r) => r.at));
    expect(gap).toBeGreaterThanOrEqual(3000);
    // Soon after Retry-After (with slack for a busy machine), not some later, unrelated retry.
    expect(gap).toBeLessThan(3000 + 2 * initialIntervalMs);
  }, 30_000);

  it('waits for Retry-After (HTTP date) after a 503 overload', async () => {
    // Far enough out that the preset's 2 s backoff would come well before it, even on a busy machine.
    const retryAt = new Date(Date.now() + 6000);
    const { outcome, requests } = await complete([{ kind: 'rateLimited', status: 503, retryAfter: retryAt.toUTCString() }, { kind: 'ok' }]);
    expect(outcome.ok).toBe(true);
    expect(requests).toHaveLength(2);
    // The date has whole seconds: the retry may come up to 1 s before retryAt, never before its second.
    const second = Math.floor(retryAt.getTime() / 1000) * 1000;
    expect(performance.timeOrigin + requests[1]!.at).toBeGreaterThanOrEqual(second - 50);
    expect(performance.timeOrigin + requests[0]!.at).toBeLessThan(second - initialIntervalMs);
  }, 30_000);

  const modelErrors: [string, FakeLlmStep, string, RegExp][] = [
    ['400', { kind: 'status', status: 400, body: { error: { message: "Invalid value for 'temperature'", code: null } } }, 'LlmBadRequest', /400: Invalid value for 'temperature'/],
    ['401', { kind: 'status', status: 401, body: { error: { message: 'Incorrect API key provided', code: 'invalid_api_key' } } }, 'LlmUnauthorized', /401: Incorrect API key/],
    ['403', { kind: 'status', status: 403, body: { error: { message: 'Project lacks access', code: null } } }, 'LlmUnauthorized', /403: Project lacks access/],
    ['404', { kind: 'status', status: 404, body: { error: { message: 'The model `gpt-9` does not exist', code: 'model_not_found' } } }, 'LlmNotFound', /404: The model `gpt-9` does not exist/],
    ['422', { kind: 'status', status: 422, body: { error: { message: 'messages[0].content is empty' } } }, 'LlmBadRequest', /422: messages\[0\]\.content is empty/],
    ['context too long', { kind: 'contextTooLong' }, 'LlmContextTooLong', /maximum context length is 8192 tokens/],
    ['content filter (finish_reason)', { kind: 'contentFilter' }, 'LlmContentFiltered', /content_filter/],
    ['content filter (error code)', { kind: 'status', status: 400, body: { error: { message: 'The response was filtered', code: 'content_filter' } } }, 'LlmContentFiltered', /The response was filtered/],
  ];

  it.each(modelErrors)('fails a %s at once: one call, non-retryable, with the provider message', async (_name, step, type, message) => {
    const { outcome, requests } = await complete([step, { kind: 'ok' }]);
    const failure = failureOf(outcome);
    expect(failure.type).toBe(type);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(message);
    expect(requests).toHaveLength(1);
  }, 30_000);

  it('records usage per department and refuses, without calling the provider, once the budget is spent', async () => {
    const department = `dept-${randomUUID()}`;
    const first = await complete([{ kind: 'ok', usage: { prompt_tokens: 15, completion_tokens: 5 } }], { department, budget: 20 });
    expect(first.outcome.ok).toBe(true);
    expect(first.requests).toHaveLength(1);
    expect(await store.llmTokenUsage.spentSince(department, new Date(0))).toBe(20);

    const second = await complete([{ kind: 'ok' }], { department, budget: 20 });
    const failure = failureOf(second.outcome);
    expect(failure.type).toBe('LlmBudgetExceeded');
    expect(failure.message).toBe(`department ${department} has spent 20 of its 20 LLM tokens this month`);
    expect(second.requests).toHaveLength(0);

    // Another department's budget is its own.
    const other = await complete([{ kind: 'ok' }], { budget: 20 });
    expect(other.outcome.ok).toBe(true);
  }, 30_000);

  it('charges a department with a tenant against the tenant’s budget, not the configured one', async () => {
    const department = `dept-${randomUUID()}`;
    const tenant = (llmTokenBudget: number | null) =>
      store.tenants.put({ department, namespace: department, spec: tenantSpecSchema.parse({ llmTokenBudget }), updatedBy: 'test', cluster: { state: 'no-cluster', at: null, message: null } });
    await tenant(10);
    // 20 tokens fit the configured 1000, and the tenant's 10 too until they are spent.
    expect((await complete([{ kind: 'ok', usage: { prompt_tokens: 15, completion_tokens: 5 } }], { department, budget: 1000, tenants: true })).outcome.ok).toBe(true);
    const refused = await complete([{ kind: 'ok' }], { department, budget: 1000, tenants: true });
    expect(failureOf(refused.outcome).message).toBe(`department ${department} has spent 20 of its 10 LLM tokens this month`);
    expect(refused.requests).toHaveLength(0);
    // null: the configured budget again (1000), and 0 means no limit, as in the configuration.
    await tenant(null);
    expect((await complete([{ kind: 'ok' }], { department, budget: 1000, tenants: true })).outcome.ok).toBe(true);
    await tenant(0);
    expect((await complete([{ kind: 'ok' }], { department, budget: 15, tenants: true })).outcome.ok).toBe(true);
  }, 30_000);

  it('counts a filtered completion against the budget (it is billed)', async () => {
    const department = `dept-${randomUUID()}`;
    await complete([{ kind: 'contentFilter' }], { department, budget: 1000 });
    expect(await store.llmTokenUsage.spentSince(department, new Date(0))).toBe(11);
  }, 30_000);
});

describe('llm.complete when the provider never recovers (time-skipping server)', () => {
  it('gives up after exactly the preset’s maximumAttempts, with the last transient error', async () => {
    const skipping = await createTimeSkippingEnv();
    try {
      provider.script([{ kind: 'status', status: 500, body: { error: { message: 'upstream exploded' } } }]);
      provider.requests.length = 0;
      const taskQueue = `llm-${randomUUID()}`;
      const worker = await Worker.create({
        connection: skipping.nativeConnection,
        taskQueue,
        workflowBundle: { code },
        activities: createLlmActivities({
          client: new OpenAiCompatibleClient({ baseUrl: provider.baseUrl, timeoutMs: requestTimeoutMs }),
          usage: store.llmTokenUsage,
          defaultModel: 'fake-model',
          tokenBudgetPerDepartment: 0,
        }),
      });
      const error = await worker.runUntil(
        skipping.client.workflow
          .execute(llmCompleteWorkflow, { taskQueue, workflowId: `llm-${randomUUID()}`, args: [{ messages: [{ role: 'user', content: 'x' }] }] })
          .catch((e: unknown) => e),
      );
      const failure = failureOf({ ok: false, error });
      expect(failure.type).toBe('LlmTransientError');
      expect(failure.message).toBe('LLM provider answered 500: upstream exploded');
      expect(provider.requests).toHaveLength(llmCall.retry.maximumAttempts);
      expect(llmCall.retry.maximumAttempts).toBe(6);
    } finally {
      await skipping.teardown();
    }
  }, 60_000);
});
