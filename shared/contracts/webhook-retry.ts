/**
 * How long and how often a webhook delivery is retried, without zod, so workflow code (the
 * `webhookDelivery` activity preset) can import it: every zod module in the workflow bundle is
 * evaluated again for each workflow the worker holds (see services/worker/bundle.ts).
 *
 * Backoff from 10 s doubling to 10 min, for up to 3 days — a receiver down for an hour or a
 * weekend loses nothing. The delivery log's `nextAttemptAt` reads the same numbers.
 */
export const webhookRetry = {
  initialIntervalMs: 10_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 10 * 60_000,
  giveUpAfterMs: 72 * 60 * 60_000,
} as const;

/** Delay before the attempt after `attempt` (1-based), as Temporal's retry policy computes it. */
export function webhookRetryDelayMs(attempt: number): number {
  return Math.min(webhookRetry.initialIntervalMs * webhookRetry.backoffCoefficient ** (attempt - 1), webhookRetry.maximumIntervalMs);
}
