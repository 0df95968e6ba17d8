/**
 * `npm run bench -- worker-memory`: what a waiting review costs the tandem worker's memory, up to
 * 10,000 of them at once.
 *
 * Only what the figure is about runs: the Temporal dev server and the tandem worker (the same
 * process specs as the dev stack, temp state dir, free ports), no Airflow and no API. Reviews are
 * started through `startWorkflow` (services/flows, the one start path the API also takes, with its
 * memo and `workflow-started` audit entry) against the real dev server, 32 in flight; a
 * checkpoint is reached when every review started so far is in the inbox, and the worker has then
 * been left alone for 15 s (its last workflow tasks done, a GC or two run); then the worker's PSS
 * is read from /proc once a second for 15 s and the median kept.
 *
 * Figure: `worker_memory_ratio_10000_vs_1000_reviews`, PSS with 10,000 waiting / PSS with 1,000
 * waiting (target ≤ 1.2), plus the PSS at every checkpoint (bench/results/worker-memory.json,
 * plotted as bench/results/worker-memory.png).
 *
 * `--quick`: 300 → 1,500 waiting reviews (the ratio figure is named after the counts).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { loadConfig, statePaths } from '../shared/config.ts';
import { clientDataConverter, payloadCodecFor } from '../shared/payload-codec.ts';
import { connectTemporal } from '../shared/temporal-connection.ts';
import { openSqliteStore } from '../shared/store/sqlite-store.ts';
import { parseFlow, startWorkflow } from '../services/flows/start-workflow.ts';
import { isolatedStackEnv } from '../test/support/free-ports.ts';
import { startTemporal } from './engines.ts';
import { pool, sleep } from './measure.ts';
import { groupMemoryBytes, mib } from './process-memory.ts';
import { RegionalTemporal } from '../services/flows/regional-temporal.ts';
import { localRegion } from '../shared/regions.ts';
import { figure, round, writeReport, type Figure } from './report.ts';

const log = (line: string) => console.log(`[bench worker-memory] ${line}`);
/** After the last review of a checkpoint reached the inbox: its remaining workflow tasks finish and V8 collects. */
const SETTLE_MS = 15_000;
/** Then PSS is sampled this often for this long and the median kept: V8 grows and shrinks its heap in steps of tens of MiB. */
const SAMPLE_EVERY_MS = 1000;
const SAMPLES = 15;
const IN_FLIGHT = 32;

export interface MemoryPoint {
  waiting: number;
  pss_mib: number;
  rss_mib: number;
  /** Seconds from the previous checkpoint until every review was in the inbox. */
  start_seconds: number;
}

function rssBytes(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kib === undefined ? 0 : Number(kib) * 1024;
}

/** Median PSS and RSS of the worker over SAMPLES readings. */
async function sampleMemory(pid: number): Promise<{ pss_mib: number; rss_mib: number }> {
  const pss: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    pss.push(groupMemoryBytes(pid));
    rss.push(rssBytes(pid));
    await sleep(SAMPLE_EVERY_MS);
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  return { pss_mib: mib(median(pss)), rss_mib: mib(median(rss)) };
}

export async function workerMemoryBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  // Both ends of the ratio are past the workflow cache (TANDEM_WORKER_MAX_CACHED_WORKFLOWS, 250 by
  // default), so it compares a full cache with a full cache and shows what grows beside it.
  const checkpoints = quick ? [100, 300, 600, 1500] : [100, 1000, 2500, 5000, 7500, 10_000];
  const [low, high] = [checkpoints[1]!, checkpoints.at(-1)!];
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-worker-memory-'));
  const saved = { ...process.env };
  Object.assign(process.env, await isolatedStackEnv(stateDir), { TANDEM_LOG_LEVEL: 'warn' });
  const config = loadConfig();
  const supervisor = await startTemporal(config, log, { worker: true });
  const store = openSqliteStore(statePaths(stateDir).store);
  const db = new DatabaseSync(statePaths(stateDir).store, { readOnly: true });
  const client = await connectTemporal(config, { dataConverter: clientDataConverter(payloadCodecFor(config)) });
  try {
    const pendingCount = () => Number(db.prepare(`SELECT count(*) AS n FROM review_tasks WHERE status = 'pending'`).get()!.n);
    const starter = { scope: '*', name: 'bench', actor: { kind: 'key' as const, keyId: 'bench', name: 'bench', role: 'admin' as const } };
    const startReview = async (n: number) => {
      const flow = parseFlow('review.request', {
        department: 'bench',
        reviewType: 'bench',
        title: `bench review ${n}`,
        artifact: { uri: `s3://bench/${n}`, version: 'v1' },
        assignee: 'bench-reviewer',
        escalationContact: 'bench-chief',
      });
      await startWorkflow(
        { regions: new RegionalTemporal([{ region: localRegion, client, departmentSearchAttribute: false }], store.tenants), store },
        { flow, workflowId: `bench-review-${n}`, department: 'bench', starter, taskQueue: config.temporal.taskQueue, reuse: 'once' },
      );
    };

    const workerPid = supervisor.pids().worker!;
    await sleep(SETTLE_MS);
    const idle: MemoryPoint = { waiting: 0, ...(await sampleMemory(workerPid)), start_seconds: 0 };
    log(`idle: PSS ${idle.pss_mib} MiB`);
    const points: MemoryPoint[] = [idle];
    let started = 0;
    for (const target of checkpoints) {
      const t0 = performance.now();
      await pool(
        Array.from({ length: target - started }, (_, i) => started + i),
        IN_FLIGHT,
        startReview,
      );
      started = target;
      const deadline = Date.now() + 1_200_000;
      while (pendingCount() < target) {
        if (Date.now() > deadline) throw new Error(`only ${pendingCount()} of ${target} reviews reached the inbox in 20 min`);
        await sleep(500);
      }
      const startSeconds = (performance.now() - t0) / 1000;
      await sleep(SETTLE_MS);
      const point = { waiting: target, ...(await sampleMemory(workerPid)), start_seconds: round(startSeconds, 1) };
      points.push(point);
      log(`${target} waiting: PSS ${point.pss_mib} MiB, RSS ${point.rss_mib} MiB (started in ${point.start_seconds} s)`);
    }
    const at = (n: number) => points.find((p) => p.waiting === n)!;
    const perReviewKib = ((at(high).pss_mib - at(low).pss_mib) * 1024) / (high - low);
    const figures = [
      figure({
        metric: `worker_memory_ratio_${high}_vs_${low}_reviews`,
        unit: 'x',
        value: at(high).pss_mib / at(low).pss_mib,
        baseline: `worker PSS with ${low} waiting reviews`,
        baseline_value: at(low).pss_mib,
        ratio: round(at(high).pss_mib / at(low).pss_mib, 3),
        target: '<= 1.2',
        note: `worker PSS ${at(high).pss_mib} MiB with ${high} waiting; cache ${config.worker.maxCachedWorkflows} workflows`,
      }),
      figure({
        metric: `worker_pss_with_${high}_waiting_reviews`,
        unit: 'MiB',
        value: at(high).pss_mib,
        baseline: 'worker PSS with no waiting reviews',
        baseline_value: idle.pss_mib,
      }),
      figure({ metric: 'worker_kib_per_waiting_review', unit: 'KiB', value: perReviewKib, note: `PSS slope between ${low} and ${high} waiting` }),
      figure({
        metric: `start_${high}_reviews`,
        unit: 's',
        value: points.reduce((s, p) => s + p.start_seconds, 0),
        note: `through startWorkflow, ${IN_FLIGHT} in flight, until all are in the inbox`,
      }),
    ];
    writeReport('worker-memory', figures, { series: { memory_vs_waiting: points } });
    return figures;
  } finally {
    db.close();
    await client.connection.close();
    await store.close();
    await supervisor.stop();
    process.env = saved;
    rmSync(stateDir, { recursive: true, force: true });
  }
}
