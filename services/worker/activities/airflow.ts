/**
 * The airflow family: start a DAG run and wait for it, through the one Airflow client
 * (services/airflow/client.ts).
 *
 * - `triggerDagRun` is idempotent by the caller's deterministic run id: a retried trigger gets
 *   409 "already exists" from Airflow, which means the first attempt got through, so it returns
 *   that run instead of failing (and never starts a second one).
 * - `checkDagRun` is ONE poll: it returns the run's state, or fails non-retryably with
 *   `AirflowDagRunFailed` (message: the failed task's log excerpt). The waiting itself is a
 *   durable timer in the workflow (`waitForDagRun` in workflows/airflow-wait.ts), so no worker
 *   slot is held between polls — a DAG run that takes all night costs nothing while it runs.
 * - `failDagRun` marks a run that is still queued or running `failed` (PATCH), which also stops
 *   its running tasks: the cleanup of a cancelled workflow, so no orphan run keeps going. A run
 *   that already ended, or never got created, is left as it is.
 * - Airflow refusing the request (4xx other than 408/409/429) is non-retryable
 *   `AirflowRequestRejected`; unreachable/5xx stays retryable for the preset's backoff.
 */
import { ApplicationFailure } from '@temporalio/common';
import { AirflowApiError, AirflowConflictError } from '../../airflow/errors.ts';
import type { AirflowClient, AirflowDagRun, DagRunState } from '../../airflow/client.ts';
import { formatTaskLog } from '../../airflow/task-log.ts';
import { activityErrorTypes } from '../../../shared/contracts/activity-errors.ts';

export interface TriggerDagRunInput {
  dagId: string;
  runId: string;
  conf?: Record<string, unknown>;
}

export interface DagRunRef {
  dagId: string;
  runId: string;
}

export interface DagRunSummary extends DagRunRef {
  state: DagRunState;
}

export interface FailDagRunInput extends DagRunRef {
  /** Shown on the run in Airflow (at most 1,000 characters): why it was failed. */
  note: string;
}

export interface FailedDagRun extends DagRunRef {
  /** The state before: only `queued` and `running` runs are marked failed; `null` when the run does not exist. */
  previousState: DagRunState | null;
  state: DagRunState | null;
}

export interface AirflowActivityOptions {
  /** Called on first use, so a worker without Airflow credentials starts and fails only these calls. */
  client: () => AirflowClient;
  /** How much of the failed task's log (its tail) goes into the failure message. */
  logExcerptChars?: number;
}

const RETRYABLE_4XX = new Set([408, 409, 429]);

/** Airflow refusing a request becomes a non-retryable failure; anything else is rethrown for the preset's retries. */
export function rejectedOrRethrow(err: unknown): never {
  if (err instanceof AirflowApiError && err.status !== null && err.status < 500 && !RETRYABLE_4XX.has(err.status)) {
    throw ApplicationFailure.create({ type: activityErrorTypes.airflow.rejected, message: err.message, nonRetryable: true, cause: err });
  }
  throw err;
}

const summary = (run: AirflowDagRun): DagRunSummary => ({ dagId: run.dag_id, runId: run.dag_run_id, state: run.state });

export function createAirflowActivities(options: AirflowActivityOptions) {
  const excerptChars = options.logExcerptChars ?? 4_000;
  let client: AirflowClient | undefined;
  const airflow = () => (client ??= options.client());

  /** The tail of the first failed task's log, or a note saying why there is none. */
  async function failedTaskExcerpt(ref: DagRunRef): Promise<string> {
    try {
      const { task_instances: failed } = await airflow().listTaskInstances(ref.dagId, ref.runId, { state: ['failed', 'upstream_failed'] });
      const task = failed.find((t) => t.state === 'failed') ?? failed[0];
      if (!task) return '(no failed task instance found)';
      const log = formatTaskLog(await airflow().getTaskLog(ref.dagId, ref.runId, task.task_id, Math.max(1, task.try_number), { mapIndex: task.map_index }));
      const tail = log.length > excerptChars ? `…${log.slice(-excerptChars)}` : log;
      return `task ${task.task_id} (try ${task.try_number}) failed:\n${tail}`;
    } catch (err) {
      return `(could not read the failed task's log: ${(err as Error).message})`;
    }
  }

  return {
    async triggerDagRun(input: TriggerDagRunInput): Promise<DagRunSummary> {
      try {
        return summary(await airflow().triggerDagRun(input.dagId, { dag_run_id: input.runId, conf: input.conf ?? {} }));
      } catch (err) {
        if (err instanceof AirflowConflictError) return summary(await airflow().getDagRun(input.dagId, input.runId).catch(rejectedOrRethrow));
        rejectedOrRethrow(err);
      }
    },

    async checkDagRun(ref: DagRunRef): Promise<DagRunSummary> {
      const run = await airflow().getDagRun(ref.dagId, ref.runId).catch(rejectedOrRethrow);
      if (run.state === 'failed') {
        throw ApplicationFailure.create({
          type: activityErrorTypes.airflow.dagRunFailed,
          message: `DAG run ${ref.dagId}/${ref.runId} failed; ${await failedTaskExcerpt(ref)}`,
          nonRetryable: true,
        });
      }
      return summary(run);
    },

    async failDagRun(input: FailDagRunInput): Promise<FailedDagRun> {
      const { dagId, runId } = input;
      let run: AirflowDagRun;
      try {
        run = await airflow().getDagRun(dagId, runId);
      } catch (err) {
        if (err instanceof AirflowApiError && err.status === 404) return { dagId, runId, previousState: null, state: null };
        rejectedOrRethrow(err);
      }
      if (run.state !== 'queued' && run.state !== 'running') return { dagId, runId, previousState: run.state, state: run.state };
      const patched = await airflow()
        .patchDagRun(dagId, runId, { state: 'failed', note: input.note.slice(0, 1_000) })
        .catch(rejectedOrRethrow);
      return { dagId, runId, previousState: run.state, state: patched.state };
    },
  };
}

export type AirflowActivities = ReturnType<typeof createAirflowActivities>;
