/** Rate limit counts in PostgreSQL (see ../rate-limits.ts): one upsert per request, shared by every API replica. */
import type pg from 'pg';
import { windowStart, type RateLimitCounter, type RateLimitHit } from '../rate-limits.ts';

/** Every this many hits a process deletes the windows that have passed. */
const purgeEvery = 1000;

export class PostgresRateLimits implements RateLimitCounter {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;
  #sincePurge = 0;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async hit(key: string, windowMs: number): Promise<RateLimitHit> {
    const now = this.#now().getTime();
    const start = windowStart(now, windowMs);
    const { rows } = await this.#pool.query<{ hits: number }>(
      `INSERT INTO rate_limit_windows (key, window_ms, window_start, hits) VALUES ($1, $2, $3, 1)
       ON CONFLICT (key, window_ms, window_start) DO UPDATE SET hits = rate_limit_windows.hits + 1
       RETURNING hits`,
      [key, windowMs, start],
    );
    if (++this.#sincePurge >= purgeEvery) {
      this.#sincePurge = 0;
      await this.#pool.query('DELETE FROM rate_limit_windows WHERE window_start + window_ms < $1', [now]);
    }
    return { hits: rows[0]!.hits, resetInMs: start + windowMs - now };
  }
}
