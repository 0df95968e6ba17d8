/**
 * What Airflow reports back about a pipeline's runs, as facts tandem records: a partition that
 * failed (its task's `on_failure_callback`, the moment the task fails for good) and a DAG run that
 * ended (the DAG's `on_success_callback` / `on_failure_callback`), both sent by the generated
 * DAG's notifiers (dags/tandem_airflow/notifications/pipeline_outcomes.py). Each becomes an audit
 * entry of the pipeline's department, and the audit entry becomes the webhook event
 * (`partition.failed`, `pipeline.run.finished`, services/webhooks/events.ts). Pure: the entries'
 * shapes, ids and texts; PipelineService does the reading and writing.
 */
import type { PartitionRunView } from '../../shared/contracts/pipelines.ts';
import type { PartitionFailureBody } from '../../shared/contracts/fingerprints.ts';
import type { AuditActor, NewAuditEntry } from '../../shared/store/audit-log.ts';
import type { PipelineRecord } from '../../shared/store/pipelines.ts';
import type { AirflowDagRun, AirflowTaskInstance } from '../airflow/client.ts';

/** A partition's run reason is shown in the API and the console: bounded. */
const MAX_REASON = 500;

export interface RunPartitionOutcomes {
  succeeded: string[];
  failed: string[];
  skipped: string[];
}

/** Partition labels of an ended run by outcome; a partition the run never reached counts as skipped. */
export function partitionsByOutcome(partitions: readonly PartitionRunView[]): RunPartitionOutcomes {
  const outcomes: RunPartitionOutcomes = { succeeded: [], failed: [], skipped: [] };
  for (const p of partitions) {
    if (p.state === 'ran') outcomes.succeeded.push(p.partition);
    else if (p.state === 'failed') outcomes.failed.push(p.partition);
    else if (p.state === 'skipped' || p.state === 'not_run') outcomes.skipped.push(p.partition);
    // queued/running cannot be left in an ended run; if Airflow says so anyway, it is no outcome.
  }
  return outcomes;
}

/** The key part of a partition label (`ward-b:2026-06-02` → `ward-b`), or null for a date or `all`. */
export function partitionKeyOf(label: string, keys: readonly string[] | undefined): string | null {
  if (!keys) return null;
  const colon = label.indexOf(':');
  return colon < 0 ? label : label.slice(0, colon);
}

/** Without the message: safe for the audit log and other services (a message may carry patient data). */
export function failureSummary(taskId: string, tryNumber: number | null, errorType: string): string {
  return `task ${taskId} failed${tryNumber ? ` on try ${tryNumber}` : ''} with ${errorType}`;
}

/** The partition's last-run reason in tandem's own store (readable in its department): with the message. */
export function failureReason(body: Pick<PartitionFailureBody, 'taskId' | 'tryNumber' | 'error'>): string {
  const message = body.error.message.split('\n')[0]!.trim();
  const reason = `${failureSummary(body.taskId, body.tryNumber, body.error.type)}${message ? `: ${message}` : ''}; fingerprints not committed, the partition runs again next time`;
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason;
}

export interface PartitionFailure {
  partition: string;
  taskId: string;
  tryNumber: number | null;
  errorType: string;
  failedAt: string;
}

/** One entry per partition and run: a second failing task of the partition, or the run's end, finds it written. */
export function partitionFailedEntry(record: PipelineRecord, runId: string, failure: PartitionFailure, actor: AuditActor): NewAuditEntry {
  return {
    actor,
    department: record.department,
    subject: `pipeline:${record.id}`,
    event: 'partition-failed',
    details: {
      pipelineId: record.id,
      dagId: record.dagId,
      runId,
      partition: failure.partition,
      taskId: failure.taskId,
      tryNumber: failure.tryNumber,
      error: { type: failure.errorType, summary: failureSummary(failure.taskId, failure.tryNumber, failure.errorType) },
      failedAt: failure.failedAt,
    },
    dedupeKey: `partition-failed:${record.id}:${runId}:${failure.partition}`,
  };
}

/**
 * One entry per end of a run: the end date is part of the key, so a retried report is the same
 * entry, and a run cleared and ended again is a new one.
 */
export function pipelineRunFinishedEntry(record: PipelineRecord, run: AirflowDagRun, partitions: RunPartitionOutcomes, actor: AuditActor): NewAuditEntry {
  return {
    actor,
    department: record.department,
    subject: `pipeline:${record.id}`,
    event: 'pipeline-run-finished',
    details: {
      pipelineId: record.id,
      dagId: record.dagId,
      runId: run.dag_run_id,
      state: run.state,
      logicalDate: run.logical_date,
      endDate: run.end_date,
      partitions,
    },
    dedupeKey: `pipeline-run-finished:${record.id}:${run.dag_run_id}:${run.end_date ?? ''}`,
  };
}

/**
 * The task that failed a partition, for a failure found only at the run's end (its own report
 * never arrived): the earliest task of the group in state `failed` (not `upstream_failed`).
 */
export function failedTaskOf(group: string | null, taskInstances: readonly AirflowTaskInstance[]): AirflowTaskInstance | undefined {
  return taskInstances
    .filter((ti) => ti.state === 'failed' && (group === null ? !ti.task_id.includes('.') : ti.task_id.startsWith(`${group}.`)))
    .sort((a, b) => (a.end_date ?? '').localeCompare(b.end_date ?? ''))[0];
}
