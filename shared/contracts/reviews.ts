/**
 * Human review: what `POST /v1/workflows {type: 'review.request'}` accepts, what the review
 * workflow returns, and the bodies of the /v1/reviews routes. Pure: zod only (workflow code
 * imports the inferred types).
 *
 * Who may decide (the rule the workflow's update validator enforces): a key with role `reviewer`
 * or `admin`, whose department is the review's department or `*`, and whose key name is the
 * current assignee — or any such key when the assignee is the group `group:reviewers`.
 * After an escalation the assignee is the escalation contact, so the first reviewer can no
 * longer decide alone.
 */
import { z } from 'zod';
import { departmentIdSchema } from './roles.ts';
import { defaultReviewPolicy, reviewDecisions, reviewersGroup, reviewOutcomes } from './review-terms.ts';

export * from './review-terms.ts';

const hours = z.number().positive().max(24 * 365);

export const reviewEscalationPolicySchema = z
  .object({
    notifyAfterHours: hours.default(defaultReviewPolicy.notifyAfterHours).describe('Remind the assignee and the escalation contact after this long'),
    escalateAfterHours: hours.default(defaultReviewPolicy.escalateAfterHours).describe('Hand the review to the escalation contact after this long'),
    deadlineHours: hours.default(defaultReviewPolicy.deadlineHours).describe('End the review with outcome `expired` after this long'),
  })
  .strict()
  .refine((p) => p.notifyAfterHours < p.escalateAfterHours && p.escalateAfterHours < p.deadlineHours, {
    message: 'must satisfy notifyAfterHours < escalateAfterHours < deadlineHours',
  })
  .meta({ id: 'ReviewEscalationPolicy' });
export type ReviewEscalationPolicy = z.infer<typeof reviewEscalationPolicySchema>;

export const artifactVersionSchema = z.string().min(1).max(200);

export const reviewRequestInputSchema = z
  .object({
    department: departmentIdSchema,
    reviewType: z.string().min(1).max(100).describe('e.g. `kb-regression`, `model-promotion`, `discharge-summary`'),
    title: z.string().min(1).max(500),
    artifact: z
      .object({
        uri: z.string().min(1).max(2000),
        version: artifactVersionSchema.describe('A decision must name this version'),
        summary: z.string().max(10_000).optional(),
      })
      .strict(),
    assignee: z.string().min(1).max(200).describe(`A reviewer key name, or \`${reviewersGroup}\` for any reviewer of the department`),
    escalationContact: z.string().min(1).max(200).describe('Key name notified at the first reminder and assignee after escalation'),
    policy: reviewEscalationPolicySchema.prefault({}),
  })
  .strict()
  .meta({ id: 'ReviewRequestInput' });
export type ReviewRequestInput = z.infer<typeof reviewRequestInputSchema>;

export const reviewEscalationSchema = z
  .object({
    level: z.number().int().positive(),
    from: z.string(),
    to: z.string(),
    at: z.iso.datetime(),
  })
  .meta({ id: 'ReviewEscalation' });
export type ReviewEscalation = z.infer<typeof reviewEscalationSchema>;

export const reviewResultSchema = z
  .object({
    outcome: z.enum(reviewOutcomes),
    /** Key name of the reviewer; null when the review expired. */
    decidedBy: z.string().nullable(),
    decidedAt: z.iso.datetime(),
    artifactVersion: z.string(),
    comment: z.string().nullable(),
    escalations: z.array(reviewEscalationSchema),
  })
  .meta({ id: 'ReviewResult' });
export type ReviewResult = z.infer<typeof reviewResultSchema>;

/**
 * Free text that is not blank. A pattern rather than trim-then-min, so the OpenAPI document says
 * what is enforced (a body of spaces is refused by both); the accepted text is then trimmed.
 */
const reviewText = z.string().min(1).max(10_000).regex(/\S/, 'must not be blank').trim();

const decisionVersion = artifactVersionSchema.describe('The artifact version the reviewer looked at');
const otherDecisions = reviewDecisions.filter((d): d is Exclude<(typeof reviewDecisions)[number], 'reject'> => d !== 'reject');

/**
 * Body of `POST /v1/reviews/{id}/decision`; the reviewer comes from the API key. A union on
 * `decision` (not a refinement) so the document states that rejecting needs a comment.
 */
export const reviewDecisionBodySchema = z
  .discriminatedUnion('decision', [
    z.object({ decision: z.literal('reject'), artifactVersion: decisionVersion, comment: reviewText.describe('Required when rejecting') }).strict(),
    z.object({ decision: z.enum(otherDecisions), artifactVersion: decisionVersion, comment: reviewText.optional() }).strict(),
  ])
  .meta({ id: 'ReviewDecisionBody' });
export type ReviewDecisionBody = z.infer<typeof reviewDecisionBodySchema>;

export const reviewReassignBodySchema = z
  .object({ assignee: z.string().min(1).max(200), reason: z.string().max(2000).optional() })
  .strict()
  .meta({ id: 'ReviewReassignBody' });
export type ReviewReassignBody = z.infer<typeof reviewReassignBodySchema>;

export const reviewCommentBodySchema = z
  .object({ text: reviewText })
  .strict()
  .meta({ id: 'ReviewCommentBody' });
export type ReviewCommentBody = z.infer<typeof reviewCommentBodySchema>;

export const reviewTaskSchema = z
  .object({
    id: z.string(),
    department: z.string(),
    reviewType: z.string(),
    title: z.string(),
    artifactUri: z.string(),
    artifactVersion: z.string(),
    assignee: z.string(),
    escalationContact: z.string(),
    dueAt: z.string(),
    status: z.enum(['pending', ...reviewOutcomes]),
    escalationLevel: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    closedAt: z.string().nullable(),
  })
  .meta({ id: 'ReviewTask' });
