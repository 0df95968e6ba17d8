/** Applied pipelines in SQLite (see ../pipelines.ts). */
import type { DatabaseSync } from 'node:sqlite';
import { toPipeline, type PipelineRecord, type PipelineRegistry, type PipelineRow, type PipelineWrite } from '../pipelines.ts';

export class SqlitePipelineRegistry implements PipelineRegistry {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  async save(pipeline: PipelineWrite): Promise<PipelineRecord> {
    const at = this.#now().toISOString();
    this.#db
      .prepare(
        `INSERT INTO pipelines (id, department, spec, spec_hash, dag_id, file_name, status, deployed_at, last_error,
           created_at, updated_at)
         VALUES (:id, :department, :spec, :specHash, :dagId, :fileName, :status, :deployedAt, :lastError, :at, :at)
         ON CONFLICT (id) DO UPDATE SET
           department = excluded.department, spec = excluded.spec, spec_hash = excluded.spec_hash,
           dag_id = excluded.dag_id, file_name = excluded.file_name, status = excluded.status,
           deployed_at = excluded.deployed_at, last_error = excluded.last_error, updated_at = excluded.updated_at`,
      )
      .run({
        id: pipeline.id,
        department: pipeline.department,
        spec: JSON.stringify(pipeline.spec),
        specHash: pipeline.specHash,
        dagId: pipeline.dagId,
        fileName: pipeline.fileName,
        status: pipeline.status,
        deployedAt: pipeline.deployedAt,
        lastError: pipeline.lastError,
        at,
      });
    return (await this.get(pipeline.id))!;
  }

  async get(id: string): Promise<PipelineRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM pipelines WHERE id = ?').get(id);
    return row ? toPipeline(row as unknown as PipelineRow) : undefined;
  }

  async list(filter: { department?: string; includeDeleted?: boolean; afterId?: string; limit?: number } = {}): Promise<PipelineRecord[]> {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: filter.limit ?? -1 };
    if (filter.afterId !== undefined) {
      where.push('id > :afterId');
      params.afterId = filter.afterId;
    }
    if (filter.department !== undefined) {
      where.push('department = :department');
      params.department = filter.department;
    }
    if (!filter.includeDeleted) where.push(`status <> 'deleted'`);
    const sql = `SELECT * FROM pipelines ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT :limit`;
    return (this.#db.prepare(sql).all(params) as unknown as PipelineRow[]).map(toPipeline);
  }

  async update(
    id: string,
    patch: Partial<Pick<PipelineRecord, 'status' | 'lastError' | 'deployedAt'>>,
  ): Promise<PipelineRecord | undefined> {
    const current = await this.get(id);
    if (!current) return undefined;
    this.#db
      .prepare('UPDATE pipelines SET status = ?, last_error = ?, deployed_at = ?, updated_at = ? WHERE id = ?')
      .run(
        patch.status ?? current.status,
        patch.lastError !== undefined ? patch.lastError : current.lastError,
        patch.deployedAt !== undefined ? patch.deployedAt : current.deployedAt,
        this.#now().toISOString(),
        id,
      );
    return this.get(id);
  }
}
