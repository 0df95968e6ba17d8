/**
 * The one path a review decision takes, for `POST /v1/reviews/{id}/decision` and the web console
 * alike: the `decide` Temporal Update, whose validator says at once whether the caller may decide.
 * A refused decision changes nothing and is audited as `decision-rejected` with the caller's
 * identity (from its API key, never from a body or form field).
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { FastifyBaseLogger } from 'fastify';
import type { Principal } from '../../shared/contracts/principal.ts';
import type { ReviewDecisionBody } from '../../shared/contracts/reviews.ts';
import { scopeIncludes } from '../../shared/contracts/roles.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError, type TandemError } from '../../shared/errors.ts';
import { auditActorOf, type AuditLog } from '../../shared/store/audit-log.ts';
import type { ReviewTask } from '../../shared/store/review-inbox.ts';
import type { RegionalTemporal } from '../flows/regional-temporal.ts';
import { decideUpdate, reviewRejections, type ReviewStatus } from '../../workflows/review/messages.ts';

/** Maps a refused review update to the error the caller is answered with; undefined for other failures. */
export function reviewUpdateRefusal(err: unknown): TandemError | undefined {
  if (err instanceof WorkflowNotFoundError) return new ConflictError('the review already has an outcome');
  if (!(err instanceof WorkflowUpdateFailedError) || !(err.cause instanceof ApplicationFailure)) return undefined;
  const { type, message } = err.cause;
  switch (type) {
    case reviewRejections.forbidden:
      return new ForbiddenError(message);
    case reviewRejections.finished:
    case reviewRejections.staleVersion:
      return new ConflictError(message);
    case reviewRejections.invalid:
      return new ValidationError(message);
    default:
      return undefined;
  }
}

export interface ReviewDecisionDeps {
  /** The review runs in its department's region. */
  regions: Pick<RegionalTemporal, 'forDepartment'>;
  audit: AuditLog;
  log: FastifyBaseLogger;
}

/** Decides `task` as `principal`; throws the refusal (403/404/409/422) after auditing it. */
export async function decideReview(
  deps: ReviewDecisionDeps,
  principal: Principal,
  task: ReviewTask,
  body: ReviewDecisionBody,
): Promise<ReviewStatus> {
  const reject = async (error: TandemError) => {
    await deps.audit.append({
      actor: auditActorOf(principal),
      department: task.department,
      subject: `review:${task.id}`,
      event: 'decision-rejected',
      workflowId: task.id,
      artifactVersion: task.artifactVersion,
      details: { status: error.status, reason: error.message, decision: body.decision, artifactVersion: body.artifactVersion },
    });
    deps.log.info({ reviewId: task.id, status: error.status }, 'review decision refused');
    return error;
  };
  // Another department's review answers as if it did not exist (ids are not a side channel),
  // and the attempt is audited like any refused decision.
  if (!scopeIncludes(principal.department, task.department)) throw await reject(new NotFoundError(`review ${task.id} not found`));
  if (task.status !== 'pending') {
    throw await reject(new ConflictError(`review ${task.id} already has the outcome ${task.status}`));
  }
  const { client } = await deps.regions.forDepartment(task.department);
  let review: ReviewStatus;
  try {
    review = await client.workflow.getHandle(task.id).executeUpdate(decideUpdate, { args: [{ ...body, principal }] });
  } catch (err) {
    const mapped = reviewUpdateRefusal(err);
    if (!mapped) throw err;
    throw await reject(mapped);
  }
  deps.log.info({ reviewId: task.id, decision: body.decision }, 'review decision accepted');
  return review;
}
