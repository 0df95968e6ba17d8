/**
 * `npm run bench` runs every benchmark; `npm run bench -- startup` one; `--quick` a short version.
 * Each benchmark starts what it needs on 127.0.0.1, is bounded in time, and stops by itself.
 */
import { Command } from 'commander';
import { benchmarks } from './registry.ts';

const program = new Command('bench')
  .description('Run tandem benchmarks; results go to bench/results/<name>.json')
  .argument('[names...]', `benchmarks to run (default: all): ${Object.keys(benchmarks).join(', ')}`)
  .option('--quick', 'short version for smoke use (fewer samples)', false)
  .parse();

const names = program.args.length ? program.args : Object.keys(benchmarks);
const unknown = names.filter((n) => !(n in benchmarks));
if (unknown.length) {
  console.error(`unknown benchmark(s) ${unknown.join(', ')}; choose from ${Object.keys(benchmarks).join(', ')}`);
  process.exit(2);
}
const { quick } = program.opts<{ quick: boolean }>();
let missed = 0;
for (const name of names) {
  console.log(`[bench] ${name}${quick ? ' (quick)' : ''}…`);
  const figures = await benchmarks[name]!({ quick });
  missed += figures.filter((f) => f.met === false).length;
}
console.log(`[bench] done: ${missed} target(s) missed`);
