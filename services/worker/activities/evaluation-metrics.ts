/**
 * Golden-query retrieval metrics and the promotion gate. Pure functions, no I/O.
 */
import type { EvaluationThresholds, GoldenQuery } from '../../../shared/contracts/index-promotion.ts';
import type { VersionMetrics } from '../../../shared/store/index-aliases.ts';

/** Retrieved document ids per golden query id, best first. */
export type Retrievals = Record<string, readonly string[]>;

/** Mean over queries of |expected ∩ top-k| / |expected|. A query with no retrievals scores 0. */
export function recallAtK(golden: readonly GoldenQuery[], retrieved: Retrievals, k: number): number {
  if (golden.length === 0) return 0;
  let sum = 0;
  for (const q of golden) {
    const top = new Set((retrieved[q.id] ?? []).slice(0, k));
    const expected = new Set(q.expectedDocIds);
    let hits = 0;
    for (const id of expected) if (top.has(id)) hits++;
    sum += hits / expected.size;
  }
  return sum / golden.length;
}

/** Mean reciprocal rank of the first expected document (rank counted from 1; 0 if absent). */
export function meanReciprocalRank(golden: readonly GoldenQuery[], retrieved: Retrievals): number {
  if (golden.length === 0) return 0;
  let sum = 0;
  for (const q of golden) {
    const expected = new Set(q.expectedDocIds);
    const rank = (retrieved[q.id] ?? []).findIndex((id) => expected.has(id));
    if (rank >= 0) sum += 1 / (rank + 1);
  }
  return sum / golden.length;
}

export function computeMetrics(golden: readonly GoldenQuery[], retrieved: Retrievals, k: number): VersionMetrics {
  return { [`recall@${k}`]: recallAtK(golden, retrieved, k), mrr: meanReciprocalRank(golden, retrieved) };
}

/**
 * The gate: fails when a metric is below its threshold, or lower than the previous version's by
 * more than the tolerance. Metrics the previous version did not measure are not compared.
 */
/** The minimum each metric must reach, by metric name. */
export function metricMinimums(t: EvaluationThresholds): Record<string, number> {
  return { [`recall@${t.k}`]: t.minRecallAtK, mrr: t.minMrr };
}

export function gateFailures(metrics: VersionMetrics, previous: VersionMetrics | null, t: EvaluationThresholds): string[] {
  const failures: string[] = [];
  const minimums = metricMinimums(t);
  for (const [name, min] of Object.entries(minimums)) {
    const value = metrics[name] ?? 0;
    if (value < min) failures.push(`${name} ${fmt(value)} is below the threshold ${fmt(min)}`);
  }
  if (previous) {
    for (const [name, value] of Object.entries(metrics)) {
      const before = previous[name];
      if (before !== undefined && value < before - t.regressionTolerance) {
        failures.push(`${name} ${fmt(value)} regressed from ${fmt(before)} (tolerance ${fmt(t.regressionTolerance)})`);
      }
    }
  }
  return failures;
}

const fmt = (n: number) => n.toFixed(4);
