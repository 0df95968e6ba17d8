/**
 * A scripted OpenAI-compatible provider on 127.0.0.1:<free port>, for tests of the LLM
 * activities. Each request takes the next step of the script (the last step repeats), and every
 * request is recorded with its headers, body and arrival time, so tests assert exact attempt
 * counts, idempotency keys and the delay between attempts.
 *
 *   const provider = await startFakeLlmProvider([{ kind: 'reset' }, { kind: 'ok' }]);
 *   … baseUrl: provider.baseUrl …
 *   provider.requests.length  // 2
 *   await provider.close();
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FakeLlmStep =
  /** Destroys the socket without an answer (ECONNRESET on the client). */
  | { kind: 'reset' }
  /** Answers only after `ms` — longer than the client's timeout makes a timeout. */
  | { kind: 'delay'; ms: number; then?: FakeLlmStep }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'rateLimited'; retryAfter: string; status?: 429 | 503 }
  | { kind: 'contentFilter' }
  | { kind: 'contextTooLong' }
  | { kind: 'ok'; content?: string; usage?: { prompt_tokens: number; completion_tokens: number } };

export interface RecordedLlmRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
  /** performance.now() when the request arrived. */
  at: number;
}

export interface FakeLlmProvider {
  baseUrl: string;
  requests: RecordedLlmRequest[];
  /** Replaces the script and restarts it from its first step. */
  script(steps: FakeLlmStep[]): void;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function answer(step: FakeLlmStep, req: RecordedLlmRequest, res: ServerResponse, socket: Socket): void {
  switch (step.kind) {
    case 'reset':
      socket.destroy();
      return;
    case 'delay':
      setTimeout(() => {
        if (!res.destroyed) answer(step.then ?? { kind: 'ok' }, req, res, socket);
      }, step.ms);
      return;
    case 'status':
      json(res, step.status, step.body ?? { error: { message: `scripted ${step.status}`, type: 'server_error', code: null } }, step.headers);
      return;
    case 'rateLimited':
      json(res, step.status ?? 429, { error: { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' } }, { 'retry-after': step.retryAfter });
      return;
    case 'contentFilter':
      json(res, 200, {
        id: 'chatcmpl-filtered',
        model: 'fake-model',
        choices: [{ index: 0, message: { role: 'assistant', content: null }, finish_reason: 'content_filter' }],
        usage: { prompt_tokens: 11, completion_tokens: 0, total_tokens: 11 },
      });
      return;
    case 'contextTooLong':
      json(res, 400, {
        error: {
          message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9001 tokens.",
          type: 'invalid_request_error',
          param: 'messages',
          code: 'context_length_exceeded',
        },
      });
      return;
    case 'ok': {
      const usage = step.usage ?? { prompt_tokens: 12, completion_tokens: 8 };
      const totals = { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };
      if (req.path.endsWith('/embeddings')) {
        const inputs = ((req.body as { input?: string[] }).input ?? []).length;
        json(res, 200, {
          model: 'fake-embed',
          data: Array.from({ length: inputs }, (_, index) => ({ index, embedding: [index, 0.5, 1] })),
          usage: { prompt_tokens: usage.prompt_tokens, total_tokens: usage.prompt_tokens },
        });
        return;
      }
      json(res, 200, {
        id: 'chatcmpl-ok',
        model: 'fake-model',
        choices: [{ index: 0, message: { role: 'assistant', content: step.content ?? 'fake answer' }, finish_reason: 'stop' }],
        usage: totals,
      });
      return;
    }
  }
}

export async function startFakeLlmProvider(initial: FakeLlmStep[] = [{ kind: 'ok' }]): Promise<FakeLlmProvider> {
  let steps = initial;
  let next = 0;
  const requests: RecordedLlmRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Recorded as text.
      }
      const recorded: RecordedLlmRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, at: performance.now() };
      requests.push(recorded);
      const step = steps[Math.min(next, steps.length - 1)] ?? { kind: 'ok' };
      next += 1;
      answer(step, recorded, res, req.socket);
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    script(newSteps) {
      steps = newSteps;
      next = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
