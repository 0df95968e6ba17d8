/**
 * Who may do what to a review, as pure functions of the review's state and the caller: the
 * workflow's update validators call these, and the unit tests check them without a server.
 * The rule itself is documented in shared/contracts/reviews.ts.
 */
import type { Principal } from '../../shared/contracts/principal.ts';
import { reviewDecisions, reviewersGroup } from '../../shared/contracts/review-terms.ts';
import { reviewRejections, type ReviewCommentArgs, type ReviewDecisionArgs, type ReviewReassignArgs, type ReviewRejectionType } from './messages.ts';

export interface ReviewRejection {
  type: ReviewRejectionType;
  message: string;
}

export interface ReviewAuthority {
  department: string;
  assignee: string;
  artifactVersion: string;
  finished: boolean;
}

const deciders = new Set(['reviewer', 'admin']);

function inDepartment(principal: Principal, department: string): boolean {
  return principal.department === '*' || principal.department === department;
}

function forbidden(message: string): ReviewRejection {
  return { type: reviewRejections.forbidden, message };
}

/** Undefined when `principal` may act on the review as a reviewer; otherwise why not. */
export function reviewerRejection(review: ReviewAuthority, principal: Principal): ReviewRejection | undefined {
  if (!deciders.has(principal.role)) return forbidden(`role ${principal.role} may not act on reviews`);
  if (!inDepartment(principal, review.department)) {
    return forbidden(`key ${principal.name} of department ${principal.department} may not act on a review of department ${review.department}`);
  }
  if (review.assignee !== reviewersGroup && review.assignee !== principal.name) {
    return forbidden(`the review is assigned to ${review.assignee}, not to ${principal.name}`);
  }
  return undefined;
}

export function decisionRejection(review: ReviewAuthority, args: ReviewDecisionArgs): ReviewRejection | undefined {
  if (review.finished) return { type: reviewRejections.finished, message: 'the review already has an outcome' };
  if (!(reviewDecisions as readonly string[]).includes(args.decision)) {
    return { type: reviewRejections.invalid, message: `decision must be one of ${reviewDecisions.join(', ')}` };
  }
  if (args.decision === 'reject' && !args.comment?.trim()) {
    return { type: reviewRejections.invalid, message: 'a comment is required when rejecting' };
  }
  const denied = reviewerRejection(review, args.principal);
  if (denied) return denied;
  if (args.artifactVersion !== review.artifactVersion) {
    return {
      type: reviewRejections.staleVersion,
      message: `the decision is for artifact version ${args.artifactVersion}, but version ${review.artifactVersion} is under review`,
    };
  }
  return undefined;
}

/** The current assignee may hand the review on; so may an admin of the department. */
export function reassignRejection(review: ReviewAuthority, args: ReviewReassignArgs): ReviewRejection | undefined {
  if (review.finished) return { type: reviewRejections.finished, message: 'the review already has an outcome' };
  if (!args.assignee.trim()) return { type: reviewRejections.invalid, message: 'assignee must not be empty' };
  if (args.principal.role === 'admin' && inDepartment(args.principal, review.department)) return undefined;
  return reviewerRejection(review, args.principal);
}

/** Any reviewer or admin of the department may comment while the review is open. */
export function commentRejection(review: ReviewAuthority, args: ReviewCommentArgs): ReviewRejection | undefined {
  if (review.finished) return { type: reviewRejections.finished, message: 'the review already has an outcome' };
  if (!args.text.trim()) return { type: reviewRejections.invalid, message: 'comment text must not be empty' };
  if (!deciders.has(args.principal.role)) return forbidden(`role ${args.principal.role} may not comment on reviews`);
  if (!inDepartment(args.principal, review.department)) {
    return forbidden(`key ${args.principal.name} of department ${args.principal.department} may not comment on a review of department ${review.department}`);
  }
  return undefined;
}
