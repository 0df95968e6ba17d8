import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ecdf, plotsFor, svgToPng } from './plots.ts';
import { summaryMarkdown } from './summary.ts';
import { figure } from './report.ts';

describe('benchmark plots', () => {
  it('plots every *_ms sample series of a benchmark as one latency distribution', () => {
    const plots = plotsFor([{ name: 'review', series: { decision_round_trip_ms: [30, 10, 20], version_round_trip_ms: [2, 1], note: 'x', counts: [1, 2] } }]);
    expect(plots.map((p) => p.file)).toEqual(['review-latency']);
    const values = (plots[0]!.spec.data as { values: { series: string; value: number; share: number }[] }).values;
    expect(new Set(values.map((v) => v.series))).toEqual(new Set(['decision round trip (n=3)', 'version round trip (n=2)']));
    expect(values.filter((v) => v.series.startsWith('decision')).map((v) => [v.value, v.share])).toEqual([
      [10, 1 / 3],
      [20, 2 / 3],
      [30, 1],
    ]);
  });

  it('plots memory against waiting reviews and the start-throughput knee', () => {
    const plots = plotsFor([
      { name: 'worker-memory', series: { memory_vs_waiting: [{ waiting: 0, pss_mib: 120 }, { waiting: 1000, pss_mib: 300 }] } },
      { name: 'start-throughput', series: { throughput_vs_concurrency: [{ concurrency: 1, starts_per_second: 50 }], knee_concurrency: 8 } },
      { name: 'startup' },
    ]);
    expect(plots.map((p) => p.file)).toEqual(['worker-memory-memory', 'start-throughput-knee']);
    expect(JSON.stringify(plots[1]!.spec)).toContain('"knee":8');
  });

  it('computes the empirical CDF over sorted samples', () => {
    expect(ecdf([3, 1, 2, 2])).toEqual([
      { value: 1, share: 0.25 },
      { value: 2, share: 0.5 },
      { value: 2, share: 0.75 },
      { value: 3, share: 1 },
    ]);
  });

  it('rasterises an SVG to a PNG in headless chromium', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-plot-'));
    try {
      const file = path.join(dir, 'box.png');
      await svgToPng([{ svg: '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="red"/></svg>', file }]);
      expect(existsSync(file)).toBe(true);
      const png = readFileSync(file);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      // IHDR width and height, at device scale 2.
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([80, 40]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('benchmark summary', () => {
  it('lists every figure with its target and says which were missed', () => {
    const md = summaryMarkdown(
      [
        {
          name: 'review',
          writtenAt: '2026-01-01T00:00:00.000Z',
          figures: [
            figure({ metric: 'decision_round_trip_p95', unit: 'ms', value: 70, baseline: 'GET /v1/version p95', baseline_value: 7, target: '<= 50' }),
            figure({ metric: 'store_rows', unit: 'rows', value: 3 }),
          ],
        },
      ],
      [{ name: 'handoff', error: 'Error: Airflow did not start\n    at …' }],
      { files: [], skipped: 'plots need vega' },
    );
    expect(md).toContain('Targets missed: review: decision_round_trip_p95.');
    expect(md).toContain('| review | `decision_round_trip_p95` | 70 ms | GET /v1/version p95 | 7 | 10 | <= 50 | **missed** |');
    expect(md).toContain('| review | `store_rows` | 3 rows |');
    expect(md).toContain('- **handoff**: Error: Airflow did not start');
    expect(md).toContain('Not made: plots need vega.');
  });
});
