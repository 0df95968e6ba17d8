/**
 * What tandem remembers of each Airflow → Temporal hand-off: the task instance it serves, the
 * Temporal run serving its current try, and how it ended. The API writes a row before it starts
 * the workflow, so the reconciler can restart a workflow Temporal lost and can find workflows
 * whose Airflow task is gone. The input is kept sealed (encrypted like a Temporal payload) because
 * it may carry patient data. Pure: types only (implementation: sqlite/handoffs.ts).
 */
import type { HandoffAirflowCoordinates, HandoffStatus } from '../contracts/handoffs.ts';

/** `running` while a Temporal run serves the hand-off; otherwise how the last run ended. */
export type HandoffRecordStatus = 'running' | Exclude<HandoffStatus, 'pending'>;

export interface HandoffRecord {
  handoffId: string;
  /** Public workflow type (`review.request`). */
  workflowType: string;
  department: string;
  /** The data-residency region whose namespace runs it, for its whole life (shared/regions.ts). */
  region: string;
  pipelineId: string | null;
  partition: string | null;
  airflow: HandoffAirflowCoordinates;
  /** Temporal run id of the current run; empty until the first start returned. */
  runId: string;
  /** The workflow input, sealed with the payload codec (see `sealJson`). */
  sealedInput: string;
  /** Key name of the caller that started it. */
  startedBy: string;
  status: HandoffRecordStatus;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
}

export type NewHandoffRun = Omit<HandoffRecord, 'status' | 'reason' | 'createdAt' | 'updatedAt' | 'closedAt'>;

export interface HandoffStore {
  get(handoffId: string): Promise<HandoffRecord | undefined>;
  /**
   * Records that `run.runId` now serves the hand-off for `run.airflow.tryNumber` (insert, or
   * replace the previous run's fields); status becomes `running`.
   */
  recordRun(run: NewHandoffRun): Promise<HandoffRecord>;
  /** A newer Airflow try attached to the running run: remember its try number. */
  recordTry(handoffId: string, tryNumber: number): Promise<void>;
  /**
   * Marks the run closed. Only when `runId` is still the current run (a late observer of an old
   * run must not close its successor); returns whether it changed the row.
   */
  markClosed(handoffId: string, runId: string, status: Exclude<HandoffRecordStatus, 'running'>, reason: string | null): Promise<boolean>;
  /** Oldest first; what the reconciler walks. */
  listRunning(limit?: number): Promise<HandoffRecord[]>;
}
