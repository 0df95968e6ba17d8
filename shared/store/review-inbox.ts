/**
 * The built-in reviewer inbox: one row per review task, so reviewers can list what waits for them
 * without asking Temporal. The review workflow owns the task (it creates, reassigns and closes it
 * through the `review-tasks` activities); the API only reads it. Pure: types only.
 */

export const reviewTaskStatuses = ['pending', 'approved', 'rejected', 'changes-requested', 'expired'] as const;
export type ReviewTaskStatus = (typeof reviewTaskStatuses)[number];

export interface NewReviewTask {
  /** The review id; the review workflow's id. */
  id: string;
  department: string;
  reviewType: string;
  title: string;
  artifactUri: string;
  artifactVersion: string;
  assignee: string;
  escalationContact: string;
  /** ISO 8601: when the review expires if nobody decides. */
  dueAt: string;
}

export interface ReviewTask extends NewReviewTask {
  status: ReviewTaskStatus;
  /** 0 until the first escalation, then 1, … */
  escalationLevel: number;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
}

export interface ReviewTaskFilter {
  /** Only this department's tasks (omit for every department). */
  department?: string;
  /** Tasks assigned to any of these names (a key name, or a group such as `group:reviewers`). */
  assignees?: string[];
  status?: ReviewTaskStatus;
  limit?: number;
  /** Page after this task: its `createdAt` and `id` (the list's order). */
  after?: { createdAt: string; id: string };
}

/** Pending reviews of one department, counted by the store (for /metrics). */
export interface PendingReviewCount {
  department: string;
  pending: number;
  /** Of those, escalated at least once. */
  escalated: number;
}

export interface ReviewInbox {
  /**
   * Idempotent by id while the task is pending: a second create returns it unchanged. A closed
   * task is reopened as a new pending one with the new fields (a fresh workflow run under the same
   * review id; the previous decision stays in the audit log).
   */
  create(task: NewReviewTask): Promise<ReviewTask>;
  get(id: string): Promise<ReviewTask | undefined>;
  list(filter?: ReviewTaskFilter): Promise<ReviewTask[]>;
  /** Pending and escalated reviews per department with any pending, without reading the tasks. */
  pendingCounts(): Promise<PendingReviewCount[]>;
  /** Sets the assignee (and the escalation level when given); a closed task is left as it is. */
  reassign(id: string, assignee: string, escalationLevel?: number): Promise<ReviewTask | undefined>;
  /** Idempotent: closing a closed task keeps its first outcome. */
  close(id: string, status: Exclude<ReviewTaskStatus, 'pending'>): Promise<ReviewTask | undefined>;
}
