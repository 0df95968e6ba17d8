/**
 * The one HTTP client for OpenAI-compatible LLM providers (chat completions and embeddings), with
 * the error taxonomy the LLM activities turn into retry decisions (per error type, never one global policy):
 *
 *   transient        connection reset/refused, timeout, 5xx, 408, 409 (idempotent request in flight)
 *   rateLimited      429, and 503/529 overload that names a Retry-After → retry no sooner than that
 *   contextTooLong   error code context_length_exceeded
 *   contentFiltered  error code content_filter / content_policy_violation, or finish_reason content_filter
 *   badRequest       other 400 and 422
 *   unauthorized     401, 403
 *   notFound         404 (unknown model or route)
 *
 * No retries here: Temporal's activity retry policy is the only retry loop, so attempts are
 * counted (and visible) in one place. Every request carries `Idempotency-Key`, so a provider that
 * honours it answers a retried attempt from its cache instead of billing it again.
 */
import axios, { type AxiosInstance, isAxiosError } from 'axios';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
}

export interface ChatCompletion {
  content: string;
  finishReason: string;
  model: string;
  usage: TokenUsage;
}

export interface EmbeddingRequest {
  model: string;
  input: string[];
}

export interface Embeddings {
  vectors: number[][];
  model: string;
  usage: TokenUsage;
}

export type LlmErrorKind = 'transient' | 'rateLimited' | 'contextTooLong' | 'contentFiltered' | 'badRequest' | 'unauthorized' | 'notFound';

export class LlmProviderError extends Error {
  override name = 'LlmProviderError';
  readonly kind: LlmErrorKind;
  readonly status: number | undefined;
  /** From Retry-After, for `rateLimited`. */
  readonly retryAfterMs: number | undefined;
  /** Usage the provider reported even though the call failed (a filtered completion is billed). */
  readonly usage: TokenUsage | undefined;

  constructor(kind: LlmErrorKind, message: string, extra: { status?: number; retryAfterMs?: number; usage?: TokenUsage } = {}) {
    super(message);
    this.kind = kind;
    this.status = extra.status;
    this.retryAfterMs = extra.retryAfterMs;
    this.usage = extra.usage;
  }
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: unknown, now: Date = new Date()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

interface ProviderErrorBody {
  error?: { message?: string; code?: string | null; type?: string | null } | string;
  message?: string;
}

function providerMessage(body: unknown, status: number): { message: string; code: string | undefined } {
  const b = (typeof body === 'object' && body !== null ? body : {}) as ProviderErrorBody;
  if (typeof b.error === 'object' && b.error) {
    return { message: b.error.message ?? `HTTP ${status}`, code: b.error.code ?? b.error.type ?? undefined };
  }
  if (typeof b.error === 'string') return { message: b.error, code: undefined };
  if (typeof b.message === 'string') return { message: b.message, code: undefined };
  if (typeof body === 'string' && body.trim()) return { message: body.trim().slice(0, 500), code: undefined };
  return { message: `HTTP ${status}`, code: undefined };
}

/** Maps anything the HTTP call threw to the taxonomy. Cancellation is rethrown as it is. */
export function classifyLlmError(err: unknown, now: Date = new Date()): LlmProviderError {
  if (err instanceof LlmProviderError) return err;
  if (!isAxiosError(err)) return new LlmProviderError('transient', (err as Error)?.message ?? String(err));
  const response = err.response;
  if (!response) {
    const code = err.code ?? 'network error';
    const what = code === 'ECONNABORTED' || code === 'ETIMEDOUT' ? 'timed out' : `failed (${code})`;
    // Every failure without a response (reset, refused, DNS, timeout) is transient: the provider
    // may be restarting, and the idempotency key makes a repeat safe even if it got the request.
    return new LlmProviderError('transient', `LLM provider request ${what}: ${err.message}`);
  }
  const status = response.status;
  const { message, code } = providerMessage(response.data, status);
  const text = `LLM provider answered ${status}: ${message}`;
  const retryAfterMs = parseRetryAfter(response.headers['retry-after'], now);
  if (code === 'context_length_exceeded') return new LlmProviderError('contextTooLong', text, { status });
  if (code === 'content_filter' || code === 'content_policy_violation') return new LlmProviderError('contentFiltered', text, { status });
  if (status === 429) return new LlmProviderError('rateLimited', text, { status, retryAfterMs });
  if ((status === 503 || status === 529) && retryAfterMs !== undefined) return new LlmProviderError('rateLimited', text, { status, retryAfterMs });
  if (status >= 500 || status === 408 || status === 409) return new LlmProviderError('transient', text, { status });
  if (status === 401 || status === 403) return new LlmProviderError('unauthorized', text, { status });
  if (status === 404) return new LlmProviderError('notFound', text, { status });
  return new LlmProviderError('badRequest', text, { status });
}

export interface OpenAiClientOptions {
  baseUrl: string;
  apiKey?: string;
  /** Per request; a provider that does not answer in time is a transient failure. */
  timeoutMs: number;
}

export interface CallOptions {
  /** Sent as `Idempotency-Key`; the same for every attempt of one activity. */
  idempotencyKey: string;
  signal?: AbortSignal;
}

interface ChatResponseBody {
  model?: string;
  choices?: { message?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
}

interface EmbeddingResponseBody {
  model?: string;
  data?: { embedding: number[]; index: number }[];
  usage?: { prompt_tokens?: number; total_tokens?: number };
}

function usageOf(body: ChatResponseBody['usage'] | undefined): TokenUsage {
  const promptTokens = body?.prompt_tokens ?? 0;
  const completionTokens = body?.completion_tokens ?? 0;
  return { promptTokens, completionTokens, totalTokens: body?.total_tokens ?? promptTokens + completionTokens };
}

export class OpenAiCompatibleClient {
  readonly #http: AxiosInstance;

  constructor({ baseUrl, apiKey, timeoutMs }: OpenAiClientOptions) {
    this.#http = axios.create({
      baseURL: baseUrl.replace(/\/+$/, ''),
      timeout: timeoutMs,
      headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    });
  }

  async chat(request: ChatRequest, options: CallOptions): Promise<ChatCompletion> {
    const body = await this.#post<ChatResponseBody>(
      '/chat/completions',
      {
        model: request.model,
        messages: request.messages,
        ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      },
      options,
    );
    const choice = body.choices?.[0];
    const usage = usageOf(body.usage);
    const finishReason = choice?.finish_reason ?? 'unknown';
    if (finishReason === 'content_filter') {
      throw new LlmProviderError('contentFiltered', 'LLM provider filtered the completion (finish_reason content_filter)', { status: 200, usage });
    }
    return { content: choice?.message?.content ?? '', finishReason, model: body.model ?? request.model, usage };
  }

  async embed(request: EmbeddingRequest, options: CallOptions): Promise<Embeddings> {
    const body = await this.#post<EmbeddingResponseBody>('/embeddings', { model: request.model, input: request.input }, options);
    const vectors = [...(body.data ?? [])].sort((a, b) => a.index - b.index).map((d) => d.embedding);
    return { vectors, model: body.model ?? request.model, usage: usageOf(body.usage) };
  }

  async #post<T>(url: string, data: unknown, { idempotencyKey, signal }: CallOptions): Promise<T> {
    try {
      const response = await this.#http.post<T>(url, data, { headers: { 'idempotency-key': idempotencyKey }, ...(signal ? { signal } : {}) });
      return response.data;
    } catch (err) {
      if (axios.isCancel(err)) throw err;
      throw classifyLlmError(err);
    }
  }
}
