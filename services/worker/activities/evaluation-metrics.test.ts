import { describe, expect, it } from 'vitest';
import { computeMetrics, gateFailures, meanReciprocalRank, recallAtK } from './evaluation-metrics.ts';

const golden = [
  { id: 'a', query: 'qa', expectedDocIds: ['d1'] },
  { id: 'b', query: 'qb', expectedDocIds: ['d2', 'd3'] },
  { id: 'c', query: 'qc', expectedDocIds: ['d4'] },
];
// a: d1 at rank 3; b: d3 at rank 1, d2 at rank 4; c: never retrieved.
const retrieved = { a: ['x', 'y', 'd1'], b: ['d3', 'x', 'y', 'd2'], c: ['x'] };

describe('recallAtK', () => {
  it('averages the share of expected documents in the top k', () => {
    // k=1: a 0, b 1/2, c 0 → 1/6
    expect(recallAtK(golden, retrieved, 1)).toBeCloseTo(1 / 6);
    // k=3: a 1, b 1/2, c 0 → 1/2
    expect(recallAtK(golden, retrieved, 3)).toBeCloseTo(0.5);
    // k=4: a 1, b 1, c 0 → 2/3
    expect(recallAtK(golden, retrieved, 4)).toBeCloseTo(2 / 3);
  });

  it('counts a query without retrievals as 0 and duplicates once', () => {
    expect(recallAtK(golden, { b: ['d2', 'd2'] }, 2)).toBeCloseTo(0.5 / 3);
  });
});

describe('meanReciprocalRank', () => {
  it('uses the rank of the first expected document', () => {
    // a 1/3, b 1/1, c 0 → (1/3 + 1) / 3 = 4/9
    expect(meanReciprocalRank(golden, retrieved)).toBeCloseTo(4 / 9);
  });
});

describe('gateFailures', () => {
  const t = { k: 3, minRecallAtK: 0.4, minMrr: 0.5, regressionTolerance: 0.05 };
  const metrics = computeMetrics(golden, retrieved, 3); // recall@3 0.5, mrr 0.444

  it('flags a metric below its threshold', () => {
    expect(metrics).toEqual({ 'recall@3': expect.closeTo(0.5), mrr: expect.closeTo(4 / 9) });
    const failures = gateFailures(metrics, null, t);
    expect(failures).toEqual([expect.stringMatching(/^mrr 0\.4444 is below the threshold 0\.5000/)]);
  });

  it('flags a drop beyond the tolerance, not within it', () => {
    const lenient = { ...t, minMrr: 0 };
    expect(gateFailures(metrics, { 'recall@3': 0.54, mrr: 0.45 }, lenient)).toEqual([]);
    expect(gateFailures(metrics, { 'recall@3': 0.56, mrr: 0.45 }, lenient)).toEqual([expect.stringMatching(/^recall@3 0\.5000 regressed from 0\.5600/)]);
  });

  it('passes a version at least as good as before', () => {
    expect(gateFailures({ 'recall@3': 0.9, mrr: 0.8 }, { 'recall@3': 0.9, mrr: 0.7 }, t)).toEqual([]);
  });
});
