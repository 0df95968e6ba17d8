/**
 * Index (and model) version aliases: a stable name such as `kb:cardiology:guidelines` that
 * readers resolve to one concrete version, switched atomically on promotion and switched back
 * on rollback. Every switch is kept as history (who/why/from/to), and the evaluation metrics of
 * each version are kept so the next candidate can be compared with the one it would replace.
 * Pure: types only (implementation: sqlite/index-aliases.ts).
 */

export interface IndexAlias {
  alias: string;
  version: string;
  /** ISO 8601 of the last switch. */
  updatedAt: string;
}

export interface IndexAliasSwitch {
  alias: string;
  /** null when the switch removed the alias (rollback to "no version"). */
  version: string | null;
  previousVersion: string | null;
  reason: string;
  /** Workflow id or key name that asked for the switch. */
  actor: string;
  at: string;
}

/** Metric name → value, e.g. `{ 'recall@5': 0.8, mrr: 0.71 }`. */
export type VersionMetrics = Record<string, number>;

export interface IndexAliasStore {
  get(alias: string): Promise<IndexAlias | undefined>;
  /**
   * Points `alias` at `version` (null removes it) and records the switch. Idempotent: when the
   * alias already has that version nothing is written and the current state is returned, so a
   * retried promotion activity leaves one history entry.
   */
  switchTo(alias: string, version: string | null, by: { reason: string; actor: string }): Promise<IndexAlias | undefined>;
  /** Oldest first. */
  history(alias: string): Promise<IndexAliasSwitch[]>;
  /** Stores (or replaces) the metrics one evaluation measured for `version` of `alias`. */
  recordMetrics(alias: string, version: string, metrics: VersionMetrics): Promise<void>;
  metricsOf(alias: string, version: string): Promise<VersionMetrics | undefined>;
}
