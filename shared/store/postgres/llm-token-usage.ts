/** LLM token usage in PostgreSQL: one row per call key (ON CONFLICT DO NOTHING makes recording idempotent). */
import type pg from 'pg';
import type { LlmTokenUsage, LlmTokenUsageRecord } from '../llm-token-usage.ts';

export class PostgresLlmTokenUsage implements LlmTokenUsage {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async spentSince(department: string, since: Date): Promise<number> {
    const { rows } = await this.#pool.query<{ spent: string }>(
      'SELECT COALESCE(SUM(total_tokens), 0) AS spent FROM llm_token_usage WHERE department = $1 AND recorded_at >= $2',
      [department, since.toISOString()],
    );
    // SUM of bigint is numeric, which pg hands over as a string.
    return Number(rows[0]!.spent);
  }

  async record(usage: LlmTokenUsageRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO llm_token_usage (call_key, department, model, prompt_tokens, completion_tokens, total_tokens, recorded_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (call_key) DO NOTHING`,
      [usage.callKey, usage.department, usage.model, usage.promptTokens, usage.completionTokens, usage.totalTokens, this.#now().toISOString()],
    );
  }
}
