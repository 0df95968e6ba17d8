/**
 * `npm run bench -- review`: the cost of human review on a real stack (temp state dir, free ports).
 *
 * - decision round trip: `POST /v1/reviews/{id}/decision` until the Update is completed (its
 *   answer, which comes once the decision's audit entry is written), p50/p95 over 200 decisions
 *   (after 10 warm-up decisions, discarded), each on its own pending review; target p95 ≤ 50 ms.
 *   Baseline, interleaved in the same run: a plain `GET /v1/version` round trip (auth, routing,
 *   no Temporal). Beside it, where the time goes: the same Update sent straight from a Temporal
 *   client on the review started next to it (no API),
 *   the p95 split by whether the review was still in the worker's cache or had to be replayed
 *   (full run: 420 reviews against a cache of 250), and the phases of each API decision read from
 *   the review's history (API → workflow task scheduled → started → completed → answer), and a
 *   paced p95 (each decision sent once the previously decided review has closed) that shows how
 *   much of the back-to-back p95 is the previous decisions' follow-up work.
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
import type { Client } from '@temporalio/client';
import type { Principal } from '../shared/contracts/principal.ts';
import { clientDataConverter, payloadCodecFor } from '../shared/payload-codec.ts';
import { connectTemporal } from '../shared/temporal-connection.ts';
import { decideUpdate } from '../workflows/review/messages.ts';
import { startStack } from '../deploy/dev/stack.ts';
import { isolatedStackEnv } from '../test/support/free-ports.ts';
import { figure, round, writeReport, type Figure } from './report.ts';
import { groupMemoryBytes, mib } from './process-memory.ts';
import { groupCpuPercent, percentile, pool, sleep } from './measure.ts';

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

const eventType = { taskScheduled: 5, taskStarted: 6, taskCompleted: 7, updateAccepted: 41 } as const;

interface DecisionPhases {
  /** POST sent → the Update's workflow task scheduled: HTTP, auth, the store read, the API's call into Temporal. */
  toTask: number[];
  /** Scheduled → started: Temporal's matching hands the task to the worker's poll. */
  dispatch: number[];
  /** Started → completed: the worker runs the validator and handler and completes the task. */
  worker: number[];
  /** Completed → the API's answer received: Temporal records the Update, the API serialises, HTTP. */
  reply: number[];
}

const millisOf = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/**
 * Where each decision's time went, from the review's history: the workflow task that ran the
 * Update (the one whose completion the UpdateAccepted event follows) against the benchmark's own
 * send and receive times (one machine, one clock).
 */
async function decisionPhases(temporal: Client, timed: { id: string; sentAt: number; answeredAt: number }[]): Promise<DecisionPhases> {
  const phases: DecisionPhases = { toTask: [], dispatch: [], worker: [], reply: [] };
  for (const { id, sentAt, answeredAt } of timed) {
    const events = (await temporal.workflow.getHandle(id).fetchHistory()).events ?? [];
    const accepted = events.findIndex((e) => e.eventType === eventType.updateAccepted);
    const before = events.slice(0, accepted).reverse();
    const at = (type: number) => millisOf(before.find((e) => e.eventType === type)?.eventTime);
    const [scheduled, started, completed] = [at(eventType.taskScheduled), at(eventType.taskStarted), at(eventType.taskCompleted)];
    phases.toTask.push(scheduled - sentAt);
    phases.dispatch.push(started - scheduled);
    phases.worker.push(completed - started);
    phases.reply.push(answeredAt - completed);
  }
  for (const list of Object.values(phases) as number[][]) list.sort((a, b) => a - b);
  return phases;
}

function phaseFigures(phases: DecisionPhases): Figure[] {
  const notes: Record<keyof DecisionPhases, string> = {
    toTask: 'POST sent → workflow task scheduled (HTTP, auth, store read, API → Temporal)',
    dispatch: 'workflow task scheduled → started (Temporal matching → worker poll)',
    worker: 'workflow task started → completed (validator, handler, completion)',
    reply: 'workflow task completed → answer received (Update recorded, API reply, HTTP)',
  };
  return (Object.keys(notes) as (keyof DecisionPhases)[]).map((phase) =>
    figure({
      metric: `decision_phase_${phase.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_p50`,
      unit: 'ms',
      value: percentile(phases[phase], 50),
      note: `${notes[phase]}; p95 ${round(percentile(phases[phase], 95), 1)} ms`,
    }),
  );
}

export async function reviewBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const decisions = quick ? 50 : 200;
  // Decided one at a time, each after the previous decided review has closed (see below).
  const paced = quick ? 20 : 50;
  const waiting = quick ? 100 : 1000;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-review-'));
  // The stack's children read their settings from the environment, as in the integration tier.
  // The API's default rate limit (600/min per key) would throttle the benchmark on a quiet machine.
  Object.assign(process.env, await isolatedStackEnv(stateDir), { TANDEM_LOG_LEVEL: 'warn', TANDEM_API_RATE_LIMIT_PER_MINUTE: '100000' });
  const config = loadConfig();
  const stack = await startStack(config, (l) => console.log(`[bench review] ${l}`));
  const base = config.api.url;
  const admin = stack.credentials.adminApiKey;
  const temporal = await connectTemporal(config, { dataConverter: clientDataConverter(payloadCodecFor(config)) });
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
    // Each round: GET /v1/version, a decision through the API, the same Update sent straight
    // from a Temporal client (no HTTP, no auth, no store) on another review.
    // In start order (a pool of 8 keeps it close): the worker's cache is an LRU of
    // `maxCachedWorkflows`, so the reviews started before the last that many have been evicted
    // when decided, and their decision waits for a replay of their history first.
    const ids: string[] = [];
    await pool(
      Array.from({ length: 2 * (decisions + WARMUP) }, (_, i) => i),
      8,
      async (i) => void ids.push(await startReview(i)),
    );
    await waitForPending(ids.length);
    const cachedFrom = ids.length - config.worker.maxCachedWorkflows;
    const principal: Principal = { keyId: 'bench', name: reviewerName, role: 'reviewer', department: 'bench' };
    const decide: number[] = [];
    const direct: number[] = [];
    const version: number[] = [];
    const byCache = { cached: [] as number[], replayed: [] as number[] };
    const cacheStates = {
      cached: `reviews in the worker's cache (started among the last ${config.worker.maxCachedWorkflows})`,
      replayed: "reviews evicted from the worker's cache (the worker replays the history first)",
    };
    const timed: { id: string; sentAt: number; answeredAt: number }[] = [];
    const wallNow = () => performance.timeOrigin + performance.now();
    /** One approval through the API; its round trip in ms. */
    const decideThroughApi = async (id: string): Promise<number> => {
      const t0 = performance.now();
      const res = await call(base, reviewer, 'POST', `/v1/reviews/${id}/decision`, { decision: 'approve', artifactVersion: 'v1' });
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`decision on ${id} answered ${res.status}: ${JSON.stringify(res.json)}`);
      return ms;
    };
    for (let i = 0; i < decisions + WARMUP; i++) {
      let t0 = performance.now();
      const v = await call(base, reviewer, 'GET', '/v1/version');
      const versionMs = performance.now() - t0;
      if (v.status !== 200) throw new Error(`GET /v1/version answered ${v.status}`);
      // Neighbours in start order, so both paths meet the same mix of cached and evicted reviews.
      const [id, other] = [ids[2 * i]!, ids[2 * i + 1]!];
      const sentAt = wallNow();
      const decideMs = await decideThroughApi(id);
      const answeredAt = wallNow();
      t0 = performance.now();
      await temporal.workflow.getHandle(other).executeUpdate(decideUpdate, { args: [{ decision: 'approve', artifactVersion: 'v1', principal }] });
      const directMs = performance.now() - t0;
      if (i < WARMUP) continue;
      direct.push(directMs);
      decide.push(decideMs);
      version.push(versionMs);
      (2 * i >= cachedFrom ? byCache.cached : byCache.replayed).push(decideMs);
      timed.push({ id, sentAt, answeredAt });
    }
    decide.sort((a, b) => a - b);
    for (const list of Object.values(byCache)) list.sort((a, b) => a - b);
    direct.sort((a, b) => a - b);
    version.sort((a, b) => a - b);
    const phases = await decisionPhases(temporal, timed);

    // What contention costs: each decision above may overlap whatever the two before it left
    // running (with the inbox, nothing: a review ends in the workflow task that takes its
    // decision). Here every decision is sent only once the previously decided review has closed,
    // so it meets a stack at rest.
    const approvedCount = () => Number(db.prepare(`SELECT count(*) AS n FROM review_tasks WHERE status = 'approved'`).get()!.n);
    while (approvedCount() < ids.length) await sleep(500);
    const pacedIds: string[] = [];
    for (let i = 0; i < paced; i++) pacedIds.push(await startReview(200_000 + i));
    await waitForPending(paced);
    const pacedDecide: number[] = [];
    for (const id of pacedIds) {
      pacedDecide.push(await decideThroughApi(id));
      await temporal.workflow.getHandle(id).result();
    }
    pacedDecide.sort((a, b) => a - b);

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
        target: '<= 50',
      }),
      figure({
        metric: 'decision_update_direct_p95',
        unit: 'ms',
        value: percentile(direct, 95),
        baseline: 'the decision through the API p95',
        baseline_value: round(percentile(decide, 95), 2),
        note: `client.workflow executeUpdate(decide) from the benchmark, p50 ${round(percentile(direct, 50), 1)} ms: Temporal and the worker without the API`,
      }),
      figure({
        metric: 'decision_round_trip_p95_paced',
        unit: 'ms',
        value: percentile(pacedDecide, 95),
        baseline: 'the back-to-back decisions p95',
        baseline_value: round(percentile(decide, 95), 2),
        note: `${paced} decisions, each after the previously decided review closed, p50 ${round(percentile(pacedDecide, 50), 1)} ms; not the target's measurement, which stays back-to-back`,
      }),
      ...(['cached', 'replayed'] as const)
        .filter((kind) => byCache[kind].length > 0)
        .map((kind) =>
          figure({
            metric: `decision_round_trip_p95_${kind}`,
            unit: 'ms',
            value: percentile(byCache[kind], 95),
            note: `${byCache[kind].length} decisions on ${cacheStates[kind]}, p50 ${round(percentile(byCache[kind], 50), 1)} ms`,
          }),
        ),
      ...phaseFigures(phases),
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
    writeReport('review', figures, { series: { decision_round_trip_ms: decide.map((v) => round(v, 2)), version_round_trip_ms: version.map((v) => round(v, 2)), direct_update_ms: direct.map((v) => round(v, 2)) } });
    return figures;
  } finally {
    await temporal.connection.close();
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
