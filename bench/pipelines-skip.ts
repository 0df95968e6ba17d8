/**
 * `npm run bench -- pipelines-skip`: what skipping unchanged partitions saves — the nightly run
 * where 1 of 100 partitions changed against a forced full run. On one embedded stack (temp state
 * dir, free ports), the example knowledge-base refresh is applied with 100 department partitions
 * (the example's own and generated ones, a document each); after a first (warm-up, discarded) run
 * commits every partition, it times a run where 1 of the 100 changed, and a forced run of all
 * 100, alternating, `rounds` times. Time is the API's trigger → the DAG run's end (Airflow's
 * `end_date`; the API's polls detect the end).
 * Target (`skip_run_1_of_100_vs_forced`): the 1-of-100 run takes at most a tenth of the forced
 * run's time. Its floor is the run's one source check, then the changed partition's own chain
 * (stages → commit: one task start after another); an unchanged partition starts no task.
 *
 * `--quick`: 20 partitions, one round (the figure is named after the count).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../shared/config.ts';
import { startStack, type StackHandle } from '../deploy/dev/stack.ts';
import { EXAMPLE_PARTITIONS, exampleSpec, writeExampleDocuments } from '../deploy/dev/example-pipeline.ts';
import { api, eventually } from '../test/support/api-client.ts';
import { freePorts } from '../deploy/dev/ports.ts';
import { AirflowClient, allTaskInstances } from '../services/airflow/client.ts';
import { figure, round, writeReport, type Figure } from './report.ts';

const host = '127.0.0.1';

interface RunView {
  runId: string;
  state: string;
  partitions: { partition: string; state: string }[];
}

/**
 * Where a 1-of-N run's time went, from Airflow's own timestamps: when the last source check
 * ended (the skips), the changed partition's chain task by task (queued → started is the wait for
 * a worker, started → ended the task process), and the DAG run's end against the last task's.
 */
async function runTimeline(airflow: AirflowClient, dagId: string, runId: string, changed: string): Promise<string> {
  const [run, tis] = await Promise.all([airflow.getDagRun(dagId, runId), allTaskInstances(airflow, dagId, runId)]);
  const t0 = Date.parse(run.start_date ?? run.queued_at ?? '');
  const at = (iso: string | null) => (iso ? ((Date.parse(iso) - t0) / 1000).toFixed(1) : '?');
  const checks = tis.filter((t) => t.task_id.endsWith('check_sources'));
  const lastCheck = checks.map((t) => t.end_date ?? '').sort().at(-1) ?? null;
  const firstCheck = checks.map((t) => t.start_date ?? '').sort()[0] ?? null;
  const lastTask = tis.map((t) => t.end_date ?? '').sort().at(-1) ?? null;
  const chain = tis
    .filter((t) => t.task_id.startsWith(`${changed}.`))
    .sort((a, b) => (a.start_date ?? '').localeCompare(b.start_date ?? ''))
    .map((t) => `${t.task_id.slice(changed.length + 1)} queued ${at(t.queued_when)} start ${at(t.start_date)} end ${at(t.end_date)}`);
  return `from the DAG run's start: ${checks.length} check(s) started ${at(firstCheck)} s, ended ${at(lastCheck)} s; ${changed}: ${chain.join(', ')}; last task ended ${at(lastTask)} s, run ended ${at(run.end_date)} s`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function pipelinesSkipBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const partitionCount = quick ? 20 : 100;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-pipelines-'));
  const [apiPort, temporal, ui, http, metrics, airflow] = await freePorts(host, 6);
  // In process.env, as the integration tier does: the stack's child processes inherit it.
  const env = {
    TANDEM_STATE_DIR: stateDir,
    TANDEM_API_PORT: String(apiPort),
    TANDEM_TEMPORAL_PORT: String(temporal),
    TANDEM_TEMPORAL_UI_PORT: String(ui),
    TANDEM_TEMPORAL_HTTP_PORT: String(http),
    TANDEM_TEMPORAL_METRICS_PORT: String(metrics),
    TANDEM_AIRFLOW_PORT: String(airflow),
    TANDEM_AIRFLOW_DAGS_FOLDER: path.join(stateDir, 'dags'),
    TANDEM_LOG_LEVEL: 'warn',
  };
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  const config = loadConfig();
  let stack: StackHandle | undefined;
  try {
    stack = await startStack(config, (line) => console.log(`[bench pipelines-skip] ${line}`));
    const key = stack.credentials.adminApiKey;
    const url = config.api.url;
    const dataDir = writeExampleDocuments(stateDir);
    const extra = Array.from({ length: partitionCount - EXAMPLE_PARTITIONS.length }, (_, i) => `ward-${String(i + 1).padStart(3, '0')}`);
    const partitions = [...EXAMPLE_PARTITIONS, ...extra];
    for (const p of extra) {
      mkdirSync(path.join(dataDir, p), { recursive: true });
      writeFileSync(path.join(dataDir, p, 'guideline.md'), `# ${p} guideline\nStandard ${p} care pathway.\n`);
    }
    const { schedule: _schedule, ...base } = exampleSpec(dataDir);
    const spec = { ...base, partitions: { keys: partitions } };
    const applied = await api(url, 'POST', '/v1/pipelines', { key, body: spec });
    if (applied.status !== 201) throw new Error(`apply failed: ${applied.status} ${JSON.stringify(applied.body)}`);

    const airflow = AirflowClient.forStack(config, stack.credentials);
    const timedRun = async (body: Record<string, unknown>): Promise<{ seconds: number; states: string[]; runId: string }> => {
      const t0 = Date.now();
      const started = await api<{ runs: { runId: string }[] }>(url, 'POST', '/v1/pipelines/kb-refresh/runs', { key, body });
      if (started.status !== 201) throw new Error(`trigger failed: ${started.status} ${JSON.stringify(started.body)}`);
      const runId = started.body.runs[0]!.runId;
      const run = await eventually(
        async () => {
          const res = await api<{ runs?: RunView[] }>(url, 'GET', '/v1/pipelines/kb-refresh/runs?limit=5', { key });
          const found = res.body.runs?.find((r) => r.runId === runId);
          return found && (found.state === 'success' || found.state === 'failed') ? found : undefined;
        },
        // A forced run of 100 partitions is hundreds of Airflow task starts on 8 executor slots.
        1_800_000,
        `run ${runId}`,
        1000,
      );
      if (run.state !== 'success') throw new Error(`run ${runId} ${run.state}: ${JSON.stringify(run.partitions)}`);
      // Timed to the DAG run's end as Airflow recorded it: the API's 1 s polls only detect it
      // (polling faster would load the API and Airflow during the forced run, the baseline).
      const { end_date: ended } = await airflow.getDagRun('tandem__kb-refresh', runId);
      if (!ended) throw new Error(`run ${runId} finished without an end date`);
      return { seconds: (Date.parse(ended) - t0) / 1000, states: run.partitions.map((p) => p.state), runId };
    };

    await timedRun({}); // warm-up: commits every partition; discarded
    const rounds = quick ? 1 : 2;
    const oneChanged: number[] = [];
    const forced: number[] = [];
    for (let i = 0; i < rounds; i++) {
      writeFileSync(path.join(dataDir, 'cardiology', 'heart-failure.md'), `# Heart failure guideline\nRevision ${Date.now()}-${i}.\n`);
      const changed = await timedRun({});
      if (changed.states.filter((s) => s === 'ran').length !== 1) throw new Error(`expected 1 partition to run, got ${changed.states}`);
      oneChanged.push(changed.seconds);
      console.log(`[bench pipelines-skip] 1-of-${partitions.length} run ${i + 1}: ${changed.seconds.toFixed(1)} s; ${await runTimeline(airflow, 'tandem__kb-refresh', changed.runId, 'cardiology')}`);
      const all = await timedRun({ force: true });
      if (all.states.some((s) => s !== 'ran')) throw new Error(`expected every partition to run, got ${all.states}`);
      forced.push(all.seconds);
    }
    const figures = [
      figure({
        metric: `run_1_of_${partitions.length}_changed`,
        unit: 's',
        value: median(oneChanged),
        baseline: `forced run of all ${partitions.length} partitions`,
        baseline_value: round(median(forced), 1),
        note: `median of ${rounds}, trigger through the API → the DAG run's end; stages build_index → evaluate`,
      }),
    ];
    figures.push(figure({ metric: `skip_run_1_of_${partitions.length}_vs_forced`, unit: 'x', value: figures[0]!.ratio!, target: '<= 0.1' }));
    writeReport('pipelines-skip', figures);
    return figures;
  } finally {
    await stack?.stop();
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(stateDir, { recursive: true, force: true });
  }
}
