/**
 * The words of a review — decisions, outcomes, the reviewers group — without zod, so workflow
 * code (bundled into Temporal's sandbox) can use them; reviews.ts builds its schemas from these.
 */

/**
 * How a task reference of the built-in inbox starts (`inbox:<review id>`). The inbox is a table in
 * tandem's own store, so the review workflow closes it as a local activity; a task in an outside
 * task system has a reference of its own and is closed by a normal activity.
 */
export const inboxTaskRefPrefix = 'inbox:';

/** An assignee that means "every reviewer key of the review's department". */
export const reviewersGroup = 'group:reviewers';

export const reviewDecisions = ['approve', 'reject', 'request-changes'] as const;
export const reviewOutcomes = ['approved', 'rejected', 'changes-requested', 'expired'] as const;
export type ReviewDecisionKind = (typeof reviewDecisions)[number];
export type ReviewOutcome = (typeof reviewOutcomes)[number];

export const outcomeOfDecision: Record<ReviewDecisionKind, Exclude<ReviewOutcome, 'expired'>> = {
  approve: 'approved',
  reject: 'rejected',
  'request-changes': 'changes-requested',
};

/** Escalation defaults (hours) when a review request names no policy. */
export const defaultReviewPolicy = { notifyAfterHours: 24, escalateAfterHours: 72, deadlineHours: 168 } as const;
