/**
 * The pipelines page's grid: one row per partition, one column per run, each cell the partition's
 * state in that run and where to look. A hand-off stage still deferred in Airflow reads as
 * "waiting on a hand-off" and links to its Temporal workflow; every cell links to the task in
 * Airflow's UI that explains it (the failed one, the waiting one, else the last stage).
 */
import { handoffIdFor } from '../../../shared/contracts/handoffs.ts';
import type { PipelineRunView } from '../../../shared/contracts/pipelines.ts';
import type { GridCell } from './operator-views.ts';

export interface GridLinks {
  airflowUiUrl: string;
  /** The Temporal Web UI and namespace, when tandem knows them (the embedded dev server). */
  temporalUi?: { url: string; namespace: string } | undefined;
}

const labels: Record<string, string> = {
  ran: 'ran',
  skipped: 'skipped (unchanged)',
  failed: 'failed',
  running: 'running',
  queued: 'queued',
  not_run: 'not run',
  'waiting-handoff': 'waiting on hand-off',
};

export function partitionGrid(
  dagId: string,
  runs: PipelineRunView[],
  partitionKeys: readonly string[],
  handoffStages: readonly string[],
  links: GridLinks,
): { partition: string; cells: GridCell[] }[] {
  const partitions = [...new Set([...partitionKeys, ...runs.flatMap((r) => r.partitions.map((p) => p.partition))])];
  return partitions.map((partition) => ({
    partition,
    cells: runs.map((run): GridCell => {
      const view = run.partitions.find((p) => p.partition === partition);
      if (!view) return { state: 'not_run', label: labels.not_run! };
      const tasks = Object.entries(view.tasks);
      const waiting = tasks.find(([task, state]) => handoffStages.includes(task) && state === 'deferred');
      const failed = tasks.find(([, state]) => state === 'failed' || state === 'upstream_failed');
      const [task] = waiting ?? failed ?? tasks.at(-1) ?? [];
      // Task ids are grouped by partition key (`cardiology.draft`); a date-only partition has no group.
      const group = partitionKeys.find((k) => partition === k || partition.startsWith(`${k}:`));
      const qualified = (t: string) => (group ? `${group}.${t}` : t);
      const taskId = task ? qualified(task) : undefined;
      const airflowHref = taskId
        ? `${links.airflowUiUrl}/dags/${encodeURIComponent(dagId)}/runs/${encodeURIComponent(run.runId)}/tasks/${encodeURIComponent(taskId)}`
        : `${links.airflowUiUrl}/dags/${encodeURIComponent(dagId)}/runs/${encodeURIComponent(run.runId)}`;
      // Only a hand-off task that started has a workflow; a skipped or never-run one has none.
      const handoffTask = tasks.find(([t, state]) => handoffStages.includes(t) && state !== null && !['skipped', 'removed', 'upstream_failed', 'scheduled', 'queued'].includes(state));
      const temporalHref =
        handoffTask && links.temporalUi
          ? `${links.temporalUi.url}/namespaces/${encodeURIComponent(links.temporalUi.namespace)}/workflows/${encodeURIComponent(
              handoffIdFor({ dagId, runId: run.runId, taskId: qualified(handoffTask[0]), mapIndex: -1 }),
            )}`
          : undefined;
      const state = waiting ? 'waiting-handoff' : view.state;
      return { state, label: labels[state] ?? state, airflowHref, temporalHref };
    }),
  }));
}
