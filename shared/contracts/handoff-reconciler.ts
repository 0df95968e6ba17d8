/**
 * What one pass of the hand-off reconciler did (services/handoffs/reconciler.ts), as
 * `POST /v1/handoffs/reconcile` answers it. Pure: zod only.
 */
import { z } from 'zod';

export const handoffReconcileReportSchema = z
  .object({
    /** True when a pass was already running: this call did nothing (passes never overlap). */
    skipped: z.boolean(),
    /** Hand-offs whose workflow was asked to cancel because their Airflow task is gone, cleared or ended. */
    cancelled: z.array(z.string()),
    /** Hand-offs whose Airflow task waits deferred but Temporal had no workflow: started again from the stored input. */
    restarted: z.array(z.string()),
    /** Hand-offs whose record was closed: the workflow had ended, or was gone with nothing left waiting for it. */
    closed: z.array(z.string()),
    /** Parked hand-off tasks whose workflow had closed but that nobody had resumed (a lost resume): resumed now. */
    resumed: z.array(z.string()),
    /** Parked hand-off tasks someone other than tandem answered through Airflow: failed, saying who. */
    refused: z.array(z.string()),
    /** Deferred hand-off tasks tandem has no record of: nothing knows their input, so they are left to fail. */
    unrecoverable: z.array(z.string()),
    /** Calls that failed; the rest of the pass still ran. */
    errors: z.array(z.object({ handoffId: z.string().optional(), message: z.string() })),
  })
  .meta({ id: 'HandoffReconcileReport' });
export type HandoffReconcileReport = z.infer<typeof handoffReconcileReportSchema>;
