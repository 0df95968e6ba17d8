/**
 * Retry and timeout presets, one per risk class of activity. Retries are chosen per kind of
 * call, never one global policy: read this file to see which calls may retry,
 * how often, and which failures stop at once.
 *
 *   const { callModel } = proxyActivities<typeof llm>(llmCall);
 *
 * Non-retryable failures are named by `ApplicationFailure` type. Activities throw
 * `ApplicationFailure.create({ type: activityErrorTypes.llm.contentFiltered, … })`, so the
 * names live in shared/contracts/activity-errors.ts (activities import them without the workflow
 * SDK) and the policies that match them live here. An activity may also set `nonRetryable: true`
 * on a failure directly; the lists below are for failures whose retryability is a property of the
 * call's risk class, not of one code path.
 *
 * Every preset sets an explicit start-to-close timeout: it is how Temporal notices a worker that
 * died mid-attempt. Long waits on people or outside systems are durable timers or signals in the
 * workflow — never an activity holding a slot, so a stage that waits on a person costs nothing.
 */
import { ActivityCancellationType, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';
import { activityErrorTypes } from '../shared/contracts/activity-errors.ts';
import { webhookRetry } from '../shared/contracts/webhook-retry.ts';


/**
 * LLM provider calls (chat/completions, embeddings for a single request). Transient network
 * errors and 5xx retry with backoff; 429/overload retries too, and the activity sets
 * `nextRetryDelay` from `Retry-After` so the next attempt never comes sooner than the provider
 * asked. Model errors never retry — the same prompt gets the same refusal, and each attempt costs
 * money. The schedule-to-close cap bounds total spend on one call including every retry.
 */
export const llmCall = {
  startToCloseTimeout: '5 minutes',
  scheduleToCloseTimeout: '30 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 6,
    nonRetryableErrorTypes: Object.values(activityErrorTypes.llm),
  },
} satisfies ActivityOptions;

/**
 * A Kubernetes GPU Job: submit (idempotent by job name), then watch it to completion. Runs for
 * hours, so the activity heartbeats while it watches and a dead worker is noticed within the
 * heartbeat timeout rather than after 12 h; the heartbeat details carry the job name and last
 * checkpoint, so the retry re-attaches to the running Job instead of submitting a second one.
 * Spot preemption is expected for fault-tolerant work, hence several slow attempts. Cancellation
 * waits for the activity to delete the Job, so a cancelled workflow never leaves GPUs busy.
 */
export const gpuJob = {
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '2 minutes',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '30 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 5,
    nonRetryableErrorTypes: Object.values(activityErrorTypes.gpuJob),
  },
} satisfies ActivityOptions;

/**
 * One Airflow REST call (trigger a DAG run with a deterministic run id, read a run's state,
 * clear a task). Idempotent by run id, so retrying through an api-server restart is safe; short
 * attempts because a healthy api-server answers in milliseconds. Waiting for a run to finish is
 * not one long call: the workflow polls with timers (or is signalled) between calls.
 */
export const airflowCall = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '15 minutes',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: Object.values(activityErrorTypes.airflow),
  },
} satisfies ActivityOptions;

/**
 * Golden-query evaluation and alias switches: reads of files the refresh produced and writes to
 * the local store, all idempotent. A few quick attempts; a missing retrievals file stops at once.
 */
export const evaluation = {
  startToCloseTimeout: '5 minutes',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: Object.values(activityErrorTypes.evaluation),
  },
} satisfies ActivityOptions;

/**
 * The deploy hook of model promotion. Few attempts: a deploy that keeps failing is rolled back
 * (the alias switched back) rather than retried for hours with the new version half-live.
 */
export const deploy = {
  startToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 3,
    nonRetryableErrorTypes: Object.values(activityErrorTypes.deploy),
  },
} satisfies ActivityOptions;

/**
 * Notifications (reviewer e-mail/webhook, escalation pages). Delivery is at-least-once: the
 * payload carries an idempotency key for receivers to deduplicate. Retries for up to an hour —
 * a notification that arrives late is still useful, one that never arrives is an incident — and
 * the workflow's escalation timers keep running regardless, so a dead channel delays nothing else.
 */
export const notify = {
  startToCloseTimeout: '15 seconds',
  scheduleToCloseTimeout: '1 hour',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    nonRetryableErrorTypes: Object.values(activityErrorTypes.notify),
  },
} satisfies ActivityOptions;

/**
 * Appending to the hash-chained audit log. An audit record must never be dropped, so attempts
 * are unlimited (no maximumAttempts: the TypeScript SDK rejects 0) and the workflow simply waits while the store is down. That
 * is safe because the append is idempotent: the event id is derived from the workflow id and the
 * event's sequence, and a duplicate append is a no-op.
 *
 * Valid for `proxyLocalActivities` too: the append is a write to tandem's own store, milliseconds
 * long, so where it follows a step somebody waits on (a review's decision, a workflow's end) it
 * runs inside the worker's workflow task instead of costing a round trip through the server.
 * A local attempt that keeps failing backs off on a durable timer after a minute (the SDK's
 * `localRetryThreshold`), so a store outage still only waits.
 */
export const audit = {
  startToCloseTimeout: '10 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: Object.values(activityErrorTypes.audit),
  },
} satisfies ActivityOptions & LocalActivityOptions;

/**
 * Resuming a parked hand-off's Airflow task (services/worker/activities/handoffs.ts). A task that
 * has not parked yet is asked again within seconds; Airflow being down is ridden out for about two
 * minutes. Bounded: after that the reconciler resumes the task (it looks for parked tasks whose
 * workflow has closed), and the workflow must end rather than wait on Airflow.
 */
export const handoffResume = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '15 seconds',
    maximumAttempts: 12,
  },
} satisfies ActivityOptions;

/**
 * Creating, reassigning and closing a review task in its task system (the built-in inbox, or an
 * external task list such as an EHR's). Nobody can find a review whose task was never created, so
 * attempts are unlimited like `audit`; every call is idempotent by review id, so retries are safe.
 * Valid for `proxyLocalActivities`: closing an inbox task (a write to tandem's store) is one.
 */
export const reviewTask = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
  },
} satisfies ActivityOptions & LocalActivityOptions;

/**
 * Quick work inside the worker with no outside system (stamping, shaping data, a local read).
 * Fails fast: if three attempts do not succeed, something is wrong with the code, not the
 * network. Valid for both `proxyActivities` and `proxyLocalActivities`.
 */
export const local = {
  startToCloseTimeout: '10 seconds',
  retry: {
    initialInterval: '200 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '2 seconds',
    maximumAttempts: 3,
  },
} satisfies ActivityOptions & LocalActivityOptions;

/**
 * One webhook delivery attempt (a POST to a subscriber). Every failure retries — a receiver that
 * answers 4xx today may be fixed tomorrow — with backoff from 10 s to 10 min, for up to 3 days
 * (shared/contracts/webhooks.ts, which the delivery log's "next try" reads too). At-least-once: the
 * `webhook-id` header is the event's, the same on every attempt, for receivers to deduplicate.
 */
export const webhookDelivery = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: webhookRetry.giveUpAfterMs,
  retry: {
    initialInterval: webhookRetry.initialIntervalMs,
    backoffCoefficient: webhookRetry.backoffCoefficient,
    maximumInterval: webhookRetry.maximumIntervalMs,
  },
} satisfies ActivityOptions;
