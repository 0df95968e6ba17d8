/** The built-in reviewer inbox in PostgreSQL (see ../review-inbox.ts). */
import type pg from 'pg';
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

export class PostgresReviewInbox implements ReviewInbox {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async create(task: NewReviewTask): Promise<ReviewTask> {
    const at = this.#now().toISOString();
    // As in SQLite: a pending task with this id is left as it is; a closed one is reopened.
    await this.#pool.query(
      `INSERT INTO review_tasks (id, department, review_type, title, artifact_uri, artifact_version, assignee,
         escalation_contact, due_at, status, escalation_level, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10)
       ON CONFLICT (id) DO UPDATE SET
         department = excluded.department, review_type = excluded.review_type, title = excluded.title,
         artifact_uri = excluded.artifact_uri, artifact_version = excluded.artifact_version,
         assignee = excluded.assignee, escalation_contact = excluded.escalation_contact, due_at = excluded.due_at,
         status = 'pending', escalation_level = 0, created_at = excluded.created_at,
         updated_at = excluded.updated_at, closed_at = NULL
       WHERE review_tasks.status <> 'pending'`,
      [task.id, task.department, task.reviewType, task.title, task.artifactUri, task.artifactVersion, task.assignee, task.escalationContact, task.dueAt, at],
    );
    return (await this.get(task.id))!;
  }

  async get(id: string): Promise<ReviewTask | undefined> {
    const { rows } = await this.#pool.query<ReviewTaskRow>('SELECT * FROM review_tasks WHERE id = $1', [id]);
    return rows[0] && toTask(rows[0]);
  }

  async list(filter: ReviewTaskFilter = {}): Promise<ReviewTask[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    if (filter.department !== undefined) where.push(`department = ${param(filter.department)}`);
    if (filter.status !== undefined) where.push(`status = ${param(filter.status)}`);
    if (filter.after !== undefined) where.push(`(created_at, id) > (${param(filter.after.createdAt)}, ${param(filter.after.id)})`);
    // An array parameter keeps the statement fixed whatever the number of names.
    if (filter.assignees !== undefined) where.push(`assignee = ANY(${param(filter.assignees)}::text[])`);
    const limit = param(filter.limit ?? 200);
    const { rows } = await this.#pool.query<ReviewTaskRow>(
      `SELECT * FROM review_tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT ${limit}`,
      params,
    );
    return rows.map(toTask);
  }

  async pendingCounts(): Promise<PendingReviewCount[]> {
    const { rows } = await this.#pool.query<{ department: string; pending: string; escalated: string }>(
      `SELECT department, COUNT(*) AS pending, COUNT(*) FILTER (WHERE escalation_level > 0) AS escalated
       FROM review_tasks WHERE status = 'pending' GROUP BY department ORDER BY department`,
    );
    // COUNT is bigint, which pg hands over as a string.
    return rows.map((r) => ({ department: r.department, pending: Number(r.pending), escalated: Number(r.escalated) }));
  }

  async reassign(id: string, assignee: string, escalationLevel?: number): Promise<ReviewTask | undefined> {
    await this.#pool.query(
      `UPDATE review_tasks SET assignee = $2, escalation_level = COALESCE($3::integer, escalation_level), updated_at = $4
       WHERE id = $1 AND status = 'pending'`,
      [id, assignee, escalationLevel ?? null, this.#now().toISOString()],
    );
    return this.get(id);
  }

  async close(id: string, status: Exclude<ReviewTaskStatus, 'pending'>): Promise<ReviewTask | undefined> {
    const at = this.#now().toISOString();
    await this.#pool.query(`UPDATE review_tasks SET status = $2, closed_at = $3, updated_at = $3 WHERE id = $1 AND status = 'pending'`, [id, status, at]);
    return this.get(id);
  }
}
