/**
 * Airflow → Temporal hand-offs: the bodies of /v1/handoffs. A `handoff` stage of a generated DAG
 * (dags/tandem_airflow/operators/handoff.py) starts a durable flow here with the coordinates of
 * its task instance, defers, and long-polls `GET /v1/handoffs/{id}?waitMs=` until the flow ends.
 *
 * One hand-off per task instance: its id — and the Temporal workflow id — is
 * `handoff:<dag_id>:<run_id>:<task_id>:<map_index>`, so a retried or duplicated start finds the
 * same workflow. Which Temporal *run* of that id serves an Airflow attempt (`tryNumber`):
 * - nothing started yet → start it;
 * - a run is still running → attach to it, whatever the try (a resumed or re-deferred task, or a
 *   retry after the worker died before deferring, never starts a second one);
 * - the last run is closed and the request's try is not newer than the try that started it →
 *   return that run (a duplicate start, or `execute_complete` running again);
 * - the last run is closed and the try is newer (an Airflow retry after a failed, rejected or
 *   expired flow, or a cleared task re-run) → start a fresh run under the same id;
 * - …except when that run succeeded and Airflow recorded the try it served as not a success: the
 *   try died before Airflow got the outcome (killed while it read it), so the retry gets that
 *   outcome and no second review is asked for. A cleared task's try ended a success: fresh run.
 *
 * How the Airflow task waits (`wait`): `triggerer` — deferred, its trigger long-polls
 * `GET /v1/handoffs/{id}` and ends the task (short hand-offs: an LLM call); `parked` — in
 * Airflow's `awaiting_input` state with a Human-in-the-loop request assigned to tandem's own
 * Airflow user (the start's `resumer`), which tandem answers through Airflow's REST API when the
 * workflow closes (long hand-offs: a review). Nothing polls a parked hand-off.
 *
 * Pure: zod only.
 */
import { z } from 'zod';
import { departmentIdSchema } from './roles.ts';

export const handoffAirflowSchema = z
  .object({
    dagId: z.string().min(1).max(250),
    runId: z.string().min(1).max(250),
    taskId: z.string().min(1).max(250),
    /** -1 for a task that is not mapped, as Airflow says it. */
    mapIndex: z.number().int().min(-1).default(-1),
    /** Airflow's try number of the attempt asking (1 for the first try). */
    tryNumber: z.number().int().min(1),
  })
  .strict()
  .meta({ id: 'HandoffAirflowCoordinates' });
export type HandoffAirflowCoordinates = z.infer<typeof handoffAirflowSchema>;

export const handoffWaits = ['triggerer', 'parked'] as const;
export type HandoffWait = (typeof handoffWaits)[number];
export const handoffWaitSchema = z.enum(handoffWaits).meta({ id: 'HandoffWait' });

export const startHandoffRequestSchema = z
  .object({
    /** Public workflow type of `POST /v1/workflows`, e.g. `review.request`. */
    workflowType: z.string().min(1).max(200),
    /** Checked against that type's input schema. */
    input: z.unknown(),
    /** The pipeline's department: the hand-off is visible to and audited under it. */
    department: departmentIdSchema,
    pipelineId: z.string().min(1).max(250).nullable().default(null),
    partition: z.string().min(1).max(500).nullable().default(null),
    /** How the task waits; a parked start is answered with the `resumer` to assign the task to. */
    wait: handoffWaitSchema.default('triggerer'),
    airflow: handoffAirflowSchema,
  })
  .strict()
  .meta({ id: 'StartHandoffRequest' });
export type StartHandoffRequest = z.infer<typeof startHandoffRequestSchema>;

/**
 * Where a hand-off stands. `pending` while the workflow runs; otherwise how it ended:
 * `succeeded` (the Airflow task succeeds with `result` as its XCom), or one of the failures the
 * task fails with, `reason` saying why. A review that was rejected, sent back for changes, or
 * expired completed as a workflow but is a `rejected` / `expired` hand-off.
 */
export const handoffStatuses = ['pending', 'succeeded', 'failed', 'cancelled', 'terminated', 'timed-out', 'rejected', 'expired'] as const;
export type HandoffStatus = (typeof handoffStatuses)[number];
export const handoffStatusSchema = z.enum(handoffStatuses).meta({ id: 'HandoffStatus' });

export const handoffStateSchema = z
  .object({
    handoffId: z.string(),
    /** Equal to `handoffId`; the id `GET /v1/workflows/{id}` and the Temporal UI know. */
    workflowId: z.string(),
    /** The Temporal run serving the current Airflow try. */
    runId: z.string(),
    workflowType: z.string(),
    department: z.string(),
    pipelineId: z.string().nullable(),
    partition: z.string().nullable(),
    airflow: handoffAirflowSchema,
    status: handoffStatusSchema,
    /** The workflow's result, when it completed (also for `rejected` / `expired` reviews). */
    result: z.unknown().optional(),
    /** Why the hand-off did not succeed; absent while pending and on success. */
    reason: z.string().optional(),
    startedAt: z.string(),
    closedAt: z.string().nullable(),
    /** Links for people: the workflow in the control API and, when configured, the Temporal UI. */
    links: z.object({ workflow: z.string(), temporalUi: z.string().optional() }),
  })
  .meta({ id: 'HandoffState' });
export type HandoffState = z.infer<typeof handoffStateSchema>;

export const handoffStartedSchema = handoffStateSchema
  .extend({
    /** False when the start attached to an existing run (see the module comment). */
    created: z.boolean(),
    /**
     * A parked start's answer: tandem's own Airflow user, the one identity the task's
     * Human-in-the-loop request is assigned to (so nobody else may resume it).
     */
    resumer: z.object({ id: z.string(), name: z.string() }).optional(),
  })
  .meta({ id: 'HandoffStarted' });
export type HandoffStarted = z.infer<typeof handoffStartedSchema>;

/** Longest `waitMs` a result poll may ask for; the trigger asks for less and polls again. */
export const maxHandoffWaitMs = 30_000;

export const handoffResultQuerySchema = z.object({
  waitMs: z.coerce.number().int().min(0).max(maxHandoffWaitMs).default(0),
});

export const cancelHandoffBodySchema = z
  .object({ reason: z.string().min(1).max(2000).optional() })
  .strict()
  .meta({ id: 'CancelHandoffBody' });

/** The one option of a parked task's Human-in-the-loop request (dags/tandem_airflow/operators/handoff.py). */
export const parkedHandoffOption = 'workflow closed';

export function handoffIdFor(airflow: Pick<HandoffAirflowCoordinates, 'dagId' | 'runId' | 'taskId' | 'mapIndex'>): string {
  return `handoff:${airflow.dagId}:${airflow.runId}:${airflow.taskId}:${airflow.mapIndex}`;
}
