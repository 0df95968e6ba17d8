/** The built-in reviewer inbox in SQLite (see ../review-inbox.ts). */
import type { DatabaseSync } from 'node:sqlite';
import type { NewReviewTask, PendingReviewCount, ReviewInbox, ReviewTask, ReviewTaskFilter, ReviewTaskStatus } from '../review-inbox.ts';

interface ReviewTaskRow {
  id: string;
  department: string;
  review_type: string;
  title: string;
  artifact_uri: string;
  artifact_version: string;
  assignee: string;
  escalation_contact: string;
  due_at: string;
  status: string;
  escalation_level: number;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
}

function toTask(row: ReviewTaskRow): ReviewTask {
  return {
    id: row.id,
    department: row.department,
    reviewType: row.review_type,
    title: row.title,
    artifactUri: row.artifact_uri,
    artifactVersion: row.artifact_version,
    assignee: row.assignee,
    escalationContact: row.escalation_contact,
    dueAt: row.due_at,
    // Written only by this class from typed input.
    status: row.status as ReviewTaskStatus,
    escalationLevel: Number(row.escalation_level),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    closedAt: row.closed_at,
  };
}

export class SqliteReviewInbox implements ReviewInbox {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  async create(task: NewReviewTask): Promise<ReviewTask> {
    const at = this.#now().toISOString();
    // A pending task with this id is the same run's (a retried activity): left as it is. A closed
    // one is a previous run's, and a fresh run under the same workflow id reopens it as a new task.
    this.#db
      .prepare(
        `INSERT INTO review_tasks (id, department, review_type, title, artifact_uri, artifact_version, assignee,
           escalation_contact, due_at, status, escalation_level, created_at, updated_at)
         VALUES (:id, :department, :reviewType, :title, :artifactUri, :artifactVersion, :assignee,
           :escalationContact, :dueAt, 'pending', 0, :at, :at)
         ON CONFLICT (id) DO UPDATE SET
           department = excluded.department, review_type = excluded.review_type, title = excluded.title,
           artifact_uri = excluded.artifact_uri, artifact_version = excluded.artifact_version,
           assignee = excluded.assignee, escalation_contact = excluded.escalation_contact, due_at = excluded.due_at,
           status = 'pending', escalation_level = 0, created_at = excluded.created_at,
           updated_at = excluded.updated_at, closed_at = NULL
         WHERE review_tasks.status <> 'pending'`,
      )
      .run({ ...task, at });
    return (await this.get(task.id))!;
  }

  async get(id: string): Promise<ReviewTask | undefined> {
    const row = this.#db.prepare('SELECT * FROM review_tasks WHERE id = ?').get(id);
    return row ? toTask(row as unknown as ReviewTaskRow) : undefined;
  }

  async list(filter: ReviewTaskFilter = {}): Promise<ReviewTask[]> {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: filter.limit ?? 200 };
    if (filter.department !== undefined) {
      where.push('department = :department');
      params.department = filter.department;
    }
    if (filter.status !== undefined) {
      where.push('status = :status');
      params.status = filter.status;
    }
    if (filter.after !== undefined) {
      where.push('(created_at, id) > (:afterCreatedAt, :afterId)');
      params.afterCreatedAt = filter.after.createdAt;
      params.afterId = filter.after.id;
    }
    if (filter.assignees !== undefined) {
      // json_each keeps the statement fixed whatever the number of names.
      where.push('assignee IN (SELECT value FROM json_each(:assignees))');
      params.assignees = JSON.stringify(filter.assignees);
    }
    const rows = this.#db
      .prepare(`SELECT * FROM review_tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT :limit`)
      .all(params);
    return rows.map((row) => toTask(row as unknown as ReviewTaskRow));
  }

  async pendingCounts(): Promise<PendingReviewCount[]> {
    const rows = this.#db
      .prepare(
        `SELECT department, COUNT(*) AS pending, SUM(escalation_level > 0) AS escalated
         FROM review_tasks WHERE status = 'pending' GROUP BY department ORDER BY department`,
      )
      .all() as { department: string; pending: number; escalated: number }[];
    return rows.map((r) => ({ department: r.department, pending: Number(r.pending), escalated: Number(r.escalated) }));
  }

  async reassign(id: string, assignee: string, escalationLevel?: number): Promise<ReviewTask | undefined> {
    this.#db
      .prepare(
        `UPDATE review_tasks SET assignee = :assignee, escalation_level = COALESCE(:level, escalation_level), updated_at = :at
         WHERE id = :id AND status = 'pending'`,
      )
      .run({ id, assignee, level: escalationLevel ?? null, at: this.#now().toISOString() });
    return this.get(id);
  }

  async close(id: string, status: Exclude<ReviewTaskStatus, 'pending'>): Promise<ReviewTask | undefined> {
    const at = this.#now().toISOString();
    this.#db
      .prepare(`UPDATE review_tasks SET status = :status, closed_at = :at, updated_at = :at WHERE id = :id AND status = 'pending'`)
      .run({ id, status, at });
    return this.get(id);
  }
}
