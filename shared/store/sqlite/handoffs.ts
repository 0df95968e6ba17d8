import type { DatabaseSync } from 'node:sqlite';
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

export class SqliteHandoffs implements HandoffStore {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  async get(handoffId: string): Promise<HandoffRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM handoffs WHERE handoff_id = ?').get(handoffId) as HandoffRow | undefined;
    return row && toRecord(row);
  }

  async recordRun(run: NewHandoffRun): Promise<HandoffRecord> {
    const at = this.#now().toISOString();
    const { airflow } = run;
    // created_at stays the first start's; everything about the run is replaced.
    this.#db
      .prepare(
        `INSERT INTO handoffs (handoff_id, workflow_type, department, pipeline_id, partition, dag_id, dag_run_id, task_id,
           map_index, try_number, run_id, sealed_input, started_by, status, reason, created_at, updated_at, closed_at, region)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', NULL, ?, ?, NULL, ?)
         ON CONFLICT (handoff_id) DO UPDATE SET
           workflow_type = excluded.workflow_type, department = excluded.department, pipeline_id = excluded.pipeline_id,
           partition = excluded.partition, try_number = excluded.try_number, run_id = excluded.run_id,
           sealed_input = excluded.sealed_input, started_by = excluded.started_by, status = 'running', reason = NULL, region = excluded.region,
           updated_at = excluded.updated_at, closed_at = NULL`,
      )
      .run(
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
        at,
        run.region,
      );
    return (await this.get(run.handoffId))!;
  }

  async recordTry(handoffId: string, tryNumber: number): Promise<void> {
    this.#db
      .prepare('UPDATE handoffs SET try_number = ?, updated_at = ? WHERE handoff_id = ? AND try_number < ?')
      .run(tryNumber, this.#now().toISOString(), handoffId, tryNumber);
  }

  async markClosed(handoffId: string, runId: string, status: Exclude<HandoffRecordStatus, 'running'>, reason: string | null): Promise<boolean> {
    const at = this.#now().toISOString();
    const result = this.#db
      .prepare(
        `UPDATE handoffs SET status = ?, reason = ?, closed_at = ?, updated_at = ?
         WHERE handoff_id = ? AND run_id = ? AND status = 'running'`,
      )
      .run(status, reason, at, at, handoffId, runId);
    return Number(result.changes) > 0;
  }

  async listRunning(limit = 1000): Promise<HandoffRecord[]> {
    const rows = this.#db
      .prepare("SELECT * FROM handoffs WHERE status = 'running' ORDER BY created_at, handoff_id LIMIT ?")
      .all(limit) as unknown as HandoffRow[];
    return rows.map(toRecord);
  }
}
