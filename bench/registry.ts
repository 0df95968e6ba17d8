/** Every benchmark by name; `npm run bench -- <name>` runs one. */
import { apiBenchmark } from './api.ts';
import { consoleBenchmark } from './console.ts';
import { fingerprintBenchmark } from './fingerprint.ts';
import { handoffBenchmark } from './handoff.ts';
import { handoffFaultsBenchmark } from './handoff-faults.ts';
import { k8sBenchmark } from './k8s.ts';
import { pipelinesGenerateBenchmark } from './pipelines-generate.ts';
import { pipelinesSkipBenchmark } from './pipelines-skip.ts';
import type { Figure } from './report.ts';
import { reviewBenchmark } from './review.ts';
import { scaleBenchmark } from './scale.ts';
import { startThroughputBenchmark } from './start-throughput.ts';
import { startupBenchmark } from './startup.ts';
import { tenantsBenchmark } from './tenants.ts';
import { storeBenchmark } from './store.ts';
import { workerMemoryBenchmark } from './worker-memory.ts';

export type Benchmark = (options: { quick: boolean }) => Promise<Figure[]>;

export const benchmarks: Record<string, Benchmark> = {
  startup: startupBenchmark,
  handoff: handoffBenchmark,
  'handoff-faults': handoffFaultsBenchmark,
  review: reviewBenchmark,
  'worker-memory': workerMemoryBenchmark,
  'pipelines-generate': pipelinesGenerateBenchmark,
  'pipelines-skip': pipelinesSkipBenchmark,
  fingerprint: fingerprintBenchmark,
  console: consoleBenchmark,
  api: apiBenchmark,
  store: storeBenchmark,
  'start-throughput': startThroughputBenchmark,
  k8s: k8sBenchmark,
  tenants: tenantsBenchmark,
  scale: scaleBenchmark,
};
