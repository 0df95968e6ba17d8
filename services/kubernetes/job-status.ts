/**
 * A Job's state as the job runner reports it, read from the Job, its Pods, its checkpoint
 * ConfigMap and (for a Job without Pods) its FailedCreate events. Pure, so every reading of a
 * cluster state is a unit test.
 *
 *   Job Complete                                  → succeeded
 *   Job Failed, the last failed Pod disrupted     → preempted (only without the Ignore rule:
 *                                                   work that is not fault-tolerant)
 *   Job Failed otherwise                          → failed, with the exit code and the container's
 *                                                   termination message (its last log lines)
 *   Job being deleted                             → cancelled
 *   suspended                                     → pending (Kueue has not admitted it), with
 *                                                   Kueue's reason from the Job's Workload
 *   a Pod Running                                 → running
 *   no Pod, a FailedCreate "exceeded quota" event → failed, refusal quota-exceeded
 *   otherwise                                     → pending, with the scheduler's reason if any
 */
import type { CoreV1Event, V1ConfigMap, V1Job, V1Pod } from '@kubernetes/client-node';
import type { JobStatus } from '../../shared/contracts/job-runner.ts';
import { checkpointKey, containerName, labelKeys, maxCheckpointBytes } from './job-manifest.ts';
import { kueueHoldReason, type KueueWorkload } from './kueue.ts';

export interface JobObjects {
  job: V1Job | undefined;
  pods: readonly V1Pod[];
  configMap?: V1ConfigMap | undefined;
  /** Events about the Job, newest last; only needed while it has no Pod. */
  events?: readonly CoreV1Event[];
  /** Kueue's Workload of a suspended Job in a LocalQueue. */
  workload?: KueueWorkload;
}

const condition = (job: V1Job, type: string) => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');

export const disrupted = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'DisruptionTarget' && c.status === 'True') ?? false;

/**
 * A disrupted Pod that was deleted (an eviction, a preemption by the scheduler) is gone from the
 * API once it has stopped, so the runner records each one it sees on the checkpoint ConfigMap, as
 * an annotation per Pod uid (a merge patch adds one without racing another runner's).
 */
export const disruptionAnnotationPrefix = 'disrupted.tandem.dev/';

/** Pods of the Job that were disrupted: those still listed, and those recorded on the ConfigMap. */
export function disruptionsOf(pods: readonly V1Pod[], configMap: V1ConfigMap | undefined): number {
  const uids = new Set(pods.filter((p) => p.status?.phase === 'Failed' && disrupted(p)).map((p) => p.metadata?.uid ?? p.metadata?.name));
  for (const key of Object.keys(configMap?.metadata?.annotations ?? {})) {
    if (key.startsWith(disruptionAnnotationPrefix)) uids.add(key.slice(disruptionAnnotationPrefix.length));
  }
  return uids.size;
}

function terminated(pod: V1Pod) {
  const status = pod.status?.containerStatuses?.find((c) => c.name === containerName) ?? pod.status?.containerStatuses?.[0];
  return status?.state?.terminated;
}

const finishedAt = (pod: V1Pod) =>
  new Date(terminated(pod)?.finishedAt ?? pod.metadata?.deletionTimestamp ?? pod.metadata?.creationTimestamp ?? 0).getTime();

/** The container's own words: its termination message (the last log lines on error), trimmed. */
function lastWords(pod: V1Pod | undefined): string {
  const message = (pod && terminated(pod)?.message)?.trim() ?? pod?.status?.message?.trim() ?? '';
  return message === '' ? '' : `: ${message.slice(-2048)}`;
}

export function checkpointOf(configMap: V1ConfigMap | undefined): string | null {
  const text = configMap?.data?.[checkpointKey]?.trim();
  return text ? text.slice(0, maxCheckpointBytes) : null;
}

/** Is this event the Job controller's refusal to create a Pod over a ResourceQuota? */
export function quotaRefusal(event: CoreV1Event): boolean {
  return event.reason === 'FailedCreate' && /exceeded quota/.test(event.message ?? '');
}

export function jobStatusOf({ job, pods, configMap, events = [], workload }: JobObjects): JobStatus {
  const checkpoint = checkpointOf(configMap);
  if (!job) return { state: 'unknown', checkpoint: null, exitCode: null, message: 'no such Job' };
  const name = job.metadata?.name ?? '';
  const disruptions = disruptionsOf(pods, configMap);
  const base = { checkpoint, disruptions };
  const failedPods = pods.filter((p) => p.status?.phase === 'Failed').sort((a, b) => finishedAt(a) - finishedAt(b));
  const lastFailed = failedPods.at(-1);

  if (condition(job, 'Complete')) return { ...base, state: 'succeeded', exitCode: 0, message: 'completed' };
  const failed = condition(job, 'Failed');
  if (failed) {
    if (failed.reason === 'DeadlineExceeded') {
      return { ...base, state: 'failed', exitCode: null, message: `ran longer than its activeDeadlineSeconds (${job.spec?.activeDeadlineSeconds} s)` };
    }
    if (lastFailed && disrupted(lastFailed)) {
      const reason = lastFailed.status?.conditions?.find((c) => c.type === 'DisruptionTarget')?.reason ?? 'disruption';
      return { ...base, state: 'preempted', exitCode: null, message: `Pod ${lastFailed.metadata?.name} was stopped from outside (${reason})` };
    }
    const exitCode = (lastFailed && terminated(lastFailed)?.exitCode) ?? null;
    return {
      ...base,
      state: 'failed',
      exitCode,
      message: `${exitCode === null ? `${failed.reason ?? 'failed'}` : `exited with code ${exitCode}`}${lastWords(lastFailed)}`,
    };
  }
  if (job.metadata?.deletionTimestamp) return { ...base, state: 'cancelled', exitCode: null, message: 'being deleted' };
  if (job.spec?.suspend) {
    const queue = job.metadata?.labels?.[labelKeys.kueueQueue];
    if (!queue) return { ...base, state: 'pending', exitCode: null, message: 'suspended' };
    const reason = kueueHoldReason(workload);
    return { ...base, state: 'pending', exitCode: null, message: `waiting for Kueue to admit it from LocalQueue ${queue}${reason ? `: ${reason}` : ''}` };
  }
  const live = pods.filter((p) => !p.metadata?.deletionTimestamp && (p.status?.phase === 'Running' || p.status?.phase === 'Pending' || !p.status?.phase));
  const running = live.find((p) => p.status?.phase === 'Running');
  if (running) return { ...base, state: 'running', exitCode: null, message: `Pod ${running.metadata?.name} running on ${running.spec?.nodeName}` };
  if (live.length === 0) {
    const refusal = [...events].reverse().find(quotaRefusal);
    if (refusal) {
      return { ...base, state: 'failed', exitCode: null, refusal: 'quota-exceeded', message: `the Job controller cannot create its Pod: ${refusal.message}` };
    }
    return { ...base, state: 'pending', exitCode: null, message: `Job ${name} has no Pod yet` };
  }
  const unschedulable = live.flatMap((p) => p.status?.conditions ?? []).find((c) => c.type === 'PodScheduled' && c.status === 'False');
  return { ...base, state: 'pending', exitCode: null, message: unschedulable?.message ? `not scheduled: ${unschedulable.message}` : 'Pod pending' };
}
