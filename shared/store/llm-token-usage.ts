/**
 * Tokens each department spent on LLM calls, recorded from the provider's `usage` after every
 * successful call, so the worker can refuse a call once the department's budget is spent
 * (a budget stops runaway retries). Recording is idempotent by call key
 * (`<workflowId>:<activityId>`): a retried attempt that the provider answers again from its
 * idempotency cache is counted once, just as it is billed once. Pure: types only.
 */
export interface LlmTokenUsageRecord {
  /** `<workflowId>:<activityId>` — the same key the provider sees as Idempotency-Key. */
  callKey: string;
  department: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface LlmTokenUsage {
  /** Total tokens the department recorded at or after `since`. */
  spentSince(department: string, since: Date): Promise<number>;
  /** Records one call; a second record with the same call key is ignored. */
  record(usage: LlmTokenUsageRecord): Promise<void>;
}
