/** Applied pipelines in PostgreSQL (see ../pipelines.ts). */
import type pg from 'pg';
import { toPipeline, type PipelineRecord, type PipelineRegistry, type PipelineRow, type PipelineWrite } from '../pipelines.ts';

export class PostgresPipelineRegistry implements PipelineRegistry {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async save(pipeline: PipelineWrite): Promise<PipelineRecord> {
    const at = this.#now().toISOString();
    const { rows } = await this.#pool.query<PipelineRow>(
      `INSERT INTO pipelines (id, department, spec, spec_hash, dag_id, file_name, status, deployed_at, last_error, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
       ON CONFLICT (id) DO UPDATE SET
         department = excluded.department, spec = excluded.spec, spec_hash = excluded.spec_hash,
         dag_id = excluded.dag_id, file_name = excluded.file_name, status = excluded.status,
         deployed_at = excluded.deployed_at, last_error = excluded.last_error, updated_at = excluded.updated_at
       RETURNING *`,
      [
        pipeline.id,
        pipeline.department,
        JSON.stringify(pipeline.spec),
        pipeline.specHash,
        pipeline.dagId,
        pipeline.fileName,
        pipeline.status,
        pipeline.deployedAt,
        pipeline.lastError,
        at,
      ],
    );
    return toPipeline(rows[0]!);
  }

  async get(id: string): Promise<PipelineRecord | undefined> {
    const { rows } = await this.#pool.query<PipelineRow>('SELECT * FROM pipelines WHERE id = $1', [id]);
    return rows[0] && toPipeline(rows[0]);
  }

  async list(filter: { department?: string; includeDeleted?: boolean; afterId?: string; limit?: number } = {}): Promise<PipelineRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    if (filter.afterId !== undefined) where.push(`id > ${param(filter.afterId)}`);
    if (filter.department !== undefined) where.push(`department = ${param(filter.department)}`);
    if (!filter.includeDeleted) where.push(`status <> 'deleted'`);
    // LIMIT NULL is no limit.
    const limit = param(filter.limit ?? null);
    const { rows } = await this.#pool.query<PipelineRow>(
      `SELECT * FROM pipelines ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ${limit}`,
      params,
    );
    return rows.map(toPipeline);
  }

  async update(id: string, patch: Partial<Pick<PipelineRecord, 'status' | 'lastError' | 'deployedAt'>>): Promise<PipelineRecord | undefined> {
    // One statement: a field left out of the patch keeps its stored value (a flag per field, since null is a value).
    const { rows } = await this.#pool.query<PipelineRow>(
      `UPDATE pipelines SET
         status = COALESCE($2::text, status),
         last_error = CASE WHEN $3::boolean THEN $4::text ELSE last_error END,
         deployed_at = CASE WHEN $5::boolean THEN $6::text ELSE deployed_at END,
         updated_at = $7
       WHERE id = $1 RETURNING *`,
      [id, patch.status ?? null, patch.lastError !== undefined, patch.lastError ?? null, patch.deployedAt !== undefined, patch.deployedAt ?? null, this.#now().toISOString()],
    );
    return rows[0] && toPipeline(rows[0]);
  }
}
