/** Index aliases in PostgreSQL (see ../index-aliases.ts). */
import type pg from 'pg';
import type { IndexAlias, IndexAliasStore, IndexAliasSwitch, VersionMetrics } from '../index-aliases.ts';
import { inTransaction, rowLockSpaces, type Queryable } from './sql.ts';

interface AliasRow {
  alias: string;
  version: string;
  updated_at: string;
}

interface SwitchRow {
  alias: string;
  version: string | null;
  previous_version: string | null;
  reason: string;
  actor: string;
  at: string;
}

async function aliasIn(db: Queryable, alias: string): Promise<IndexAlias | undefined> {
  const { rows } = await db.query<AliasRow>('SELECT alias, version, updated_at FROM index_aliases WHERE alias = $1', [alias]);
  const row = rows[0];
  return row && { alias: row.alias, version: row.version, updatedAt: row.updated_at };
}

export class PostgresIndexAliases implements IndexAliasStore {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  get(alias: string): Promise<IndexAlias | undefined> {
    return aliasIn(this.#pool, alias);
  }

  async switchTo(alias: string, version: string | null, by: { reason: string; actor: string }): Promise<IndexAlias | undefined> {
    const at = this.#now().toISOString();
    // One transaction, locked on the alias (whose row may not exist yet): the alias and its
    // history never disagree, and two promotions of one alias cannot both read the old version.
    return inTransaction(this.#pool, async (db) => {
      await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [rowLockSpaces.indexAlias, alias]);
      const current = (await aliasIn(db, alias))?.version ?? null;
      if (current !== version) {
        if (version === null) await db.query('DELETE FROM index_aliases WHERE alias = $1', [alias]);
        else
          await db.query(
            'INSERT INTO index_aliases (alias, version, updated_at) VALUES ($1, $2, $3) ON CONFLICT (alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at',
            [alias, version, at],
          );
        await db.query('INSERT INTO index_alias_history (alias, version, previous_version, reason, actor, at) VALUES ($1, $2, $3, $4, $5, $6)', [
          alias,
          version,
          current,
          by.reason,
          by.actor,
          at,
        ]);
      }
      return aliasIn(db, alias);
    });
  }

  async history(alias: string): Promise<IndexAliasSwitch[]> {
    const { rows } = await this.#pool.query<SwitchRow>(
      'SELECT alias, version, previous_version, reason, actor, at FROM index_alias_history WHERE alias = $1 ORDER BY seq',
      [alias],
    );
    return rows.map((r) => ({ alias: r.alias, version: r.version, previousVersion: r.previous_version, reason: r.reason, actor: r.actor, at: r.at }));
  }

  async recordMetrics(alias: string, version: string, metrics: VersionMetrics): Promise<void> {
    await this.#pool.query(
      'INSERT INTO index_version_metrics (alias, version, metrics, recorded_at) VALUES ($1, $2, $3, $4) ON CONFLICT (alias, version) DO UPDATE SET metrics = excluded.metrics, recorded_at = excluded.recorded_at',
      [alias, version, JSON.stringify(metrics), this.#now().toISOString()],
    );
  }

  async metricsOf(alias: string, version: string): Promise<VersionMetrics | undefined> {
    const { rows } = await this.#pool.query<{ metrics: string }>('SELECT metrics FROM index_version_metrics WHERE alias = $1 AND version = $2', [alias, version]);
    return rows[0] && (JSON.parse(rows[0].metrics) as VersionMetrics);
  }
}
