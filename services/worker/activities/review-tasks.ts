/**
 * The review-tasks family: where a review task lives. The review workflow only talks to a
 * `ReviewTaskSystem`; the built-in one is the inbox table in the store, and an external task list
 * (an EHR's, say) implements the same three calls — then the task lives there and tandem only
 * waits for the decision. Every call is idempotent by review id while the task is open, so
 * activity retries are safe.
 */
import { inboxTaskRefPrefix } from '../../../shared/contracts/review-terms.ts';
import type { NewReviewTask, ReviewInbox, ReviewTask, ReviewTaskStatus } from '../../../shared/store/review-inbox.ts';

/** What the workflow asks for; the same fields as an inbox row, whatever the task system. */
export type ReviewTaskSpec = Omit<NewReviewTask, 'id'> & { reviewId: string };

export type ClosedReviewStatus = Exclude<ReviewTaskStatus, 'pending'>;

export interface ReviewTaskSystem {
  /**
   * Creates the task and returns the task system's reference to it: a no-op while a task of this
   * review id is open; a closed one (a previous run's, under the same workflow id) is reopened.
   * Only the built-in inbox's references start with `inboxTaskRefPrefix`: the workflow closes
   * those as a local activity, inside the workflow task that takes the decision.
   */
  createTask(spec: ReviewTaskSpec): Promise<{ taskRef: string }>;
  reassign(reviewId: string, assignee: string, escalationLevel?: number): Promise<void>;
  closeTask(reviewId: string, status: ClosedReviewStatus): Promise<void>;
}

/** The built-in task system: the reviewer inbox table that `GET /v1/reviews` reads. */
export function inboxTaskSystem(inbox: ReviewInbox): ReviewTaskSystem {
  return {
    async createTask(spec) {
      const { reviewId, ...rest } = spec;
      const task: ReviewTask = await inbox.create({ id: reviewId, ...rest });
      return { taskRef: `${inboxTaskRefPrefix}${task.id}` };
    },
    async reassign(reviewId, assignee, escalationLevel) {
      await inbox.reassign(reviewId, assignee, escalationLevel);
    },
    async closeTask(reviewId, status) {
      await inbox.close(reviewId, status);
    },
  };
}

export function createReviewTaskActivities(tasks: ReviewTaskSystem) {
  return {
    createReviewTask: (spec: ReviewTaskSpec) => tasks.createTask(spec),
    reassignReviewTask: ({ reviewId, assignee, escalationLevel }: { reviewId: string; assignee: string; escalationLevel?: number }) =>
      tasks.reassign(reviewId, assignee, escalationLevel),
    closeReviewTask: ({ reviewId, status }: { reviewId: string; status: ClosedReviewStatus }) => tasks.closeTask(reviewId, status),
  };
}
export type ReviewTaskActivities = ReturnType<typeof createReviewTaskActivities>;
