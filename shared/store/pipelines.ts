/**
 * Applied pipelines: the spec that is deployed, its hash, the DAG it became and how the last
 * deploy went. A failed redeploy keeps the running version's spec and only records `lastError`,
 * because Airflow keeps running that version. Pure: types only.
 */

export const pipelineStatuses = ['deployed', 'paused', 'deleted', 'failed'] as const;
export type PipelineStatus = (typeof pipelineStatuses)[number];

export interface PipelineRecord {
  id: string;
  department: string;
  spec: unknown;
  specHash: string;
  dagId: string;
  fileName: string;
  status: PipelineStatus;
  deployedAt: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

export type PipelineWrite = Omit<PipelineRecord, 'createdAt' | 'updatedAt'>;

export interface PipelineRegistry {
  /** Insert or replace by id; `createdAt` is kept from the first write. */
  save(pipeline: PipelineWrite): Promise<PipelineRecord>;
  get(id: string): Promise<PipelineRecord | undefined>;
  /**
   * Sorted by id; `department` filters, `includeDeleted` (default false) shows deleted ones too;
   * `afterId` and `limit` page through the list.
   */
  list(filter?: { department?: string; includeDeleted?: boolean; afterId?: string; limit?: number }): Promise<PipelineRecord[]>;
  /** Undefined when there is no such pipeline. */
  update(id: string, patch: Partial<Pick<PipelineRecord, 'status' | 'lastError' | 'deployedAt'>>): Promise<PipelineRecord | undefined>;
}

/** A `pipelines` row as both stores read it. */
export interface PipelineRow {
  id: string;
  department: string;
  spec: string;
  spec_hash: string;
  dag_id: string;
  file_name: string;
  status: string;
  deployed_at: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export function toPipeline(row: PipelineRow): PipelineRecord {
  return {
    id: row.id,
    department: row.department,
    spec: JSON.parse(row.spec) as unknown,
    specHash: row.spec_hash,
    dagId: row.dag_id,
    fileName: row.file_name,
    // Written only by the stores from typed input.
    status: row.status as PipelineStatus,
    deployedAt: row.deployed_at,
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
