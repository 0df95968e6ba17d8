import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlmProvider, type FakeLlmProvider } from '../../../test/support/fake-llm-provider.ts';
import { LlmProviderError, OpenAiCompatibleClient, parseRetryAfter } from './openai-client.ts';

let provider: FakeLlmProvider;
let client: OpenAiCompatibleClient;
const options = { idempotencyKey: 'wf-1:7' };

beforeAll(async () => {
  provider = await startFakeLlmProvider();
  client = new OpenAiCompatibleClient({ baseUrl: `${provider.baseUrl}/`, timeoutMs: 300 });
});
afterAll(() => provider.close());

async function kindOf(promise: Promise<unknown>) {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(LlmProviderError);
  return err as LlmProviderError;
}

describe('parseRetryAfter', () => {
  const now = new Date('2026-11-25T12:00:00Z');
  it('reads delay-seconds and HTTP dates, and ignores anything else', () => {
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
    expect(parseRetryAfter('Wed, 25 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 25 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('OpenAiCompatibleClient', () => {
  it('embeds, ordering vectors by index, with usage and the idempotency key', async () => {
    provider.script([{ kind: 'ok', usage: { prompt_tokens: 9, completion_tokens: 0 } }]);
    provider.requests.length = 0;
    const result = await client.embed({ model: 'e', input: ['a', 'b'] }, options);
    expect(result).toEqual({ vectors: [[0, 0.5, 1], [1, 0.5, 1]], model: 'fake-embed', usage: { promptTokens: 9, completionTokens: 0, totalTokens: 9 } });
    expect(provider.requests[0]).toMatchObject({ path: '/v1/embeddings', body: { model: 'e', input: ['a', 'b'] } });
    expect(provider.requests[0]!.headers['idempotency-key']).toBe('wf-1:7');
    expect(provider.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('classifies each failure', async () => {
    const cases: [Parameters<FakeLlmProvider['script']>[0][number], string, Partial<LlmProviderError>][] = [
      [{ kind: 'reset' }, 'transient', {}],
      [{ kind: 'delay', ms: 1500 }, 'transient', {}],
      [{ kind: 'status', status: 502 }, 'transient', { status: 502 }],
      [{ kind: 'status', status: 503 }, 'transient', { status: 503 }],
      [{ kind: 'rateLimited', retryAfter: '12' }, 'rateLimited', { status: 429, retryAfterMs: 12_000 }],
      [{ kind: 'rateLimited', status: 503, retryAfter: '5' }, 'rateLimited', { status: 503, retryAfterMs: 5000 }],
      [{ kind: 'status', status: 429 }, 'rateLimited', { retryAfterMs: undefined }],
      [{ kind: 'status', status: 409 }, 'transient', {}],
      [{ kind: 'status', status: 418, body: 'teapot' }, 'badRequest', { message: 'LLM provider answered 418: teapot' }],
      [{ kind: 'contextTooLong' }, 'contextTooLong', { status: 400 }],
    ];
    for (const [step, kind, extra] of cases) {
      provider.script([step]);
      const err = await kindOf(client.chat({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, options));
      expect({ step: step.kind, kind: err.kind }).toEqual({ step: step.kind, kind });
      expect(err).toMatchObject(extra);
    }
  });
});
