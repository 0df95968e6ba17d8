/**
 * Messages of the review workflow. The API calls these with the caller's principal taken from
 * its API key; the workflow's validators decide, so a rejected update changes nothing and the
 * caller learns the reason at once (the failure's type says which: see `reviewRejections`).
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Principal } from '../../shared/contracts/principal.ts';
import type {
  ReviewCommentBody,
  ReviewDecisionBody,
  ReviewEscalation,
  ReviewReassignBody,
} from '../../shared/contracts/reviews.ts';
import type { ReviewOutcome } from '../../shared/contracts/review-terms.ts';

/** `ApplicationFailure` types a validator rejects with; the API maps each to an HTTP status. */
export const reviewRejections = {
  /** The caller may not act on this review (role, department, or not the assignee) → 403. */
  forbidden: 'ReviewForbidden',
  /** The review already has an outcome → 409. */
  finished: 'ReviewFinished',
  /** The decision names another artifact version than the one under review → 409. */
  staleVersion: 'ReviewStaleVersion',
  /** The decision does not match the schema → 422. */
  invalid: 'ReviewDecisionInvalid',
} as const;
export type ReviewRejectionType = (typeof reviewRejections)[keyof typeof reviewRejections];

export type ReviewDecisionArgs = ReviewDecisionBody & { principal: Principal };
export type ReviewReassignArgs = ReviewReassignBody & { principal: Principal };
export type ReviewCommentArgs = ReviewCommentBody & { principal: Principal };

export interface ReviewComment {
  by: string;
  at: string;
  text: string;
}

export interface ReviewStatus {
  reviewId: string;
  department: string;
  reviewType: string;
  title: string;
  artifact: { uri: string; version: string; summary?: string | undefined };
  status: 'pending' | ReviewOutcome;
  assignee: string;
  escalationContact: string;
  escalationLevel: number;
  escalations: ReviewEscalation[];
  comments: ReviewComment[];
  notifications: number;
  createdAt: string;
  dueAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  comment: string | null;
}

export const decideUpdate = defineUpdate<ReviewStatus, [ReviewDecisionArgs]>('decide');
export const reassignUpdate = defineUpdate<ReviewStatus, [ReviewReassignArgs]>('reassign');
export const commentUpdate = defineUpdate<ReviewStatus, [ReviewCommentArgs]>('comment');
export const reviewStatusQuery = defineQuery<ReviewStatus>('reviewStatus');
