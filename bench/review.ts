/**
 * `npm run bench -- review`: the cost of human review on a real stack (temp state dir, free ports).
 *
 * - decision round trip: `POST /v1/reviews/{id}/decision` until the Update is accepted, p50/p95
 *   over 200 decisions (after 10 warm-up decisions, discarded), each on its own pending review.
 *   Baseline, interleaved in the same run: a plain `GET /v1/version` round trip (auth, routing,
 *   no Temporal), so the ratio shows what the Update itself costs.
 * - 1,000 concurrent waiting reviews: worker CPU while they all wait on durable timers, worker
 *   resident memory, and tandem store rows per review (inbox + audit). Baseline: the same worker
 *   measured idle before the reviews were started.
 *
 * `--quick`: 50 decisions and 100 waiting reviews.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { loadConfig, statePaths } from '../shared/config.ts';
import { startStack } from '../deploy/dev/stack.ts';
import { isolatedStackEnv } from '../test/support/free-ports.ts';
import { figure, round, writeReport, type Figure } from './report.ts';
import { groupMemoryBytes, mib } from './process-memory.ts';
import { groupCpuPercent, percentile, sleep } from './measure.ts';

const WARMUP = 10;
const IDLE_SAMPLE_MS = 30_000;

async function call(baseUrl: string, key: string, method: string, route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}${route}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

const idleCpuPercent = (pid: number) => groupCpuPercent(pid, IDLE_SAMPLE_MS);

/** Runs `task` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

export async function reviewBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const decisions = quick ? 50 : 200;
  const waiting = quick ? 100 : 1000;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-review-'));
  // The stack's children read their settings from the environment, as in the integration tier.
  // The API's default rate limit (600/min per key) would throttle the benchmark on a quiet machine.
  Object.assign(process.env, await isolatedStackEnv(stateDir), { TANDEM_LOG_LEVEL: 'warn', TANDEM_API_RATE_LIMIT_PER_MINUTE: '100000' });
  const config = loadConfig();
  const stack = await startStack(config, (l) => console.log(`[bench review] ${l}`));
  const base = config.api.url;
  const admin = stack.credentials.adminApiKey;
  try {
    const reviewerName = 'bench-reviewer';
    const created = await call(base, admin, 'POST', '/v1/api-keys', { name: reviewerName, role: 'reviewer', department: 'bench' });
    const reviewer = created.json.key as string;

    const startReview = async (n: number): Promise<string> => {
      const res = await call(base, admin, 'POST', '/v1/workflows', {
        type: 'review.request',
        input: {
          department: 'bench',
          reviewType: 'bench',
          title: `bench review ${n}`,
          artifact: { uri: `s3://bench/${n}`, version: 'v1' },
          assignee: reviewerName,
          escalationContact: 'bench-chief',
        },
      });
      if (res.status !== 201) throw new Error(`starting a review answered ${res.status}: ${JSON.stringify(res.json)}`);
      return res.json.workflowId as string;
    };
    const db = new DatabaseSync(statePaths(stateDir).store, { readOnly: true });
    const pendingCount = () => Number(db.prepare(`SELECT count(*) AS n FROM review_tasks WHERE status = 'pending'`).get()!.n);
    const waitForPending = async (n: number) => {
      const deadline = Date.now() + 600_000;
      while (pendingCount() < n) {
        if (Date.now() > deadline) throw new Error(`only ${pendingCount()} of ${n} reviews reached the inbox in 10 min`);
        await sleep(500);
      }
    };

    // --- decision round trip ---------------------------------------------------------------
    const ids: string[] = [];
    await pool(
      Array.from({ length: decisions + WARMUP }, (_, i) => i),
      8,
      async (i) => void ids.push(await startReview(i)),
    );
    await waitForPending(decisions + WARMUP);
    const decide: number[] = [];
    const version: number[] = [];
    for (const [i, id] of ids.entries()) {
      let t0 = performance.now();
      const v = await call(base, reviewer, 'GET', '/v1/version');
      const versionMs = performance.now() - t0;
      t0 = performance.now();
      const res = await call(base, reviewer, 'POST', `/v1/reviews/${id}/decision`, { decision: 'approve', artifactVersion: 'v1' });
      const decideMs = performance.now() - t0;
      if (res.status !== 200 || v.status !== 200) throw new Error(`decision answered ${res.status}: ${JSON.stringify(res.json)}`);
      if (i < WARMUP) continue;
      decide.push(decideMs);
      version.push(versionMs);
    }
    decide.sort((a, b) => a - b);
    version.sort((a, b) => a - b);
    // Let the decided workflows finish before the idle measurement.
    while (Number(db.prepare(`SELECT count(*) AS n FROM review_tasks WHERE status = 'approved'`).get()!.n) < ids.length) await sleep(500);

    // --- waiting reviews --------------------------------------------------------------------
    const workerPid = stack.supervisor.pids().worker!;
    await sleep(10_000);
    const idleBefore = await idleCpuPercent(workerPid);
    const rssBefore = groupMemoryBytes(workerPid);
    const rowsBefore = {
      tasks: Number(db.prepare('SELECT count(*) AS n FROM review_tasks').get()!.n),
      audit: Number(db.prepare('SELECT count(*) AS n FROM audit_log').get()!.n),
    };
    const t0 = performance.now();
    await pool(
      Array.from({ length: waiting }, (_, i) => i + 100_000),
      16,
      async (i) => void (await startReview(i)),
    );
    await waitForPending(waiting);
    const startSeconds = (performance.now() - t0) / 1000;
    await sleep(15_000);
    const idleWaiting = await idleCpuPercent(workerPid);
    const rssWaiting = groupMemoryBytes(workerPid);
    const rows =
      Number(db.prepare('SELECT count(*) AS n FROM review_tasks').get()!.n) -
      rowsBefore.tasks +
      Number(db.prepare('SELECT count(*) AS n FROM audit_log').get()!.n) -
      rowsBefore.audit;
    db.close();

    const figures = [
      figure({
        metric: 'decision_round_trip_p50',
        unit: 'ms',
        value: percentile(decide, 50),
        baseline: 'GET /v1/version round trip p50',
        baseline_value: round(percentile(version, 50), 2),
        note: `${decide.length} decisions, ${WARMUP} warm-up discarded`,
      }),
      figure({
        metric: 'decision_round_trip_p95',
        unit: 'ms',
        value: percentile(decide, 95),
        baseline: 'GET /v1/version round trip p95',
        baseline_value: round(percentile(version, 95), 2),
        target: '<= 250',
      }),
      figure({
        metric: `worker_cpu_idle_with_${waiting}_waiting_reviews`,
        unit: '%',
        value: idleWaiting,
        baseline: 'worker CPU idle with no waiting reviews',
        baseline_value: round(idleBefore, 2),
        note: `sampled over ${IDLE_SAMPLE_MS / 1000} s; 100 % = one core`,
      }),
      figure({
        metric: `worker_pss_with_${waiting}_waiting_reviews`,
        unit: 'MiB',
        value: mib(rssWaiting),
        baseline: 'worker PSS with no waiting reviews',
        baseline_value: mib(rssBefore),
      }),
      figure({ metric: 'store_rows_per_waiting_review', unit: 'rows', value: rows / waiting, note: 'review_tasks + audit_log' }),
      figure({ metric: `start_${waiting}_reviews`, unit: 's', value: startSeconds, note: 'through POST /v1/workflows, 16 in flight, until all are in the inbox' }),
    ];
    writeReport('review', figures);
    return figures;
  } finally {
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
