/**
 * `npm run bench` runs every benchmark; `npm run bench -- startup` one; `--quick` a short version.
 * Each benchmark starts what it needs on 127.0.0.1, is bounded in time, and stops by itself. A
 * benchmark that fails is reported and the next one runs. At the end, bench/results/summary.md
 * and the plots (docs/bench/*.png) are made from every result file; `--report` makes only those.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { repoRoot } from '../shared/config.ts';
import { killAllProcessGroups } from '../deploy/dev/supervisor.ts';
import { renderPlots } from './plots.ts';
import { benchmarks } from './registry.ts';
import { readResults, resultsDir, summaryMarkdown, writeSummary } from './summary.ts';

const program = new Command('bench')
  .description('Run tandem benchmarks; results go to bench/results/<name>.json, bench/results/summary.md and docs/bench/*.png')
  .argument('[names...]', `benchmarks to run (default: all): ${Object.keys(benchmarks).join(', ')}`)
  .option('--quick', 'short version for smoke use (fewer samples)', false)
  .option('--report', 'run nothing: make summary.md and the plots from the results there are', false)
  .parse();

const { quick, report } = program.opts<{ quick: boolean; report: boolean }>();
const names = report ? [] : program.args.length ? program.args : Object.keys(benchmarks);
const unknown = names.filter((n) => !(n in benchmarks));
if (unknown.length) {
  console.error(`unknown benchmark(s) ${unknown.join(', ')}; choose from ${Object.keys(benchmarks).join(', ')}`);
  process.exit(2);
}
// The engines a benchmark starts lead process groups of their own, which a Ctrl-C on the terminal
// does not reach: on a stop signal they are killed with everything they forked, then the run ends.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`[bench] ${signal}: stopping every process the benchmarks started`);
    killAllProcessGroups();
    process.exit(130);
  });
}
let missed = 0;
const failures: { name: string; error: string }[] = [];
for (const name of names) {
  console.log(`[bench] ${name}${quick ? ' (quick)' : ''}…`);
  try {
    const figures = await benchmarks[name]!({ quick });
    missed += figures.filter((f) => f.met === false).length;
  } catch (err) {
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.error(`[bench] ${name} failed: ${error}`);
    failures.push({ name, error });
  }
}
mkdirSync(resultsDir, { recursive: true });
const results = readResults();
const plots = await renderPlots(results).catch((err: Error) => ({ files: [] as string[], skipped: `rendering failed: ${err.message}` }));
const summary = writeSummary(summaryMarkdown(results, failures, plots));
if (plots.skipped) console.log(`[bench] plots not made: ${plots.skipped}`);
for (const file of plots.files) console.log(`[bench] plot ${path.relative(repoRoot, file)}`);
console.log(`[bench] summary ${path.relative(repoRoot, summary)}`);
console.log(`[bench] done: ${missed} target(s) missed${failures.length ? `, ${failures.length} benchmark(s) failed` : ''}`);
if (failures.length) process.exitCode = 1;
