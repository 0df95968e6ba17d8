/**
 * Resuming a parked hand-off: a task that waits for its workflow in Airflow's `awaiting_input`
 * state, with a Human-in-the-loop request assigned to tandem's own Airflow user
 * (dags/tandem_airflow/operators/handoff.py). tandem answers that request through Airflow's REST
 * API when the workflow closes, which resumes the task; the task then reads the outcome from
 * `GET /v1/handoffs/{id}`. The worker calls this from a parked hand-off's last step (push, the
 * moment the workflow ends), and the reconciler calls it for a parked task whose workflow closed
 * without a resume (a lost push: the worker died, a terminated or timed-out workflow runs no code).
 *
 * The one path of both, so each check is made once:
 * - the run asking must still be the one serving the task (a retry or a cleared task's new try has
 *   a run of its own, and must not be resumed by the old one's end);
 * - the task's current try must be the one the record serves, with a request not yet answered;
 * - a task still running with no request yet is about to park, and one parked less than
 *   `parkSettleMs` ago is not resumed yet: `NotParkedYetError`, try again.
 * Answering twice is harmless: Airflow answers the second with 409, reported `already-resumed`.
 */
import { parkedHandoffOption } from '../../shared/contracts/handoffs.ts';
import type { Store } from '../../shared/store/store.ts';
import type { AirflowClient, AirflowTaskInstance } from '../airflow/client.ts';
import { AirflowConflictError, AirflowNotFoundError } from '../airflow/errors.ts';

export type ParkedResumeOutcome = 'resumed' | 'already-resumed' | 'not-parked' | 'superseded' | 'unknown';

export interface ParkedResumeResult {
  outcome: ParkedResumeOutcome;
  /** Why, for a log line. */
  detail: string;
}

export interface ParkedResumeDeps {
  store: Pick<Store, 'handoffs'>;
  airflow: Pick<AirflowClient, 'getTaskInstance' | 'getHitlDetail' | 'answerHitlDetail'>;
  /** Milliseconds since the epoch; a test's clock. */
  now?: () => number;
}

/**
 * How long a task must have been parked before tandem resumes it. The process that parked it exits
 * under the same try number the resumed task runs with; if Airflow's scheduler reads that exit
 * from the executor only after the resume has queued or started the task, it takes the task for
 * one killed externally and fails it (scheduler_job_runner `_process_executor_events`, which
 * exempts only a resumed task still `scheduled`). Seen in CI under load, 0.7 s after parking.
 */
export const parkSettleMs = 2000;

/** The task runs and has not parked yet (its request is not written): ask again in a moment. */
export class NotParkedYetError extends Error {
  override readonly name = 'NotParkedYetError';
}

/** States in which a try is on its way to park (started, not yet parked). */
const startingStates = new Set(['scheduled', 'queued', 'running']);

async function taskInstanceOf(deps: ParkedResumeDeps, airflow: { dagId: string; runId: string; taskId: string; mapIndex: number }) {
  try {
    return await deps.airflow.getTaskInstance(airflow.dagId, airflow.runId, airflow.taskId, airflow.mapIndex);
  } catch (err) {
    if (err instanceof AirflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * Resumes the parked task of `handoffId` if it is parked for the run `runId` (default: whichever
 * run the record names). See the module comment for what it checks.
 */
export async function resumeParkedHandoff(deps: ParkedResumeDeps, handoffId: string, runId?: string): Promise<ParkedResumeResult> {
  const record = await deps.store.handoffs.get(handoffId);
  if (!record) return { outcome: 'unknown', detail: 'tandem has no record of this hand-off' };
  if (runId !== undefined && record.runId !== runId) {
    return { outcome: 'superseded', detail: `run ${runId} no longer serves the task (run ${record.runId} does)` };
  }
  const { dagId, runId: dagRunId, taskId, mapIndex, tryNumber } = record.airflow;
  const ti: AirflowTaskInstance | undefined = await taskInstanceOf(deps, record.airflow);
  if (!ti) return { outcome: 'not-parked', detail: 'its task instance is gone' };
  if (ti.try_number !== tryNumber) {
    return { outcome: 'superseded', detail: `the task is at try ${ti.try_number}, the hand-off served try ${tryNumber}` };
  }
  let request;
  try {
    request = await deps.airflow.getHitlDetail(dagId, dagRunId, taskId, mapIndex);
  } catch (err) {
    if (!(err instanceof AirflowNotFoundError)) throw err;
    if (ti.state !== null && startingStates.has(ti.state)) throw new NotParkedYetError(`hand-off ${handoffId}: its task is ${ti.state} and has not parked yet`);
    return { outcome: 'not-parked', detail: `its task is ${ti.state ?? 'cleared'} with no parked request` };
  }
  if (request.response_received) {
    return { outcome: 'already-resumed', detail: `answered by ${request.responded_by_user?.id ?? 'a timeout'} at ${request.responded_at}` };
  }
  // `running` with a request written: the moment between writing it and parking, which Airflow
  // resolves (the park sees the answer and resumes at once).
  if (ti.state !== 'awaiting_input' && ti.state !== 'running') {
    return { outcome: 'not-parked', detail: `its task is ${ti.state ?? 'cleared'}` };
  }
  const parkedForMs = (deps.now ?? Date.now)() - Date.parse(request.created_at);
  if (ti.state === 'awaiting_input' && parkedForMs < parkSettleMs) {
    throw new NotParkedYetError(`hand-off ${handoffId}: its task parked ${Math.round(parkedForMs)} ms ago; resumed once Airflow has reaped the parking process`);
  }
  try {
    await deps.airflow.answerHitlDetail(dagId, dagRunId, taskId, mapIndex, {
      chosen_options: [parkedHandoffOption],
      params_input: { handoffId, runId: record.runId },
    });
  } catch (err) {
    if (err instanceof AirflowConflictError) return { outcome: 'already-resumed', detail: 'Airflow had an answer already' };
    throw err;
  }
  return { outcome: 'resumed', detail: `task ${ti.state} at try ${tryNumber} resumed` };
}
