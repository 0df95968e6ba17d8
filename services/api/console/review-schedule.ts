/**
 * When a pending review's next reminder, escalation or expiry falls, for the inbox and the
 * review page. The workflow counts its policy from its start, and the inbox row keeps only the
 * deadline; so the start is the deadline minus the policy's deadline hours. The policy is the
 * one recorded in the review's `created` audit entry when the caller has it, else the default
 * policy if the row's span matches it — else only the deadline is known, and that is all we say.
 */
import { defaultReviewPolicy, type ReviewEscalationPolicy } from '../../../shared/contracts/reviews.ts';
import type { ReviewTask } from '../../../shared/store/review-inbox.ts';

const hourMs = 3_600_000;

export interface NextReviewStep {
  kind: 'reminder' | 'escalation' | 'expiry';
  at: Date;
}

/** Whether the task's span from creation to deadline is the default policy's (then its times are known without the audit). */
export function hasDefaultSpan(task: Pick<ReviewTask, 'createdAt' | 'dueAt'>): boolean {
  const spanHours = (new Date(task.dueAt).getTime() - new Date(task.createdAt).getTime()) / hourMs;
  // The task row is written a moment after the workflow starts: allow a minute.
  return Math.abs(spanHours - defaultReviewPolicy.deadlineHours) < 1 / 60;
}

export function nextReviewStep(task: Pick<ReviewTask, 'createdAt' | 'dueAt'>, now: Date, policy?: ReviewEscalationPolicy): NextReviewStep {
  const due = new Date(task.dueAt);
  const known = policy ?? (hasDefaultSpan(task) ? { ...defaultReviewPolicy } : undefined);
  if (known) {
    const start = due.getTime() - known.deadlineHours * hourMs;
    const reminder = new Date(start + known.notifyAfterHours * hourMs);
    const escalation = new Date(start + known.escalateAfterHours * hourMs);
    if (reminder > now) return { kind: 'reminder', at: reminder };
    if (escalation > now) return { kind: 'escalation', at: escalation };
  }
  return { kind: 'expiry', at: due };
}

/** "2 d 4 h", "3 h 20 min", "5 min", "under a minute"; negative spans read as "overdue". */
export function durationInWords(ms: number): string {
  if (ms < 0) return 'overdue';
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return 'under a minute';
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return mins > 0 ? `${hours} h ${mins} min` : `${hours} h`;
  return `${mins} min`;
}
