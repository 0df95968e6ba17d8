import type { DatabaseSync } from 'node:sqlite';
import type { IndexAlias, IndexAliasStore, IndexAliasSwitch, VersionMetrics } from '../index-aliases.ts';

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

export class SqliteIndexAliases implements IndexAliasStore {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  async get(alias: string): Promise<IndexAlias | undefined> {
    return this.#get(alias);
  }

  #get(alias: string): IndexAlias | undefined {
    const row = this.#db.prepare('SELECT alias, version, updated_at FROM index_aliases WHERE alias = ?').get(alias) as AliasRow | undefined;
    return row && { alias: row.alias, version: row.version, updatedAt: row.updated_at };
  }

  async switchTo(alias: string, version: string | null, by: { reason: string; actor: string }): Promise<IndexAlias | undefined> {
    const at = this.#now().toISOString();
    // One transaction: the alias and its history never disagree, even with the API reading. No
    // await inside it: another call on this connection would find a transaction already open.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const current = this.#get(alias)?.version ?? null;
      if (current !== version) {
        if (version === null) this.#db.prepare('DELETE FROM index_aliases WHERE alias = ?').run(alias);
        else
          this.#db
            .prepare('INSERT INTO index_aliases (alias, version, updated_at) VALUES (?, ?, ?) ON CONFLICT (alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at')
            .run(alias, version, at);
        this.#db
          .prepare('INSERT INTO index_alias_history (alias, version, previous_version, reason, actor, at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(alias, version, current, by.reason, by.actor, at);
      }
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    return this.#get(alias);
  }

  async history(alias: string): Promise<IndexAliasSwitch[]> {
    const rows = this.#db
      .prepare('SELECT alias, version, previous_version, reason, actor, at FROM index_alias_history WHERE alias = ? ORDER BY seq')
      .all(alias) as unknown as SwitchRow[];
    return rows.map((r) => ({ alias: r.alias, version: r.version, previousVersion: r.previous_version, reason: r.reason, actor: r.actor, at: r.at }));
  }

  async recordMetrics(alias: string, version: string, metrics: VersionMetrics): Promise<void> {
    this.#db
      .prepare(
        'INSERT INTO index_version_metrics (alias, version, metrics, recorded_at) VALUES (?, ?, ?, ?) ON CONFLICT (alias, version) DO UPDATE SET metrics = excluded.metrics, recorded_at = excluded.recorded_at',
      )
      .run(alias, version, JSON.stringify(metrics), this.#now().toISOString());
  }

  async metricsOf(alias: string, version: string): Promise<VersionMetrics | undefined> {
    const row = this.#db.prepare('SELECT metrics FROM index_version_metrics WHERE alias = ? AND version = ?').get(alias, version) as
      | { metrics: string }
      | undefined;
    return row && (JSON.parse(row.metrics) as VersionMetrics);
  }
}
