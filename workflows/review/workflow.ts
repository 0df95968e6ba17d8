/**
 * review.request: a human decides on an artifact version, and nobody's review silently expires.
 *
 * The task is created in the task system (built-in inbox by default), then the workflow waits on
 * durable timers — no worker slot, no compute — for a decision, which arrives as the `decide`
 * update. Its validator rejects what may not be (see rules.ts) before anything changes. The
 * escalation policy counts from the start of the workflow (a reassignment does not restart it):
 *
 *   notifyAfter   → remind the assignee and the escalation contact          (audit `notified`)
 *   escalateAfter → the escalation contact becomes the assignee, notified     (audit `escalated`)
 *   deadline      → outcome `expired`, with the escalation record, notified   (audit `expired`)
 *
 * Every step is audited through the `audit` activity with a dedupe key of this run and the step,
 * so a retried activity never writes a second entry.
 *
 * The review id is the workflow id (`/v1/reviews/{id}` addresses the workflow by it). A hand-off
 * retried by Airflow after a rejected or expired review starts a fresh run under the same id: that
 * run reopens the closed inbox task, and its audit dedupe keys and notification idempotency keys
 * carry its run id, so none of its steps is mistaken for the previous run's. Runs recorded before
 * that (`patched`) keep keys of the workflow id alone, so their histories still replay.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { AuditActivities, AuditAppend } from '../../services/worker/activities/audit.ts';
import type { NotifyActivities, ReviewNotification } from '../../services/worker/activities/notify.ts';
import type { ReviewTaskActivities } from '../../services/worker/activities/review-tasks.ts';
import type { Principal } from '../../shared/contracts/principal.ts';
import { defaultReviewPolicy, inboxTaskRefPrefix, outcomeOfDecision } from '../../shared/contracts/review-terms.ts';
import type { ReviewEscalation, ReviewRequestInput, ReviewResult } from '../../shared/contracts/reviews.ts';
import type { AuditActor } from '../../shared/store/audit-log.ts';
import { audit, notify, reviewTask } from '../activity-options.ts';
import { commentUpdate, decideUpdate, reassignUpdate, reviewStatusQuery, type ReviewStatus } from './messages.ts';
import { commentRejection, decisionRejection, reassignRejection, type ReviewAuthority, type ReviewRejection } from './rules.ts';

const { appendAudit } = proxyActivities<AuditActivities>(audit);
const { appendAudit: appendAuditLocally } = proxyLocalActivities<AuditActivities>(audit);
const { sendReviewNotification } = proxyActivities<NotifyActivities>(notify);
const { createReviewTask, reassignReviewTask, closeReviewTask } = proxyActivities<ReviewTaskActivities>(reviewTask);
const { closeReviewTask: closeReviewTaskLocally } = proxyLocalActivities<ReviewTaskActivities>(reviewTask);

const hourMs = 60 * 60 * 1000;
const runScopedKeysPatch = 'review-run-scoped-keys';
/** A comment or reassignment that arrives while `created` is being audited is audited after it. */
const auditAfterCreatedPatch = 'review-audit-after-created';
/** The decision's audit entry (and an inbox task's close) are local activities (see below). */
const decidedLocallyPatch = 'review-decided-audit-local';
const workflowActor: AuditActor = { kind: 'workflow', name: 'reviewWorkflow' };

/**
 * The current workflow time. Inside Temporal's sandbox `Date` is replaced by the time of the
 * workflow task being processed — the same on every replay, and skipped ahead by the
 * time-skipping test server — so this is deterministic; it must only be called from workflow code.
 */
function workflowNow(): number {
  return new Date().getTime();
}

function keyActor(p: Principal): AuditActor {
  return { kind: 'key', keyId: p.keyId, name: p.name, role: p.role };
}

function throwIfRejected(rejection: ReviewRejection | undefined): void {
  if (rejection) throw ApplicationFailure.create({ type: rejection.type, message: rejection.message, nonRetryable: true });
}

export async function reviewWorkflow(input: ReviewRequestInput): Promise<ReviewResult> {
  const reviewId = workflowInfo().workflowId;
  /** Prefix of this run's dedupe and idempotency keys (see the module comment). */
  const stepKeyPrefix = patched(runScopedKeysPatch) ? `${reviewId}:${workflowInfo().runId}` : reviewId;
  // The inbox task exists (a reviewer can act on it) before `created` is in the audit chain; a
  // handler that records waits for it, so the chain never shows a comment before the review.
  let createdRecorded = !patched(auditAfterCreatedPatch);
  const afterCreated = () => condition(() => createdRecorded);
  const policy = { ...defaultReviewPolicy, ...input.policy };
  const startedAt = workflowInfo().startTime.getTime();
  const iso = (ms: number) => new Date(ms).toISOString();

  const state: ReviewStatus = {
    reviewId,
    department: input.department,
    reviewType: input.reviewType,
    title: input.title,
    artifact: input.artifact,
    status: 'pending',
    assignee: input.assignee,
    escalationContact: input.escalationContact,
    escalationLevel: 0,
    escalations: [],
    comments: [],
    notifications: 0,
    createdAt: iso(startedAt),
    dueAt: iso(startedAt + policy.deadlineHours * hourMs),
    decidedBy: null,
    decidedAt: null,
    comment: null,
  };
  let decider: Principal | undefined;
  let decisionRecorded = false;

  const authority = (): ReviewAuthority => ({
    department: state.department,
    assignee: state.assignee,
    artifactVersion: state.artifact.version,
    finished: state.status !== 'pending',
  });
  const record = (
    entry: Omit<AuditAppend, 'department' | 'subject' | 'workflowId' | 'artifactVersion' | 'dedupeKey'> & { step: string },
    append = appendAudit,
  ) => {
    const { step, ...rest } = entry;
    return append({
      ...rest,
      department: state.department,
      subject: `review:${reviewId}`,
      workflowId: reviewId,
      artifactVersion: state.artifact.version,
      dedupeKey: `${stepKeyPrefix}:${step}`,
    });
  };
  const notifyPeople = async (kind: ReviewNotification['kind'], recipients: string[], step: string) => {
    const unique = [...new Set(recipients)];
    const delivery = await sendReviewNotification({
      kind,
      reviewId,
      department: state.department,
      title: state.title,
      artifactVersion: state.artifact.version,
      recipients: unique,
      idempotencyKey: `${stepKeyPrefix}:${step}`,
    });
    state.notifications += 1;
    return { recipients: unique, channel: delivery.channel };
  };

  setHandler(reviewStatusQuery, () => state);

  setHandler(
    decideUpdate,
    async (args) => {
      // Set synchronously: a second decision's validator already sees the review as finished.
      state.status = outcomeOfDecision[args.decision];
      state.decidedBy = args.principal.name;
      state.decidedAt = iso(workflowNow());
      state.comment = args.comment ?? null;
      decider = args.principal;
      // The decider's reply says the decision is in the audit chain. On a waiting review that costs
      // nothing extra: the entry is written inside this workflow task (see below).
      if (patched(decidedLocallyPatch)) await condition(() => decisionRecorded);
      return state;
    },
    { validator: (args) => throwIfRejected(decisionRejection(authority(), args)) },
  );

  let reassignments = 0;
  setHandler(
    reassignUpdate,
    async (args) => {
      const from = state.assignee;
      state.assignee = args.assignee;
      const n = ++reassignments;
      await reassignReviewTask({ reviewId, assignee: args.assignee });
      await afterCreated();
      await record({
        step: `reassigned:${n}`,
        event: 'reassigned',
        actor: keyActor(args.principal),
        details: { from, to: args.assignee, ...(args.reason ? { reason: args.reason } : {}) },
      });
      return state;
    },
    { validator: (args) => throwIfRejected(reassignRejection(authority(), args)) },
  );

  setHandler(
    commentUpdate,
    async (args) => {
      state.comments.push({ by: args.principal.name, at: iso(workflowNow()), text: args.text });
      await afterCreated();
      await record({ step: `commented:${state.comments.length}`, event: 'commented', actor: keyActor(args.principal), details: { text: args.text } });
      return state;
    },
    { validator: (args) => throwIfRejected(commentRejection(authority(), args)) },
  );

  const { taskRef } = await createReviewTask({
    reviewId,
    department: input.department,
    reviewType: input.reviewType,
    title: input.title,
    artifactUri: input.artifact.uri,
    artifactVersion: input.artifact.version,
    assignee: input.assignee,
    escalationContact: input.escalationContact,
    dueAt: state.dueAt,
  });
  await record({
    step: 'created',
    event: 'created',
    actor: workflowActor,
    details: { reviewType: input.reviewType, title: input.title, assignee: input.assignee, escalationContact: input.escalationContact, policy },
  });
  createdRecorded = true;

  const decided = () => state.status !== 'pending';
  /** Waits until `hours` after the start or a decision, whichever comes first; true on a decision. */
  const decisionBefore = (hours: number) => condition(decided, Math.max(1, startedAt + hours * hourMs - workflowNow()));

  if (!(await decisionBefore(policy.notifyAfterHours))) {
    const sent = await notifyPeople('review-reminder', [state.assignee, state.escalationContact], 'notified:1');
    await record({ step: 'notified:1', event: 'notified', actor: workflowActor, details: { reason: 'reminder', ...sent } });
  }
  if (!decided() && !(await decisionBefore(policy.escalateAfterHours))) {
    const escalation: ReviewEscalation = { level: state.escalationLevel + 1, from: state.assignee, to: state.escalationContact, at: iso(workflowNow()) };
    state.escalations.push(escalation);
    state.escalationLevel = escalation.level;
    state.assignee = escalation.to;
    await reassignReviewTask({ reviewId, assignee: escalation.to, escalationLevel: escalation.level });
    const sent = await notifyPeople('review-escalated', [escalation.to, escalation.from], `escalated:${escalation.level}`);
    await record({ step: `escalated:${escalation.level}`, event: 'escalated', actor: workflowActor, details: { ...escalation, notified: sent } });
  }
  if (!decided() && !(await decisionBefore(policy.deadlineHours))) {
    state.status = 'expired';
    state.decidedAt = iso(workflowNow());
    await closeReviewTask({ reviewId, status: 'expired' });
    const sent = await notifyPeople('review-expired', [state.assignee, state.escalationContact, input.assignee], 'expired');
    await record({ step: 'expired', event: 'expired', actor: workflowActor, details: { escalations: state.escalations, notified: sent } });
  } else {
    const outcome = state.status as Exclude<ReviewStatus['status'], 'pending' | 'expired'>;
    const decidedEntry = {
      step: 'decided',
      event: 'decided',
      actor: keyActor(decider!),
      details: { outcome, comment: state.comment, escalationLevel: state.escalationLevel, decidedAt: state.decidedAt },
    } as const;
    if (patched(decidedLocallyPatch)) {
      // The entry is a local activity, written inside the workflow task that accepts the decision
      // on a waiting review, and the decider's reply waits for it (the handler above). The close
      // of an inbox task is one too, beside it, so the review ends in that same workflow task with
      // no follow-up for the next decision to compete with; a task in an outside system is closed
      // by a normal activity, which the reply never waits for. Before, the close and the entry ran
      // one after the other, each a round trip through the server.
      const close = taskRef.startsWith(inboxTaskRefPrefix) ? closeReviewTaskLocally : closeReviewTask;
      await Promise.all([
        close({ reviewId, status: outcome }),
        record(decidedEntry, appendAuditLocally).then(() => {
          decisionRecorded = true;
        }),
      ]);
    } else {
      await closeReviewTask({ reviewId, status: outcome });
      await record(decidedEntry);
    }
  }
  // A reassignment or comment accepted just before the outcome still finishes its audit entry.
  await condition(allHandlersFinished);

  return {
    outcome: state.status as ReviewResult['outcome'],
    decidedBy: state.decidedBy,
    decidedAt: state.decidedAt!,
    artifactVersion: state.artifact.version,
    comment: state.comment,
    escalations: state.escalations,
  };
}
