/**
 * The handoffs family: the push that resumes a parked hand-off. A hand-off whose Airflow task is
 * parked in `awaiting_input` calls `resumeParkedHandoff` as its workflow's last step
 * (workflows/audit-interceptors.ts), so the task resumes the moment the workflow ends — nothing
 * polls it. The checks live in services/handoffs/parked.ts, shared with the reconciler, which
 * resumes a parked task whose push was lost.
 *
 * A task that has not parked yet (it still runs, the workflow ended first) fails this attempt
 * retryably, so the `handoffResume` preset asks again shortly; any other outcome is final.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Store } from '../../../shared/store/store.ts';
import type { AirflowClient } from '../../airflow/client.ts';
import { NotParkedYetError, resumeParkedHandoff, type ParkedResumeResult } from '../../handoffs/parked.ts';

export interface ResumeParkedHandoffInput {
  handoffId: string;
  /** The run asking: only the run serving the task's try may resume it. */
  runId: string;
}

export interface HandoffActivityDependencies {
  store: Pick<Store, 'handoffs'>;
  /** Called on first use, so a worker without Airflow still starts. */
  client: () => Pick<AirflowClient, 'getTaskInstance' | 'getHitlDetail' | 'answerHitlDetail'>;
}

export function createHandoffActivities({ store, client }: HandoffActivityDependencies) {
  return {
    async resumeParkedHandoff(input: ResumeParkedHandoffInput): Promise<ParkedResumeResult> {
      try {
        return await resumeParkedHandoff({ store, airflow: client() }, input.handoffId, input.runId);
      } catch (err) {
        if (err instanceof NotParkedYetError) throw ApplicationFailure.retryable(err.message, 'HandoffNotParkedYet');
        throw err;
      }
    },
  };
}

export type HandoffActivities = ReturnType<typeof createHandoffActivities>;
