/** Tenants in PostgreSQL (see ../tenants.ts). */
import type pg from 'pg';
import type { ClusterApplyStatus, TenantSpec } from '../../contracts/tenants.ts';
import { NamespaceTakenError, tenantFromRow, type TenantRecord, type TenantRow, type TenantStore } from '../tenants.ts';
import { inTransaction, sqlState, uniqueViolation } from './sql.ts';

export class PostgresTenants implements TenantStore {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async put(t: { department: string; namespace: string; spec: TenantSpec; updatedBy: string; cluster: ClusterApplyStatus }): Promise<{ record: TenantRecord; created: boolean }> {
    const now = this.#now().toISOString();
    try {
      return await inTransaction(this.#pool, async (client) => {
        const owner = await client.query<{ department: string }>('SELECT department FROM tenants WHERE namespace = $1 AND department <> $2', [t.namespace, t.department]);
        if (owner.rows[0]) throw new NamespaceTakenError(t.namespace, owner.rows[0].department);
        // xmax = 0 tells an inserted row from an updated one in the same statement.
        const { rows } = await client.query<TenantRow & { inserted: boolean }>(
          `INSERT INTO tenants (department, namespace, spec, created_at, updated_at, updated_by, cluster_state, cluster_at, cluster_message)
           VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)
           ON CONFLICT (department) DO UPDATE SET namespace = EXCLUDED.namespace, spec = EXCLUDED.spec, updated_at = EXCLUDED.updated_at,
             updated_by = EXCLUDED.updated_by, cluster_state = EXCLUDED.cluster_state, cluster_at = EXCLUDED.cluster_at, cluster_message = EXCLUDED.cluster_message
           RETURNING *, (xmax = 0) AS inserted`,
          [t.department, t.namespace, JSON.stringify(t.spec), now, t.updatedBy, t.cluster.state, t.cluster.at, t.cluster.message],
        );
        return { record: tenantFromRow(rows[0]!), created: rows[0]!.inserted };
      });
    } catch (err) {
      // Two departments claiming one namespace at the same moment: the UNIQUE constraint decides.
      if (sqlState(err) === uniqueViolation) {
        const owner = await this.#pool.query<{ department: string }>('SELECT department FROM tenants WHERE namespace = $1', [t.namespace]);
        throw new NamespaceTakenError(t.namespace, owner.rows[0]?.department ?? 'another department');
      }
      throw err;
    }
  }

  async get(department: string): Promise<TenantRecord | undefined> {
    const { rows } = await this.#pool.query<TenantRow>('SELECT * FROM tenants WHERE department = $1', [department]);
    return rows[0] ? tenantFromRow(rows[0]) : undefined;
  }

  async list(q: { department?: string; after?: string; limit: number }): Promise<TenantRecord[]> {
    const { rows } = await this.#pool.query<TenantRow>(
      `SELECT * FROM tenants
       WHERE ($1::text IS NULL OR department = $1) AND ($2::text IS NULL OR department > $2)
       ORDER BY department LIMIT $3`,
      [q.department ?? null, q.after ?? null, q.limit],
    );
    return rows.map(tenantFromRow);
  }

  async setClusterStatus(department: string, cluster: ClusterApplyStatus): Promise<void> {
    await this.#pool.query('UPDATE tenants SET cluster_state = $2, cluster_at = $3, cluster_message = $4 WHERE department = $1', [
      department,
      cluster.state,
      cluster.at,
      cluster.message,
    ]);
  }

  async delete(department: string): Promise<boolean> {
    const result = await this.#pool.query('DELETE FROM tenants WHERE department = $1', [department]);
    return result.rowCount === 1;
  }
}
