/**
 * Request counts per client in fixed windows, for the API's rate limit: with several API replicas
 * behind one address, a client's limit must count its requests to all of them, so on PostgreSQL
 * the counts live in the database (an UNLOGGED table: no WAL, so no fsync per request, and
 * counts that a crash forgets are harmless). The SQLite store serves one machine and counts in
 * the API process, since a SQLite commit costs an fsync (~3 ms here) per request. Pure: types and
 * the window rule.
 */
export interface RateLimitHit {
  /** Requests of this key in the current window, this one included. */
  hits: number;
  /** Until the window ends. */
  resetInMs: number;
}

export interface RateLimitCounter {
  /** Counts one request of `key` in the current window of `windowMs`. */
  hit(key: string, windowMs: number): Promise<RateLimitHit>;
}

/** The window a moment falls in: windows start at multiples of their length since the epoch. */
export function windowStart(nowMs: number, windowMs: number): number {
  return Math.floor(nowMs / windowMs) * windowMs;
}

/** Counts in this process only (the SQLite store's: one machine, one API process). */
export class ProcessRateLimits implements RateLimitCounter {
  readonly #windows = new Map<string, { start: number; hits: number }>();
  readonly #now: () => Date;

  constructor(now: () => Date) {
    this.#now = now;
  }

  async hit(key: string, windowMs: number): Promise<RateLimitHit> {
    const now = this.#now().getTime();
    const start = windowStart(now, windowMs);
    let window = this.#windows.get(key);
    if (!window || window.start !== start) {
      // A new window: drop every key whose window has passed, so the map stays as big as the
      // set of clients of the last minute.
      for (const [k, w] of this.#windows) if (w.start < start) this.#windows.delete(k);
      window = { start, hits: 0 };
      this.#windows.set(key, window);
    }
    window.hits += 1;
    return { hits: window.hits, resetInMs: start + windowMs - now };
  }
}
