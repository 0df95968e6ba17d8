/**
 * Source fingerprints per (pipeline, source, partition), and what each partition's last run did.
 *
 * A fingerprint has an `identity` (what decides "changed": a content sha256, an ETag, a watermark…)
 * and a `value` (everything measured: size, mtime, sha256…). The Airflow check task sends fresh
 * fingerprints; they are compared with the last *committed* ones and kept as *pending* for that
 * run. Only `commit` — called after the partition's stages succeeded — makes them committed, so a
 * failed partition is compared with the old values again next time. Pure: types and the rule.
 */

export interface SourceFingerprint {
  source: string;
  kind: string;
  identity: string;
  value: Record<string, unknown>;
}

export interface CommittedFingerprint extends SourceFingerprint {
  committedRunId: string;
  committedAt: string;
  /** When the identity last changed (a touched-but-equal source keeps it). */
  changedAt: string;
}

/**
 * `pending`: checked as changed, not committed yet: still running, or failed without a report
 * (the API asks Airflow which). `failed`: a task of the partition reported its failure.
 */
export type PartitionOutcome = 'pending' | 'ran' | 'skipped' | 'failed';

export interface PartitionRunRecord {
  runId: string;
  outcome: PartitionOutcome;
  reason: string;
  at: string;
}

export interface PartitionFingerprintState {
  partition: string;
  fingerprints: CommittedFingerprint[];
  lastRun: PartitionRunRecord | null;
}

export interface FingerprintCheckRequest {
  pipelineId: string;
  partition: string;
  runId: string;
  force: boolean;
  sources: SourceFingerprint[];
}

export interface SourceVerdict {
  source: string;
  changed: boolean;
  reason: string;
}

export interface FingerprintCheckResult {
  changed: boolean;
  reasons: string[];
  sources: SourceVerdict[];
}

export interface FingerprintCommitRequest {
  pipelineId: string;
  partition: string;
  runId: string;
  /** Omitted: commit what `check` recorded as pending for `runId`. */
  sources?: SourceFingerprint[];
}

export interface PartitionFailureRecord {
  pipelineId: string;
  partition: string;
  runId: string;
  reason: string;
}

export interface FingerprintStore {
  committed(pipelineId: string, partition: string): Promise<CommittedFingerprint[]>;
  /** Compares with the committed values, records the sources as pending and the partition's outcome. */
  check(request: FingerprintCheckRequest): Promise<FingerprintCheckResult>;
  /** Throws `NothingPendingError` when there is nothing to commit for that run. */
  commit(request: FingerprintCommitRequest): Promise<{ committed: number }>;
  /**
   * Records that the partition failed in `runId` (its pending fingerprints stay uncommitted, so it
   * runs again next time). A second report for the same run keeps the first reason.
   */
  recordFailure(failure: PartitionFailureRecord): Promise<PartitionRunRecord>;
  /** Every partition the store knows for the pipeline, sorted by partition. */
  partitions(pipelineId: string): Promise<PartitionFingerprintState[]>;
}

export class NothingPendingError extends Error {
  override name = 'NothingPendingError';
}

const short = (identity: string) => (identity.length > 24 ? `${identity.slice(0, 24)}…` : identity);

/** The one rule for "changed", per source. */
export function compareSource(committed: CommittedFingerprint | undefined, fresh: SourceFingerprint): SourceVerdict {
  const { source } = fresh;
  if (!committed) return { source, changed: true, reason: `${source}: no successful run yet` };
  if (committed.kind !== fresh.kind) {
    return { source, changed: true, reason: `${source}: kind changed from ${committed.kind} to ${fresh.kind}` };
  }
  if (committed.identity !== fresh.identity) {
    return { source, changed: true, reason: `${source}: changed (${short(committed.identity)} → ${short(fresh.identity)})` };
  }
  return { source, changed: false, reason: `${source}: unchanged since ${committed.changedAt}` };
}

export function compareSources(
  committed: readonly CommittedFingerprint[],
  fresh: readonly SourceFingerprint[],
  force: boolean,
): FingerprintCheckResult {
  const bySource = new Map(committed.map((fp) => [fp.source, fp]));
  const sources = fresh.map((fp) => compareSource(bySource.get(fp.source), fp));
  const changedReasons = sources.filter((s) => s.changed).map((s) => s.reason);
  if (force) return { changed: true, reasons: ['forced', ...changedReasons], sources };
  if (changedReasons.length > 0) return { changed: true, reasons: changedReasons, sources };
  const reasons =
    sources.length === 0 ? ['no sources declared'] : [`all ${sources.length} source(s) unchanged since the last successful run`];
  return { changed: false, reasons, sources };
}
