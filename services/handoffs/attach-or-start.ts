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
  /**
   * `cancelled` as soon as tandem asked Temporal to cancel it, before the run has ended; once it
   * closed, its outcome (`succeeded`, `rejected`, …).
   */
  status: 'running' | 'cancelled' | 'succeeded' | string;
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
  /**
   * The latest run succeeded and served an older try: whether Airflow recorded that try a success
   * decides (ask it, then decide again with `servedTrySucceeded`).
   */
  | 'ask-airflow'
  /** Nothing yet, or a closed run that served an older try: start a fresh run under the same id. */
  | 'start';

export function handoffStartDecision(
  latest: LatestRun | undefined,
  recorded: RecordedRun | undefined,
  tryNumber: number,
  options: {
    waitedForCancel?: boolean;
    /** Whether Airflow recorded the try the closed run served as a success; undefined when not asked (or no Airflow to ask). */
    servedTrySucceeded?: boolean;
    /** There is an Airflow to ask. */
    canAskAirflow?: boolean;
  } = {},
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
  // A newer try after a run that succeeded is either a cleared task (its try ended a success: a
  // fresh run, as asked) or a retry of a try that died before Airflow got the outcome (killed
  // while it read the outcome of a resumed parked wait, say): then the outcome stands, and a
  // physician is not asked twice. Only Airflow's record of the served try tells them apart.
  if (sameRun && recorded!.status === 'succeeded' && options.canAskAirflow) {
    if (options.servedTrySucceeded === undefined) return 'ask-airflow';
    if (!options.servedTrySucceeded) return 'return-closed';
  }
  return 'start';
}
