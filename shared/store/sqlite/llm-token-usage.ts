/** LLM token usage in SQLite: one row per call key (INSERT OR IGNORE makes recording idempotent). */
import type { DatabaseSync } from 'node:sqlite';
import type { LlmTokenUsage, LlmTokenUsageRecord } from '../llm-token-usage.ts';

export class SqliteLlmTokenUsage implements LlmTokenUsage {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  async spentSince(department: string, since: Date): Promise<number> {
    const row = this.#db
      .prepare('SELECT COALESCE(SUM(total_tokens), 0) AS spent FROM llm_token_usage WHERE department = ? AND recorded_at >= ?')
      .get(department, since.toISOString()) as { spent: number | bigint };
    return Number(row.spent);
  }

  async record(usage: LlmTokenUsageRecord): Promise<void> {
    this.#db
      .prepare(
        `INSERT OR IGNORE INTO llm_token_usage
           (call_key, department, model, prompt_tokens, completion_tokens, total_tokens, recorded_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        usage.callKey,
        usage.department,
        usage.model,
        usage.promptTokens,
        usage.completionTokens,
        usage.totalTokens,
        this.#now().toISOString(),
      );
  }
}
