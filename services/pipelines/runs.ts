/**
 * Runs of a deployed pipeline through Airflow's REST API: trigger chosen partitions or a backfill
 * date range (run conf `{partitions, force}`, which the generated DAG reads as params), and read
 * runs back with a per-partition state derived from the task instances of each partition's task
 * group (`<key>.check_sources` … `<key>.commit_fingerprints`).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { PipelineSpec } from '../../shared/contracts/pipeline-spec.ts';
import type { PartitionRunState, PartitionRunView, PipelineRunView, TriggeredRun, TriggerRequest } from '../../shared/contracts/pipelines.ts';
import { allTaskInstances, type AirflowClient, type AirflowDagRun, type AirflowTaskInstance } from '../airflow/client.ts';
import { AirflowConflictError } from '../airflow/errors.ts';

export const CHECK_TASK = 'check_sources';
export const COMMIT_TASK = 'commit_fingerprints';
/** Backfill ranges are capped so one request cannot queue years of runs. */
export const MAX_BACKFILL_DAYS = 366;

export function partitionKeysOf(spec: PipelineSpec): string[] | undefined {
  return spec.partitions?.keys;
}

/** Requested partitions the spec does not declare, one issue each at `<pathPrefix>.<index>`. */
export function unknownPartitionIssues(spec: PipelineSpec, partitions: readonly string[] | undefined, pathPrefix: string): { path: string; message: string }[] {
  const keys = partitionKeysOf(spec);
  const issues: { path: string; message: string }[] = [];
  partitions?.forEach((p, i) => {
    if (!keys?.includes(p)) {
      issues.push({ path: `${pathPrefix}.${i}`, message: keys ? `unknown partition ${p}; known: ${keys.join(', ')}` : 'this pipeline has no partition keys' });
    }
  });
  return issues;
}

/**
 * Everything wrong with a run request for this pipeline, one issue per problem at its body path:
 * unknown partitions and the backfill rules (a range needs `from`, runs forwards, stays within
 * MAX_BACKFILL_DAYS, and needs a pipeline partitioned by date).
 */
export function runRequestIssues(spec: PipelineSpec, request: TriggerRequest): { path: string; message: string }[] {
  const issues = unknownPartitionIssues(spec, request.partitions, 'body.partitions');
  const { from, to } = request;
  if (to && !from) issues.push({ path: 'body.from', message: 'a backfill needs from (and optionally to)' });
  if (from && to && from > to) issues.push({ path: 'body.to', message: 'must not be before from' });
  if (from && !spec.partitions?.date) issues.push({ path: 'body.from', message: 'a backfill needs a pipeline partitioned by date' });
  if (from && to && (Date.parse(to) - Date.parse(from)) / 86_400_000 >= MAX_BACKFILL_DAYS) {
    issues.push({ path: 'body.to', message: `a backfill covers at most ${MAX_BACKFILL_DAYS} days` });
  }
  return issues;
}

/** The run conf the generated DAG reads as params: `partitions` null means every key. */
export function pipelineRunConf(request: Pick<TriggerRequest, 'partitions' | 'force'>): { partitions: string[] | null; force: boolean } {
  return { partitions: request.partitions ?? null, force: request.force ?? false };
}

/** Days from `from` to `to` inclusive, as YYYY-MM-DD (UTC calendar arithmetic). */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
    if (days.length > MAX_BACKFILL_DAYS) break;
  }
  return days;
}

/** A run id Airflow accepts; deterministic for one (caller, Idempotency-Key), so a retry is a 409. */
export function pipelineRunId(callerKeyId: string, idempotencyKey: string | undefined, day?: string): string {
  const suffix = day ? `__${day}` : '';
  if (!idempotencyKey) return `api__${new Date().toISOString().replace(/[^0-9]/g, '').slice(0, 14)}_${randomUUID().slice(0, 8)}${suffix}`;
  const digest = createHash('sha256').update(`${callerKeyId}\0${idempotencyKey}`).digest('hex').slice(0, 24);
  return `api__idem_${digest}${suffix}`;
}

export async function triggerPipelineRuns(
  client: AirflowClient,
  dagId: string,
  request: TriggerRequest,
  ids: { callerKeyId: string; idempotencyKey?: string | undefined },
  timezone = 'UTC',
): Promise<TriggeredRun[]> {
  const conf = pipelineRunConf(request);
  const days = request.from ? daysBetween(request.from, request.to ?? request.from) : [undefined];
  const runs: TriggeredRun[] = [];
  for (const day of days) {
    const runId = pipelineRunId(ids.callerKeyId, ids.idempotencyKey, day);
    // A backfill day's logical date is that day's midnight; Airflow keeps it in UTC.
    const logicalDate = day ? zonedMidnightIso(day, timezone) : null;
    try {
      const run = await client.triggerDagRun(dagId, { dag_run_id: runId, logical_date: logicalDate, conf }, { idempotent: true });
      runs.push({ runId, logicalDate: run.logical_date, state: run.state, created: true });
    } catch (err) {
      if (!(err instanceof AirflowConflictError) || !ids.idempotencyKey) throw err;
      const existing = await client.getDagRun(dagId, runId);
      runs.push({ runId, logicalDate: existing.logical_date, state: existing.state, created: false });
    }
  }
  return runs;
}

/** Midnight of `day` in `timezone`, as an ISO instant. */
export function zonedMidnightIso(day: string, timezone: string): string {
  const utcMidnight = Date.parse(`${day}T00:00:00Z`);
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(utcMidnight));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const asLocal = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  const offset = asLocal - utcMidnight;
  return new Date(utcMidnight - offset).toISOString();
}

/** The partition a task instance belongs to: its task group (the key), or the run's label. */
function groupOf(taskId: string): { group: string | null; task: string } {
  const dot = taskId.indexOf('.');
  return dot < 0 ? { group: null, task: taskId } : { group: taskId.slice(0, dot), task: taskId.slice(dot + 1) };
}

/**
 * A partition's state in a run from its tasks' states. `check_sources` is the run's one source
 * check (every partition's map carries it): while it runs, every partition is queued behind it.
 */
export function partitionState(tasks: Record<string, string | null>): PartitionRunState {
  const { [CHECK_TASK]: check, ...own } = tasks;
  const states = Object.values(own);
  if (own[COMMIT_TASK] === 'success') return 'ran';
  if (check === 'failed' || states.some((s) => s === 'failed' || s === 'upstream_failed')) return 'failed';
  if (states.length && states.every((s) => s === 'skipped' || s === 'removed')) return 'skipped';
  if (states.some((s) => s === 'running' || s === 'deferred' || s === 'up_for_retry' || s === 'success' || s === 'awaiting_input')) return 'running';
  return 'queued';
}

export function partitionsOfRun(
  run: Pick<AirflowDagRun, 'logical_date' | 'run_after'>,
  spec: PipelineSpec,
  taskInstances: AirflowTaskInstance[],
): PartitionRunView[] {
  const byGroup = new Map<string | null, Record<string, string | null>>();
  let check: string | null | undefined;
  for (const ti of taskInstances) {
    const { group, task } = groupOf(ti.task_id);
    if (group === null && task === CHECK_TASK) check = ti.state;
    const tasks = byGroup.get(group) ?? {};
    tasks[task] = ti.state;
    byGroup.set(group, tasks);
  }
  const day = spec.partitions?.date ? (run.logical_date ?? run.run_after).slice(0, 10) : null;
  const label = (key: string | null) => (key && day ? `${key}:${day}` : (key ?? day ?? 'all'));
  const keys = partitionKeysOf(spec);
  const groups: (string | null)[] = keys ?? [null];
  return groups.map((key) => {
    const own = byGroup.get(key) ?? {};
    if (!Object.keys(own).length) return { partition: label(key), state: 'not_run', tasks: own };
    const tasks = check === undefined ? own : { [CHECK_TASK]: check, ...own };
    return { partition: label(key), state: partitionState(tasks), tasks };
  });
}

export async function listPipelineRuns(
  client: AirflowClient,
  dagId: string,
  spec: PipelineSpec,
  limit = 20,
  offset = 0,
): Promise<PipelineRunView[]> {
  const { dag_runs } = await client.listDagRuns(dagId, { limit, offset, order_by: '-run_after' });
  return Promise.all(
    dag_runs.map(async (run) => {
      const task_instances = await allTaskInstances(client, dagId, run.dag_run_id);
      return {
        runId: run.dag_run_id,
        state: run.state,
        runType: run.run_type,
        logicalDate: run.logical_date,
        runAfter: run.run_after,
        startDate: run.start_date,
        endDate: run.end_date,
        conf: run.conf,
        partitions: partitionsOfRun(run, spec, task_instances),
      };
    }),
  );
}
