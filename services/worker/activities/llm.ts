/**
 * The llm family: OpenAI-compatible chat and embeddings under the `llmCall` preset, built from
 * explicit dependencies (provider client, usage store, budget, clock) so tests run the real code
 * against a fake provider; `llmDependencies` builds the worker's from the config. A worker
 * without a provider configured starts fine; only its LLM calls fail, non-retryably, saying what
 * to set.
 *
 * Per call: refuse when the department's budget for this calendar month (UTC) is spent (its
 * tenant's budget, else the configured one) — before any request, so an exhausted budget costs
 * nothing — then call the provider with
 * `Idempotency-Key: <workflowId>:<activityId>` (stable across attempts), record the usage the
 * provider reports (idempotent by that key), and map provider errors to ApplicationFailures the
 * `llmCall` preset understands.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { TandemConfig } from '../../../shared/config.ts';
import type { LlmTokenUsage } from '../../../shared/store/llm-token-usage.ts';
import type { TenantStore } from '../../../shared/store/tenants.ts';
import { tokenBudgetOf } from '../../tenants/settings.ts';
import { activityErrorTypes, retryableErrorTypes } from '../../../shared/contracts/activity-errors.ts';
import {
  OpenAiCompatibleClient,
  LlmProviderError,
  type ChatCompletion,
  type ChatMessage,
  type Embeddings,
  type LlmErrorKind,
  type TokenUsage,
} from '../llm/openai-client.ts';

export interface LlmChatInput {
  /** Whose budget pays: the department of the workflow's starter (from its memo, never the body). */
  department: string;
  model?: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
}

export interface LlmEmbedInput {
  department: string;
  model?: string;
  input: string[];
}

export interface LlmCallDependencies {
  /** Undefined when no provider is configured: calls fail non-retryably with LlmNotConfigured. */
  client: Pick<OpenAiCompatibleClient, 'chat' | 'embed'> | undefined;
  usage: LlmTokenUsage;
  defaultModel: string;
  /** Tokens per department per calendar month (UTC); 0 = unlimited. The default of `budgetOf`. */
  tokenBudgetPerDepartment: number;
  /** The department's budget: its tenant's, else `tokenBudgetPerDepartment` (services/tenants/settings.ts). */
  budgetOf?: (department: string) => Promise<number>;
  now?: () => Date;
}

const failureTypeOf: Record<LlmErrorKind, string> = {
  transient: retryableErrorTypes.llm.transient,
  rateLimited: retryableErrorTypes.llm.rateLimited,
  contextTooLong: activityErrorTypes.llm.contextTooLong,
  contentFiltered: activityErrorTypes.llm.contentFiltered,
  badRequest: activityErrorTypes.llm.badRequest,
  unauthorized: activityErrorTypes.llm.unauthorized,
  notFound: activityErrorTypes.llm.notFound,
};

const retryable = new Set<LlmErrorKind>(['transient', 'rateLimited']);

/** The provider's error as the failure the `llmCall` preset retries (or not). */
export function toApplicationFailure(err: LlmProviderError): ApplicationFailure {
  return ApplicationFailure.create({
    type: failureTypeOf[err.kind],
    message: err.message,
    // Also listed in the preset; set here too so a caller with another preset cannot retry a model error.
    nonRetryable: !retryable.has(err.kind),
    ...(err.kind === 'rateLimited' && err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
    details: [{ kind: err.kind, status: err.status ?? null }],
  });
}

function monthStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

export function createLlmActivities(deps: LlmCallDependencies) {
  const now = deps.now ?? (() => new Date());

  async function call<T extends { usage: TokenUsage; model: string }>(
    department: string,
    run: (client: NonNullable<LlmCallDependencies['client']>, options: { idempotencyKey: string; signal: AbortSignal }) => Promise<T>,
  ): Promise<T> {
    const { client } = deps;
    if (!client) {
      throw ApplicationFailure.create({
        type: activityErrorTypes.llm.notConfigured,
        message: 'no LLM provider is configured; set TANDEM_LLM_BASE_URL (and TANDEM_LLM_API_KEY)',
        nonRetryable: true,
      });
    }
    // Check, then call: calls already in flight may overshoot the budget by their own usage,
    // which is bounded and cheaper than serialising every call of a department.
    const budget = deps.budgetOf ? await deps.budgetOf(department) : deps.tokenBudgetPerDepartment;
    if (budget > 0) {
      const spent = await deps.usage.spentSince(department, monthStart(now()));
      if (spent >= budget) {
        throw ApplicationFailure.create({
          type: activityErrorTypes.llm.budgetExceeded,
          message: `department ${department} has spent ${spent} of its ${budget} LLM tokens this month`,
          nonRetryable: true,
          details: [{ department, spent, budget }],
        });
      }
    }
    const ctx = Context.current();
    const owner = ctx.info.workflowExecution?.workflowId ?? 'standalone';
    const idempotencyKey = `${owner}:${ctx.info.activityId}`;
    const record = (model: string, usage: TokenUsage) => deps.usage.record({ callKey: idempotencyKey, department, model, ...usage });
    try {
      const result = await run(client, { idempotencyKey, signal: ctx.cancellationSignal });
      await record(result.model, result.usage);
      return result;
    } catch (err) {
      if (!(err instanceof LlmProviderError)) throw err;
      // A filtered completion is still billed.
      if (err.usage) await record('unknown', err.usage);
      throw toApplicationFailure(err);
    }
  }

  return {
    async chat(input: LlmChatInput): Promise<ChatCompletion> {
      const model = input.model ?? deps.defaultModel;
      return call(input.department, (client, options) =>
        client.chat({ model, messages: input.messages, ...pick(input, 'maxTokens', 'temperature') }, options),
      );
    },
    async embed(input: LlmEmbedInput): Promise<Embeddings> {
      const model = input.model ?? deps.defaultModel;
      return call(input.department, (client, options) => client.embed({ model, input: input.input }, options));
    },
  };
}

export type LlmActivities = ReturnType<typeof createLlmActivities>;

/**
 * The worker's dependencies: provider from `config.llm` (none → not configured), usage in the
 * store, and each department's budget from its tenant when it has one.
 */
export function llmDependencies(usage: LlmTokenUsage, llm: TandemConfig['llm'] | undefined, tenants?: Pick<TenantStore, 'get'>): LlmCallDependencies {
  if (!llm) return { client: undefined, usage, defaultModel: 'unconfigured', tokenBudgetPerDepartment: 0 };
  const { baseUrl, apiKey, model, tokenBudgetPerDepartment, timeoutMs } = llm;
  return {
    client: baseUrl ? new OpenAiCompatibleClient({ baseUrl, timeoutMs, ...(apiKey ? { apiKey } : {}) }) : undefined,
    usage,
    defaultModel: model,
    tokenBudgetPerDepartment,
    ...(tenants ? { budgetOf: (department: string) => tokenBudgetOf(tenants, tokenBudgetPerDepartment, department) } : {}),
  };
}

function pick<T extends object, K extends keyof T>(obj: T, ...keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}
