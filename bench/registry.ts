/** Every benchmark by name; `npm run bench -- <name>` runs one. */
import type { Figure } from './report.ts';
import { startupBenchmark } from './startup.ts';

export type Benchmark = (options: { quick: boolean }) => Promise<Figure[]>;

export const benchmarks: Record<string, Benchmark> = {
  startup: startupBenchmark,
};
