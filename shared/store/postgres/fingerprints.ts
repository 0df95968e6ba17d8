/**
 * Fingerprints in PostgreSQL (see ../fingerprints.ts and the SQLite class, which this mirrors).
 * Check and commit each run in one transaction holding an advisory lock on the partition, so two
 * tasks of one partition — on any replica — cannot interleave a compare with a commit.
 */
import type pg from 'pg';
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
import { inTransaction, rowLockSpaces, type Queryable } from './sql.ts';

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

const committedOnly = (rows: FingerprintRow[]) => rows.map(toCommitted).filter((fp): fp is CommittedFingerprint => fp !== undefined);

export class PostgresFingerprintStore implements FingerprintStore {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async #rows(db: Queryable, pipelineId: string, partition: string): Promise<FingerprintRow[]> {
    const { rows } = await db.query<FingerprintRow>(
      'SELECT * FROM fingerprints WHERE pipeline_id = $1 AND partition_key = $2 ORDER BY source',
      [pipelineId, partition],
    );
    return rows;
  }

  #partitionTransaction<T>(pipelineId: string, partition: string, work: (db: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, async (db) => {
      // A collision of two partitions' hashes only makes them wait for each other.
      await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [rowLockSpaces.fingerprints, `${pipelineId}/${partition}`]);
      return work(db);
    });
  }

  async #recordRun(db: Queryable, pipelineId: string, partition: string, run: PartitionRunRecord): Promise<void> {
    await db.query(
      `INSERT INTO partition_runs (pipeline_id, partition_key, run_id, outcome, reason, at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (pipeline_id, partition_key) DO UPDATE SET
         run_id = excluded.run_id, outcome = excluded.outcome, reason = excluded.reason, at = excluded.at`,
      [pipelineId, partition, run.runId, run.outcome, run.reason, run.at],
    );
  }

  async committed(pipelineId: string, partition: string): Promise<CommittedFingerprint[]> {
    return committedOnly(await this.#rows(this.#pool, pipelineId, partition));
  }

  async check(request: FingerprintCheckRequest): Promise<FingerprintCheckResult> {
    const { pipelineId, partition, runId } = request;
    const at = this.#now().toISOString();
    return this.#partitionTransaction(pipelineId, partition, async (db) => {
      const committed = committedOnly(await this.#rows(db, pipelineId, partition));
      const result = compareSources(committed, request.sources, request.force);
      const bySource = new Map(committed.map((fp) => [fp.source, fp]));
      for (const fresh of request.sources) {
        const before = bySource.get(fresh.source);
        // Same content, new measurements (a touched file's mtime): the committed value takes them
        // too, so the next check takes the size+mtime fast path instead of hashing again.
        const sameContent = before !== undefined && before.kind === fresh.kind && before.identity === fresh.identity;
        await db.query(
          `INSERT INTO fingerprints (pipeline_id, partition_key, source, pending_kind, pending_identity, pending_value,
             pending_run_id, pending_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (pipeline_id, partition_key, source) DO UPDATE SET
             pending_kind = excluded.pending_kind, pending_identity = excluded.pending_identity,
             pending_value = excluded.pending_value, pending_run_id = excluded.pending_run_id,
             pending_at = excluded.pending_at,
             value = CASE WHEN $9::boolean THEN excluded.pending_value ELSE fingerprints.value END`,
          [pipelineId, partition, fresh.source, fresh.kind, fresh.identity, JSON.stringify(fresh.value), runId, at, sameContent],
        );
      }
      await this.#recordRun(db, pipelineId, partition, {
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
    return this.#partitionTransaction(pipelineId, partition, async (db) => {
      const rows = await this.#rows(db, pipelineId, partition);
      const sources: SourceFingerprint[] =
        request.sources ??
        rows
          .filter((row) => row.pending_run_id === runId && row.pending_identity !== null && row.pending_kind !== null)
          .map((row) => ({
            source: row.source,
            kind: row.pending_kind!,
            identity: row.pending_identity!,
            value: JSON.parse(row.pending_value ?? '{}') as Record<string, unknown>,
          }));
      if (sources.length === 0) {
        throw new NothingPendingError(`no fingerprints were checked for pipeline ${pipelineId} partition ${partition} in run ${runId}`);
      }
      for (const fp of sources) {
        await db.query(
          `INSERT INTO fingerprints (pipeline_id, partition_key, source, kind, identity, value, committed_run_id, committed_at, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
           ON CONFLICT (pipeline_id, partition_key, source) DO UPDATE SET
             changed_at = CASE WHEN fingerprints.identity IS NOT DISTINCT FROM excluded.identity
                                AND fingerprints.kind IS NOT DISTINCT FROM excluded.kind
                               THEN fingerprints.changed_at ELSE excluded.changed_at END,
             kind = excluded.kind, identity = excluded.identity, value = excluded.value,
             committed_run_id = excluded.committed_run_id, committed_at = excluded.committed_at,
             pending_kind = NULL, pending_identity = NULL, pending_value = NULL, pending_run_id = NULL, pending_at = NULL`,
          [pipelineId, partition, fp.source, fp.kind, fp.identity, JSON.stringify(fp.value), runId, at],
        );
      }
      const previous = (
        await db.query<PartitionRunRow>('SELECT * FROM partition_runs WHERE pipeline_id = $1 AND partition_key = $2', [pipelineId, partition])
      ).rows[0];
      const reason = previous && previous.run_id === runId ? previous.reason : 'committed';
      await this.#recordRun(db, pipelineId, partition, { runId, outcome: 'ran', reason, at });
      return { committed: sources.length };
    });
  }

  async recordFailure(failure: PartitionFailureRecord): Promise<PartitionRunRecord> {
    const { pipelineId, partition, runId } = failure;
    return this.#partitionTransaction(pipelineId, partition, async (db) => {
      const previous = (
        await db.query<PartitionRunRow>('SELECT * FROM partition_runs WHERE pipeline_id = $1 AND partition_key = $2', [pipelineId, partition])
      ).rows[0];
      // The first failing task of a run names the failure; a parallel one (on any replica, or the
      // run's end, reconciling) does not overwrite it.
      if (previous && previous.run_id === runId && previous.outcome === 'failed') return toRun(previous);
      const run: PartitionRunRecord = { runId, outcome: 'failed', reason: failure.reason, at: this.#now().toISOString() };
      await this.#recordRun(db, pipelineId, partition, run);
      return run;
    });
  }

  async partitions(pipelineId: string): Promise<PartitionFingerprintState[]> {
    const [fingerprints, runs] = await Promise.all([
      this.#pool.query<FingerprintRow>('SELECT * FROM fingerprints WHERE pipeline_id = $1 ORDER BY partition_key, source', [pipelineId]),
      this.#pool.query<PartitionRunRow>('SELECT * FROM partition_runs WHERE pipeline_id = $1 ORDER BY partition_key', [pipelineId]),
    ]);
    const states = new Map<string, PartitionFingerprintState>();
    const stateOf = (partition: string) => {
      let state = states.get(partition);
      if (!state) {
        state = { partition, fingerprints: [], lastRun: null };
        states.set(partition, state);
      }
      return state;
    };
    for (const row of fingerprints.rows) {
      const fp = toCommitted(row);
      const state = stateOf(row.partition_key);
      if (fp) state.fingerprints.push(fp);
    }
    for (const run of runs.rows) stateOf(run.partition_key).lastRun = toRun(run);
    return [...states.values()].sort((a, b) => (a.partition < b.partition ? -1 : a.partition > b.partition ? 1 : 0));
  }
}
