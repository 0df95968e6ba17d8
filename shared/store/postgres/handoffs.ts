/** Airflow → Temporal hand-offs in PostgreSQL (see ../handoffs.ts). */
import type pg from 'pg';
import type { HandoffRecord, HandoffRecordStatus, HandoffStore, NewHandoffRun } from '../handoffs.ts';

interface HandoffRow {
  handoff_id: string;
  workflow_type: string;
  department: string;
  region: string;
  pipeline_id: string | null;
  partition: string | null;
  dag_id: string;
  dag_run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  run_id: string;
  sealed_input: string;
  started_by: string;
  status: string;
  reason: string | null;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
}

function toRecord(row: HandoffRow): HandoffRecord {
  return {
    handoffId: row.handoff_id,
    workflowType: row.workflow_type,
    department: row.department,
    region: row.region,
    pipelineId: row.pipeline_id,
    partition: row.partition,
    airflow: { dagId: row.dag_id, runId: row.dag_run_id, taskId: row.task_id, mapIndex: row.map_index, tryNumber: row.try_number },
    runId: row.run_id,
    sealedInput: row.sealed_input,
    startedBy: row.started_by,
    // Written only by this class from the typed union.
    status: row.status as HandoffRecordStatus,
    reason: row.reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    closedAt: row.closed_at,
  };
}

export class PostgresHandoffs implements HandoffStore {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async get(handoffId: string): Promise<HandoffRecord | undefined> {
    const { rows } = await this.#pool.query<HandoffRow>('SELECT * FROM handoffs WHERE handoff_id = $1', [handoffId]);
    return rows[0] && toRecord(rows[0]);
  }

  async recordRun(run: NewHandoffRun): Promise<HandoffRecord> {
    const at = this.#now().toISOString();
    const { airflow } = run;
    // created_at stays the first start's; everything about the run is replaced.
    const { rows } = await this.#pool.query<HandoffRow>(
      `INSERT INTO handoffs (handoff_id, workflow_type, department, pipeline_id, partition, dag_id, dag_run_id, task_id,
         map_index, try_number, run_id, sealed_input, started_by, status, reason, created_at, updated_at, closed_at, region)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'running', NULL, $14, $14, NULL, $15)
       ON CONFLICT (handoff_id) DO UPDATE SET
         workflow_type = excluded.workflow_type, department = excluded.department, pipeline_id = excluded.pipeline_id,
         partition = excluded.partition, try_number = excluded.try_number, run_id = excluded.run_id,
         sealed_input = excluded.sealed_input, started_by = excluded.started_by, status = 'running', reason = NULL, region = excluded.region,
         updated_at = excluded.updated_at, closed_at = NULL
       RETURNING *`,
      [
        run.handoffId,
        run.workflowType,
        run.department,
        run.pipelineId,
        run.partition,
        airflow.dagId,
        airflow.runId,
        airflow.taskId,
        airflow.mapIndex,
        airflow.tryNumber,
        run.runId,
        run.sealedInput,
        run.startedBy,
        at,
        run.region,
      ],
    );
    return toRecord(rows[0]!);
  }

  async recordTry(handoffId: string, tryNumber: number): Promise<void> {
    await this.#pool.query('UPDATE handoffs SET try_number = $2, updated_at = $3 WHERE handoff_id = $1 AND try_number < $2', [
      handoffId,
      tryNumber,
      this.#now().toISOString(),
    ]);
  }

  async markClosed(handoffId: string, runId: string, status: Exclude<HandoffRecordStatus, 'running'>, reason: string | null): Promise<boolean> {
    const at = this.#now().toISOString();
    const result = await this.#pool.query(
      `UPDATE handoffs SET status = $3, reason = $4, closed_at = $5, updated_at = $5
       WHERE handoff_id = $1 AND run_id = $2 AND status = 'running'`,
      [handoffId, runId, status, reason, at],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async listRunning(limit = 1000): Promise<HandoffRecord[]> {
    const { rows } = await this.#pool.query<HandoffRow>("SELECT * FROM handoffs WHERE status = 'running' ORDER BY created_at, handoff_id LIMIT $1", [limit]);
    return rows.map(toRecord);
  }
}
