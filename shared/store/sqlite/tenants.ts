/** Tenants in SQLite (see ../tenants.ts). */
import type { DatabaseSync } from 'node:sqlite';
import type { ClusterApplyStatus, TenantSpec } from '../../contracts/tenants.ts';
import { NamespaceTakenError, type TenantRecord, type TenantStore } from '../tenants.ts';

interface TenantRow {
  department: string;
  namespace: string;
  spec: string;
  created_at: string;
  updated_at: string;
  updated_by: string;
  cluster_state: string;
  cluster_at: string | null;
  cluster_message: string | null;
}

function recordOf(r: TenantRow): TenantRecord {
  return {
    department: r.department,
    namespace: r.namespace,
    // Written only by put() from a parsed spec.
    spec: JSON.parse(r.spec) as TenantSpec,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    updatedBy: r.updated_by,
    cluster: { state: r.cluster_state as ClusterApplyStatus['state'], at: r.cluster_at, message: r.cluster_message },
  };
}

export class SqliteTenants implements TenantStore {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  async put(t: { department: string; namespace: string; spec: TenantSpec; updatedBy: string; cluster: ClusterApplyStatus }): Promise<{ record: TenantRecord; created: boolean }> {
    const now = this.#now().toISOString();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const owner = this.#db.prepare('SELECT department FROM tenants WHERE namespace = ? AND department <> ?').get(t.namespace, t.department) as
        | { department: string }
        | undefined;
      if (owner) throw new NamespaceTakenError(t.namespace, owner.department);
      const existed = this.#db.prepare('SELECT 1 FROM tenants WHERE department = ?').get(t.department) !== undefined;
      const values = [t.namespace, JSON.stringify(t.spec), now, t.updatedBy, t.cluster.state, t.cluster.at, t.cluster.message] as const;
      if (existed) {
        this.#db
          .prepare(
            `UPDATE tenants SET namespace = ?, spec = ?, updated_at = ?, updated_by = ?, cluster_state = ?, cluster_at = ?, cluster_message = ?
             WHERE department = ?`,
          )
          .run(...values, t.department);
      } else {
        this.#db
          .prepare(
            `INSERT INTO tenants (namespace, spec, updated_at, updated_by, cluster_state, cluster_at, cluster_message, department, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(...values, t.department, now);
      }
      this.#db.exec('COMMIT');
      return { record: (await this.get(t.department))!, created: !existed };
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async get(department: string): Promise<TenantRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM tenants WHERE department = ?').get(department) as TenantRow | undefined;
    return row ? recordOf(row) : undefined;
  }

  async list(q: { department?: string; after?: string; limit: number }): Promise<TenantRecord[]> {
    const rows = this.#db
      .prepare(
        `SELECT * FROM tenants
         WHERE (:department IS NULL OR department = :department) AND (:after IS NULL OR department > :after)
         ORDER BY department LIMIT :limit`,
      )
      .all({ department: q.department ?? null, after: q.after ?? null, limit: q.limit }) as unknown as TenantRow[];
    return rows.map(recordOf);
  }

  async setClusterStatus(department: string, cluster: ClusterApplyStatus): Promise<void> {
    this.#db
      .prepare('UPDATE tenants SET cluster_state = ?, cluster_at = ?, cluster_message = ? WHERE department = ?')
      .run(cluster.state, cluster.at, cluster.message, department);
  }

  async delete(department: string): Promise<boolean> {
    return Number(this.#db.prepare('DELETE FROM tenants WHERE department = ?').run(department).changes) === 1;
  }
}
