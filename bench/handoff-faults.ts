/**
 * `npm run bench -- handoff-faults`: the fault drills of test/handoff-faults.test.ts, many times —
 * 20 per component (`--quick`: 3): kill -9 of the worker, the API, the Airflow triggerer, the
 * Airflow scheduler or the Temporal dev server at a random point of a pipeline run with two review
 * hand-offs, restart it, and check that every hand-off completed exactly once (see
 * test/support/handoff-faults.ts for what is checked). Reported per component: drills that passed,
 * and the run's duration next to the same drill without a kill (the baseline, 3 runs).
 */
import { faultComponents, runDrill, startFaultRig, type DrillResult } from '../test/support/handoff-faults.ts';
import { percentile } from './measure.ts';
import { figure, writeReport, type Figure } from './report.ts';

const log = (line: string) => console.log(`[bench handoff-faults] ${line}`);

export async function handoffFaultsBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const reps = Number(process.env.TANDEM_BENCH_FAULT_REPS ?? (quick ? 3 : 20));
  const rig = await startFaultRig(log);
  try {
    // Baseline: the same drill with nothing killed.
    const clean: number[] = [];
    for (let i = 0; i < 3; i++) clean.push((await runCleanDrill(rig)).totalMs);
    clean.sort((a, b) => a - b);

    const results: DrillResult[] = [];
    for (let rep = 0; rep < reps; rep++) {
      for (const component of faultComponents) {
        const killAtMs = 1_000 + Math.floor(Math.random() * 14_000);
        const downMs = 500 + Math.floor(Math.random() * 3_000);
        const result = await runDrill(rig, { component, killAtMs, downMs });
        results.push(result);
        log(`${rep + 1}/${reps} ${component} kill at ${killAtMs} ms, down ${downMs} ms: ${result.problems.length ? `FAILED ${result.problems.join('; ')}` : 'ok'} (${result.totalMs} ms)`);
      }
    }

    const figures: Figure[] = [];
    for (const component of faultComponents) {
      const mine = results.filter((r) => r.component === component);
      const passed = mine.filter((r) => r.problems.length === 0);
      const durations = mine.map((r) => r.totalMs).sort((a, b) => a - b);
      const failures = mine.filter((r) => r.problems.length > 0).map((r) => `${r.dagRunId}: ${r.problems.join('; ')}`);
      figures.push(
        figure({
          metric: `exactly_once_${component.replace(/-/g, '_')}_killed`,
          unit: 'drills passed',
          value: passed.length,
          target: `>= ${mine.length}`,
          note: `${mine.length} drills, ${mine.reduce((n, r) => n + r.redeliveries, 0)} webhook redeliveries deduplicated${failures.length ? `; failed: ${failures.join(' | ')}` : ''}`,
        }),
        figure({
          metric: `drill_duration_${component.replace(/-/g, '_')}_killed_p50`,
          unit: 'ms',
          value: percentile(durations, 50),
          baseline: 'the same drill with nothing killed, p50',
          baseline_value: percentile(clean, 50),
          note: `p95 ${percentile(durations, 95)} ms`,
        }),
      );
    }
    writeReport('handoff-faults', figures);
    return figures;
  } finally {
    await rig.close();
  }
}

async function runCleanDrill(rig: Awaited<ReturnType<typeof startFaultRig>>): Promise<DrillResult> {
  const result = await runDrill(rig, { component: 'none', killAtMs: 0, downMs: 0 });
  if (result.problems.length) throw new Error(`the drill fails without any kill: ${result.problems.join('; ')}`);
  return result;
}
