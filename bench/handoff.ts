/**
 * `npm run bench -- handoff`: what an Airflow → Temporal hand-off costs, on a stack of its own
 * (temp state dir, free ports), with the DAGs of bench/dags/tandem_bench_handoff.py.
 *
 * - Completion latency: from the review workflow's close (Temporal's close time) to the Airflow
 *   task's end (its end_date), p50/p95 over 50 hand-offs decided one a second through the API.
 *   Baseline, same stack and reviews: a sensor in `reschedule` mode poking the hand-off at
 *   Airflow's default 60 s interval (20 of them, decided together).
 * - 200 hand-offs waiting at once: Airflow worker slots occupied (task instances `running`,
 *   sampled every 2 s for 30 s; target 0), triggerer PSS and what each waiting trigger adds to it
 *   (target ≤ 100 KiB), tandem worker CPU. Baseline: 200 tasks that start the same hand-off and
 *   poll it in a loop inside the task (the anti-pattern), which fill every executor slot
 *   (`TANDEM_AIRFLOW_PARALLELISM`, default 8) and queue the rest.
 * - Time to put 200 mapped hand-off tasks into their wait (trigger → all deferred; target ≤ 15 s),
 *   started from the triggerer. Baseline: the same operator with `start_from_trigger = False` (a subclass), whose
 *   every try first runs in a task process on a worker (`tandem_bench_handoff_worker_start`).
 *
 * - Parked hand-offs (`tandem_bench_handoff_parked`, `wait: parked`): completion latency the
 *   same way (p95 target ≤ 5 s; baseline the same reschedule sensor), and what parked tasks cost
 *   the triggerer — its PSS with 1,000 parked minus with nothing waiting, in MiB per 1,000
 *   (target ≤ 10: they hold no trigger).
 *
 * `--quick`: 20 hand-offs for latency, 6 sensors; the 200 waiting are 200 in both modes (the
 * figures are named by it, and 200 now wait in seconds). Parked: 200 instead of 1,000 (each
 * parks through a task process, 8 at a time), the triggerer difference scaled to 1,000.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, repoRoot } from '../shared/config.ts';
import { handoffIdFor } from '../shared/contracts/handoffs.ts';
import { clientDataConverter, payloadCodecFor } from '../shared/payload-codec.ts';
import { connectTemporal } from '../shared/temporal-connection.ts';
import { startStack, type StackHandle } from '../deploy/dev/stack.ts';
import { AirflowClient, allTaskInstances, type AirflowTaskInstance, type TaskInstanceState } from '../services/airflow/client.ts';
import { airflowParallelism } from '../deploy/dev/airflow.ts';
import { api, eventually } from '../test/support/api-client.ts';
import { isolatedStackEnv } from '../test/support/free-ports.ts';
import { groupCpuPercent, percentile, sleep } from './measure.ts';
import { groupMemoryBytes, mib } from './process-memory.ts';
import { figure, round, writeReport, type Figure } from './report.ts';

const SAMPLE_MS = 30_000;
const log = (line: string) => console.log(`[bench handoff] ${line}`);

export async function handoffBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const nLatency = quick ? 20 : 50;
  const nSensor = quick ? 6 : 20;
  const nWaiting = 200;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-handoff-'));
  Object.assign(process.env, await isolatedStackEnv(stateDir), { TANDEM_LOG_LEVEL: 'warn' });
  const config = loadConfig();
  const stack = await startStack(config, log);
  let kit: Awaited<ReturnType<typeof handoffBenchKit>> | undefined;
  try {
    kit = await handoffBenchKit(stack);
    const { airflow, trigger, reviews, untilAll, approve, latencies } = kit;
    // --- completion latency: deferrable operator -----------------------------------------------
    const oursLatency = await kit.completionLatencies(nLatency);

    // --- completion latency: parked hand-offs (resumed by tandem through Airflow's REST API) ---
    const parkedLatency = await kit.completionLatencies(nLatency, 'parked');

    // --- completion latency: reschedule sensor (baseline) --------------------------------------
    log(`latency baseline: ${nSensor} sensors in reschedule mode, 60 s poke interval`);
    const sensors = await trigger('tandem_bench_sensor', nSensor);
    await untilAll('tandem_bench_sensor', sensors, nSensor, ['up_for_reschedule'], 600_000);
    for (let i = 0; i < nSensor; i++) await approve('tandem_bench_sensor', sensors, i);
    await untilAll('tandem_bench_sensor', sensors, nSensor, ['success'], 600_000);
    const sensorLatency = await latencies('tandem_bench_sensor', sensors);

    // --- waiting: deferred hand-offs ---------------------------------------------------------------
    const pids = stack.supervisor.pids();
    await sleep(10_000);
    const triggererIdle = groupMemoryBytes(pids['airflow-triggerer']!);
    const workerCpuIdle = await groupCpuPercent(pids.worker!, SAMPLE_MS);
    log(`waiting: ${nWaiting} deferred hand-offs`);
    const t0 = performance.now();
    const waiting = await trigger('tandem_bench_handoff', nWaiting);
    await untilAll('tandem_bench_handoff', waiting, nWaiting, ['deferred'], 1_800_000);
    const deferSeconds = (performance.now() - t0) / 1000;
    await sleep(10_000);
    const [oursSlots, workerCpuWaiting] = await Promise.all([maxRunning(airflow, SAMPLE_MS), groupCpuPercent(pids.worker!, SAMPLE_MS)]);
    const triggererWaiting = groupMemoryBytes(pids['airflow-triggerer']!);
    const schedulerWaiting = groupMemoryBytes(pids['airflow-scheduler']!);
    // Marking the run failed fails its deferred tasks; the reconciler then cancels their workflows.
    await airflow.patchDagRun('tandem_bench_handoff', waiting, { state: 'failed' });
    await sleep(20_000);

    // --- waiting: parked hand-offs cost the triggerer nothing ---------------------------------
    const nParked = quick ? 200 : 1_000;
    log(`waiting: ${nParked} parked hand-offs`);
    const triggererBeforeParked = groupMemoryBytes(pids['airflow-triggerer']!);
    const parkedWaiting = await trigger('tandem_bench_handoff_parked', nParked);
    await untilAll('tandem_bench_handoff_parked', parkedWaiting, nParked, ['awaiting_input'], 3_600_000);
    await sleep(10_000);
    const triggererParked = groupMemoryBytes(pids['airflow-triggerer']!);
    await airflow.patchDagRun('tandem_bench_handoff_parked', parkedWaiting, { state: 'failed' });
    await sleep(20_000);

    // --- into the wait: the operator starting on a worker (baseline) ---------------------------
    log(`defer baseline: ${nWaiting} hand-offs whose tries start in a task process`);
    const t1 = performance.now();
    const workerStart = await trigger('tandem_bench_handoff_worker_start', nWaiting);
    await untilAll('tandem_bench_handoff_worker_start', workerStart, nWaiting, ['deferred'], 1_800_000);
    const workerStartSeconds = (performance.now() - t1) / 1000;
    await airflow.patchDagRun('tandem_bench_handoff_worker_start', workerStart, { state: 'failed' });
    await sleep(20_000);

    // --- waiting: polling inside the task (baseline) -------------------------------------------
    log(`waiting baseline: ${nWaiting} tasks polling the hand-off inside a worker slot`);
    const polling = await trigger('tandem_bench_polling', nWaiting);
    await untilAll('tandem_bench_polling', polling, airflowParallelism(config), ['running'], 600_000);
    await sleep(15_000);
    const pollingSlots = await maxRunning(airflow, SAMPLE_MS);
    const schedulerPolling = groupMemoryBytes(pids['airflow-scheduler']!);
    const pollingStates = countStates(await reviews('tandem_bench_polling', polling));
    await airflow.patchDagRun('tandem_bench_polling', polling, { state: 'failed' });

    const figures = [
      figure({
        metric: 'handoff_completion_p50',
        unit: 'ms',
        value: percentile(oursLatency, 50),
        baseline: 'reschedule-mode sensor, 60 s poke interval, p50',
        baseline_value: percentile(sensorLatency, 50),
        note: `workflow close → Airflow task end; ${oursLatency.length} hand-offs vs ${sensorLatency.length} sensors`,
      }),
      figure({
        metric: 'handoff_completion_p95',
        unit: 'ms',
        value: percentile(oursLatency, 95),
        baseline: 'reschedule-mode sensor, 60 s poke interval, p95',
        baseline_value: percentile(sensorLatency, 95),
        target: '<= 1000',
        note: "triggerer path: the trigger has the API end the task through Airflow's REST API (POST /v1/handoffs/{id}/complete-task)",
      }),
      figure({
        metric: `airflow_slots_occupied_${nWaiting}_waiting`,
        unit: 'slots',
        value: oursSlots,
        baseline: `${nWaiting} tasks polling in a worker (max running)`,
        baseline_value: pollingSlots,
        target: '<= 0',
        note: `max task instances running over ${SAMPLE_MS / 1000} s; the polling run had ${JSON.stringify(pollingStates)} (parallelism ${airflowParallelism(config)})`,
      }),
      figure({
        metric: `triggerer_pss_${nWaiting}_waiting`,
        unit: 'MiB',
        value: mib(triggererWaiting),
        baseline: 'triggerer PSS with nothing deferred',
        baseline_value: mib(triggererIdle),
      }),
      figure({
        metric: 'handoff_trigger_kib_per_waiting',
        unit: 'KiB',
        value: (triggererWaiting - triggererIdle) / 1024 / nWaiting,
        baseline: 'triggerer PSS with nothing waiting',
        baseline_value: triggererIdle / 1024,
        target: '<= 100',
        note: `(triggerer PSS with ${nWaiting} waiting − with none) / ${nWaiting}; one shared HTTP client per event loop`,
      }),
      figure({
        metric: `worker_cpu_${nWaiting}_waiting`,
        unit: '%',
        value: round(workerCpuWaiting, 2),
        baseline: 'tandem worker CPU with nothing waiting',
        baseline_value: round(workerCpuIdle, 2),
        note: `sampled over ${SAMPLE_MS / 1000} s; 100 % = one core`,
      }),
      figure({
        metric: `scheduler_group_pss_${nWaiting}_waiting`,
        unit: 'MiB',
        value: mib(schedulerWaiting),
        baseline: `scheduler group (incl. task processes) with ${nWaiting} polling tasks`,
        baseline_value: mib(schedulerPolling),
      }),
      figure({
        metric: 'handoff_parked_completion_p95',
        unit: 'ms',
        value: percentile(parkedLatency, 95),
        baseline: 'reschedule sensor at 60 s',
        baseline_value: percentile(sensorLatency, 95),
        target: '<= 5000',
        note: `workflow close → parked task success over ${parkedLatency.length} parked hand-offs (p50 ${round(percentile(parkedLatency, 50), 0)} ms): tandem answers the task's HITL request as the workflow's last step, Airflow schedules it, a task process runs execute_complete`,
      }),
      figure({
        metric: 'handoff_parked_triggerer_mib_per_1000',
        unit: 'MiB',
        value: ((triggererParked - triggererBeforeParked) / 1024 / 1024 / nParked) * 1_000,
        baseline: 'triggerer PSS with nothing waiting',
        baseline_value: mib(triggererBeforeParked),
        target: '<= 10',
        note: `(triggerer PSS with ${nParked} parked − with nothing waiting, just before) scaled to 1,000${nParked === 1_000 ? '' : ` (--quick: ${nParked} parked)`}; ${round(mib(triggererIdle), 1)} MiB before any hand-off waited`,
      }),
      figure({
        metric: `handoff_defer_${nWaiting}_s`,
        unit: 's',
        value: deferSeconds,
        baseline: "today's deferring operator: each try starts in a task process (start_from_trigger = False)",
        baseline_value: workerStartSeconds,
        target: '<= 15',
        note: `trigger → all ${nWaiting} mapped tasks deferred; ours start from the triggerer, which starts the hand-off`,
      }),
    ];
    writeReport('handoff', figures);
    return figures;
  } finally {
    await kit?.close();
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/**
 * What the hand-off figures are measured with, on a running stack (any profile; `npm run bench --
 * scale` uses it on the cluster profile): bench/dags/tandem_bench_handoff.py copied in, parsed and
 * unpaused, a reviewer key, and helpers to trigger, decide and time hand-offs.
 */
export async function handoffBenchKit(stack: StackHandle) {
  const { config } = stack;
  const airflow = AirflowClient.forStack(config, stack.credentials);
  const temporal = await connectTemporal(config, { dataConverter: clientDataConverter(payloadCodecFor(config)) });
  const admin = stack.credentials.adminApiKey;
  const created = await api<{ key: string }>(config.api.url, 'POST', '/v1/api-keys', { key: admin, body: { name: 'bench-reviewer', role: 'reviewer', department: 'clinical-ai' } });
  if (created.status !== 201) throw new Error(`creating the reviewer key: ${created.status} ${JSON.stringify(created.body)}`);
  const reviewer: string = created.body.key;

  copyFileSync(path.join(repoRoot, 'bench', 'dags', 'tandem_bench_handoff.py'), path.join(config.airflow.dagsFolder!, 'tandem_bench_handoff.py'));
  for (const dagId of ['tandem_bench_handoff', 'tandem_bench_handoff_parked', 'tandem_bench_handoff_worker_start', 'tandem_bench_sensor', 'tandem_bench_polling']) {
    await until(`${dagId} parsed`, 180_000, async () => (await airflow.getDag(dagId).catch(() => undefined)) && true);
    await airflow.unpauseDag(dagId);
  }

  const trigger = async (dagId: string, n: number) => {
    const run = await airflow.triggerDagRun(dagId, { dag_run_id: `bench__${dagId}__${Date.now()}`, conf: { n } });
    return run.dag_run_id;
  };
  const reviews = async (dagId: string, runId: string): Promise<AirflowTaskInstance[]> =>
    (await allTaskInstances(airflow, dagId, runId, { task_id: 'review', order_by: 'map_index' })).filter((t) => t.map_index >= 0);
  const untilAll = (dagId: string, runId: string, n: number, states: TaskInstanceState[], timeoutMs: number) =>
    until(`${n} ${dagId} tasks ${states.join('/')}`, timeoutMs, async () => {
      const tis = await reviews(dagId, runId);
      return tis.filter((t) => t.state && states.includes(t.state)).length >= n || undefined;
    });
  const approve = async (dagId: string, runId: string, i: number) => {
    const id = handoffIdFor({ dagId, runId, taskId: 'review', mapIndex: i });
    await until(`decision on ${id}`, 120_000, async () => {
      const res = await api(config.api.url, 'POST', `/v1/reviews/${encodeURIComponent(id)}/decision`, {
        key: reviewer,
        body: { decision: 'approve', artifactVersion: `${runId}/${i}` },
      });
      return res.status === 200 || undefined;
    });
  };
  /** Workflow close → Airflow task end, per map index, in ms. */
  const latencies = async (dagId: string, runId: string): Promise<number[]> => {
    const out: number[] = [];
    for (const ti of await reviews(dagId, runId)) {
      const closed = (await temporal.workflow.getHandle(handoffIdFor({ dagId, runId, taskId: 'review', mapIndex: ti.map_index })).describe()).closeTime;
      if (!closed || !ti.end_date) throw new Error(`map index ${ti.map_index}: no close time or end date`);
      out.push(Date.parse(ti.end_date) - closed.getTime());
    }
    return out.sort((a, b) => a - b);
  };
  /**
   * `n` hand-offs through TemporalHandoffOperator, decided one a second once all of them wait:
   * completion latencies. By default the triggerer path (`deferred`); `parked` for the DAG whose
   * tasks wait in `awaiting_input`.
   */
  const completionLatencies = async (n: number, wait: 'triggerer' | 'parked' = 'triggerer'): Promise<number[]> => {
    const { dagId, waiting, waitMs } =
      wait === 'parked'
        ? { dagId: 'tandem_bench_handoff_parked', waiting: 'awaiting_input' as const, waitMs: 900_000 }
        : { dagId: 'tandem_bench_handoff', waiting: 'deferred' as const, waitMs: 600_000 };
    log(`latency: ${n} ${wait === 'parked' ? 'parked hand-offs' : 'hand-offs through TemporalHandoffOperator'}`);
    const runId = await trigger(dagId, n);
    await untilAll(dagId, runId, n, [waiting], waitMs);
    for (let i = 0; i < n; i++) {
      await approve(dagId, runId, i);
      await sleep(1_000);
    }
    await untilAll(dagId, runId, n, ['success'], 300_000);
    return latencies(dagId, runId);
  };
  return { airflow, temporal, trigger, reviews, untilAll, approve, latencies, completionLatencies, close: () => temporal.connection.close().catch(() => {}) };
}

/** Polls `probe` once a second (its failures count as "not yet") until it returns a value. */
function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  return eventually(() => probe().catch(() => undefined), timeoutMs, what, 1_000);
}

/** Most task instances `running` at once (executor slots in use) over `ms`, sampled every 2 s. */
async function maxRunning(airflow: AirflowClient, ms: number): Promise<number> {
  let max = 0;
  for (const end = Date.now() + ms; Date.now() < end; await sleep(2_000)) {
    const page = await airflow.listTaskInstances('~', '~', { state: ['running'], limit: 1 });
    max = Math.max(max, page.total_entries ?? page.task_instances.length);
  }
  return max;
}

function countStates(tis: AirflowTaskInstance[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const ti of tis) counts[ti.state ?? 'none'] = (counts[ti.state ?? 'none'] ?? 0) + 1;
  return counts;
}
