/**
 * Which Temporal run serves an Airflow try of a hand-off: the rule of shared/contracts/handoffs.ts
 * as one pure function, so it is tested as a table (attach-or-start.test.ts) and the service only
 * carries out what it says.
 */

/** Temporal's view of the latest run of the hand-off's workflow id; undefined when it has none. */
export interface LatestRun {
  runId: string;
  running: boolean;
}

/** tandem's record of the run it last started or attached for the hand-off. */
export interface RecordedRun {
  runId: string;
  /** `cancelled` as soon as tandem asked Temporal to cancel it, before the run has ended. */
  status: 'running' | 'cancelled' | string;
  /** The newest Airflow try this run served. */
  tryNumber: number;
}

export type HandoffStartDecision =
  /** The running run is being cancelled: wait for it to end, then decide again. */
  | 'wait-for-cancel'
  /** A run is running: this try attaches to it; there is never a second one beside it. */
  | 'attach'
  /** The latest run is closed and already served this try (or a newer one): answer its outcome. */
  | 'return-closed'
  /** Nothing yet, or a closed run that served an older try: start a fresh run under the same id. */
  | 'start';

export function handoffStartDecision(
  latest: LatestRun | undefined,
  recorded: RecordedRun | undefined,
  tryNumber: number,
  options: { waitedForCancel?: boolean } = {},
): HandoffStartDecision {
  const sameRun = latest !== undefined && recorded?.runId === latest.runId;
  if (latest?.running) {
    // A re-run must not attach to a workflow that is about to report `cancelled`; after one wait,
    // a cancellation that still has not ended is attached to rather than waited on forever.
    if (sameRun && recorded!.status === 'cancelled' && !options.waitedForCancel) return 'wait-for-cancel';
    return 'attach';
  }
  const servedTry = sameRun ? recorded!.tryNumber : 0;
  if (latest && tryNumber <= servedTry) return 'return-closed';
  return 'start';
}
