/**
 * Fingerprints in SQLite (see ../fingerprints.ts). One row per (pipeline, partition, source) holds
 * both the committed and the pending value; `partition_runs` holds each partition's last outcome.
 * Check and commit run in one write transaction each, so two tasks of one partition cannot
 * interleave a compare with a commit.
 */
import type { DatabaseSync } from 'node:sqlite';
import {
  compareSources,
  NothingPendingError,
  type CommittedFingerprint,
  type FingerprintCheckRequest,
  type FingerprintCheckResult,
  type FingerprintCommitRequest,
  type FingerprintStore,
  type PartitionFailureRecord,
  type PartitionFingerprintState,
  type PartitionOutcome,
  type PartitionRunRecord,
  type SourceFingerprint,
} from '../fingerprints.ts';

interface FingerprintRow {
  pipeline_id: string;
  partition_key: string;
  source: string;
  kind: string | null;
  identity: string | null;
  value: string | null;
  committed_run_id: string | null;
  committed_at: string | null;
  changed_at: string | null;
  pending_kind: string | null;
  pending_identity: string | null;
  pending_value: string | null;
  pending_run_id: string | null;
}

interface PartitionRunRow {
  partition_key: string;
  run_id: string;
  outcome: string;
  reason: string;
  at: string;
}

function toCommitted(row: FingerprintRow): CommittedFingerprint | undefined {
  if (row.identity === null || row.kind === null) return undefined;
  return {
    source: row.source,
    kind: row.kind,
    identity: row.identity,
    value: JSON.parse(row.value ?? '{}') as Record<string, unknown>,
    committedRunId: row.committed_run_id ?? '',
    committedAt: row.committed_at ?? '',
    changedAt: row.changed_at ?? '',
  };
}

function toRun(row: PartitionRunRow): PartitionRunRecord {
  // Written only by this class.
  return { runId: row.run_id, outcome: row.outcome as PartitionOutcome, reason: row.reason, at: row.at };
}

export class SqliteFingerprintStore implements FingerprintStore {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  #rows(pipelineId: string, partition: string): FingerprintRow[] {
    return this.#db
      .prepare('SELECT * FROM fingerprints WHERE pipeline_id = ? AND partition_key = ? ORDER BY source')
      .all(pipelineId, partition) as unknown as FingerprintRow[];
  }

  #transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  #recordRun(pipelineId: string, partition: string, run: PartitionRunRecord): void {
    this.#db
      .prepare(
        `INSERT INTO partition_runs (pipeline_id, partition_key, run_id, outcome, reason, at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (pipeline_id, partition_key) DO UPDATE SET
           run_id = excluded.run_id, outcome = excluded.outcome, reason = excluded.reason, at = excluded.at`,
      )
      .run(pipelineId, partition, run.runId, run.outcome, run.reason, run.at);
  }

  async committed(pipelineId: string, partition: string): Promise<CommittedFingerprint[]> {
    return this.#rows(pipelineId, partition)
      .map(toCommitted)
      .filter((fp): fp is CommittedFingerprint => fp !== undefined);
  }

  async check(request: FingerprintCheckRequest): Promise<FingerprintCheckResult> {
    const { pipelineId, partition, runId } = request;
    const at = this.#now().toISOString();
    return this.#transaction(() => {
      const committed = this.#rows(pipelineId, partition)
        .map(toCommitted)
        .filter((fp): fp is CommittedFingerprint => fp !== undefined);
      const result = compareSources(committed, request.sources, request.force);
      const bySource = new Map(committed.map((fp) => [fp.source, fp]));
      for (const fresh of request.sources) {
        const before = bySource.get(fresh.source);
        this.#db
          .prepare(
            `INSERT INTO fingerprints (pipeline_id, partition_key, source, pending_kind, pending_identity, pending_value,
               pending_run_id, pending_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (pipeline_id, partition_key, source) DO UPDATE SET
               pending_kind = excluded.pending_kind, pending_identity = excluded.pending_identity,
               pending_value = excluded.pending_value, pending_run_id = excluded.pending_run_id,
               pending_at = excluded.pending_at`,
          )
          .run(pipelineId, partition, fresh.source, fresh.kind, fresh.identity, JSON.stringify(fresh.value), runId, at);
        if (before && before.kind === fresh.kind && before.identity === fresh.identity) {
          // Same content, new measurements (a touched file's mtime): remember them so the next
          // check takes the size+mtime fast path instead of hashing the content again.
          this.#db
            .prepare('UPDATE fingerprints SET value = ? WHERE pipeline_id = ? AND partition_key = ? AND source = ?')
            .run(JSON.stringify(fresh.value), pipelineId, partition, fresh.source);
        }
      }
      this.#recordRun(pipelineId, partition, {
        runId,
        outcome: result.changed ? 'pending' : 'skipped',
        reason: result.reasons.join('; '),
        at,
      });
      return result;
    });
  }

  async commit(request: FingerprintCommitRequest): Promise<{ committed: number }> {
    const { pipelineId, partition, runId } = request;
    const at = this.#now().toISOString();
    return this.#transaction(() => {
      const rows = this.#rows(pipelineId, partition);
      let sources: SourceFingerprint[];
      if (request.sources) {
        sources = request.sources;
      } else {
        sources = rows
          .filter((row) => row.pending_run_id === runId && row.pending_identity !== null && row.pending_kind !== null)
          .map((row) => ({
            source: row.source,
            kind: row.pending_kind!,
            identity: row.pending_identity!,
            value: JSON.parse(row.pending_value ?? '{}') as Record<string, unknown>,
          }));
      }
      if (sources.length === 0) {
        throw new NothingPendingError(`no fingerprints were checked for pipeline ${pipelineId} partition ${partition} in run ${runId}`);
      }
      for (const fp of sources) {
        this.#db
          .prepare(
            `INSERT INTO fingerprints (pipeline_id, partition_key, source, kind, identity, value, committed_run_id,
               committed_at, changed_at)
             VALUES (:pipelineId, :partition, :source, :kind, :identity, :value, :runId, :at, :at)
             ON CONFLICT (pipeline_id, partition_key, source) DO UPDATE SET
               changed_at = CASE WHEN fingerprints.identity IS excluded.identity AND fingerprints.kind IS excluded.kind
                                 THEN fingerprints.changed_at ELSE excluded.changed_at END,
               kind = excluded.kind, identity = excluded.identity, value = excluded.value,
               committed_run_id = excluded.committed_run_id, committed_at = excluded.committed_at,
               pending_kind = NULL, pending_identity = NULL, pending_value = NULL, pending_run_id = NULL, pending_at = NULL`,
          )
          .run({
            pipelineId,
            partition,
            source: fp.source,
            kind: fp.kind,
            identity: fp.identity,
            value: JSON.stringify(fp.value),
            runId,
            at,
          });
      }
      const previous = this.#db
        .prepare('SELECT * FROM partition_runs WHERE pipeline_id = ? AND partition_key = ?')
        .get(pipelineId, partition) as unknown as PartitionRunRow | undefined;
      const reason = previous && previous.run_id === runId ? previous.reason : 'committed';
      this.#recordRun(pipelineId, partition, { runId, outcome: 'ran', reason, at });
      return { committed: sources.length };
    });
  }

  async recordFailure(failure: PartitionFailureRecord): Promise<PartitionRunRecord> {
    const { pipelineId, partition, runId } = failure;
    return this.#transaction(() => {
      const previous = this.#db
        .prepare('SELECT * FROM partition_runs WHERE pipeline_id = ? AND partition_key = ?')
        .get(pipelineId, partition) as unknown as PartitionRunRow | undefined;
      // The first failing task of a run names the failure; a parallel one (or the run's end,
      // reconciling) does not overwrite it.
      if (previous && previous.run_id === runId && previous.outcome === 'failed') return toRun(previous);
      const run: PartitionRunRecord = { runId, outcome: 'failed', reason: failure.reason, at: this.#now().toISOString() };
      this.#recordRun(pipelineId, partition, run);
      return run;
    });
  }

  async partitions(pipelineId: string): Promise<PartitionFingerprintState[]> {
    const rows = this.#db
      .prepare('SELECT * FROM fingerprints WHERE pipeline_id = ? ORDER BY partition_key, source')
      .all(pipelineId) as unknown as FingerprintRow[];
    const runs = this.#db
      .prepare('SELECT * FROM partition_runs WHERE pipeline_id = ? ORDER BY partition_key')
      .all(pipelineId) as unknown as PartitionRunRow[];
    const states = new Map<string, PartitionFingerprintState>();
    const stateOf = (partition: string) => {
      let state = states.get(partition);
      if (!state) {
        state = { partition, fingerprints: [], lastRun: null };
        states.set(partition, state);
      }
      return state;
    };
    for (const row of rows) {
      const fp = toCommitted(row);
      const state = stateOf(row.partition_key);
      if (fp) state.fingerprints.push(fp);
    }
    for (const run of runs) stateOf(run.partition_key).lastRun = toRun(run);
    return [...states.values()].sort((a, b) => (a.partition < b.partition ? -1 : a.partition > b.partition ? 1 : 0));
  }
}
