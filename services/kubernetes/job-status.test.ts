import type { CoreV1Event, V1Job, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { jobStatusOf } from './job-status.ts';

const job = (status: V1Job['status'] = {}, extra: Partial<V1Job> = {}): V1Job => ({
  metadata: { name: 'embed-1', uid: 'u1', labels: {} },
  spec: { template: {}, activeDeadlineSeconds: 600 },
  status,
  ...extra,
});
const cond = (type: string, reason?: string) => ({ type, status: 'True', reason });
const pod = (name: string, phase: string, extra: { disrupted?: string; exitCode?: number; message?: string; at?: string; node?: string } = {}): V1Pod => ({
  metadata: { name },
  spec: { containers: [], nodeName: extra.node },
  status: {
    phase,
    conditions: extra.disrupted ? [{ type: 'DisruptionTarget', status: 'True', reason: extra.disrupted }] : [],
    containerStatuses:
      extra.exitCode === undefined
        ? []
        : [{ name: 'job', image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: extra.exitCode, message: extra.message, finishedAt: new Date(extra.at ?? 0) } } }],
  },
});

describe('jobStatusOf', () => {
  it('unknown without a Job; running with a Running Pod; the checkpoint from the ConfigMap', () => {
    expect(jobStatusOf({ job: undefined, pods: [] }).state).toBe('unknown');
    expect(jobStatusOf({ job: job(), pods: [pod('p1', 'Running', { node: 'gpu-1' })], configMap: { data: { checkpoint: ' 7 ' } } })).toEqual({
      state: 'running',
      checkpoint: '7',
      exitCode: null,
      message: 'Pod p1 running on gpu-1',
      disruptions: 0,
    });
  });

  it('counts disrupted Pods the Job controller replaced, and stays running', () => {
    const s = jobStatusOf({ job: job(), pods: [pod('p1', 'Failed', { disrupted: 'PreemptionByScheduler' }), pod('p2', 'Running')] });
    expect(s).toMatchObject({ state: 'running', disruptions: 1 });
    // Between the old Pod's end and the new Pod's start there is no live Pod: pending, not lost.
    expect(jobStatusOf({ job: job(), pods: [pod('p1', 'Failed', { disrupted: 'TerminationByKubelet' })] })).toMatchObject({ state: 'pending', disruptions: 1 });
  });

  it('counts evicted Pods that are gone from the API by the runner’s record on the ConfigMap, each Pod once', () => {
    const recorded = { metadata: { annotations: { 'disrupted.tandem.dev/uid-1': 'p1 EvictionByEvictionAPI', 'disrupted.tandem.dev/uid-2': 'p2 PreemptionByScheduler', 'other/x': 'y' } } };
    const listed = { ...pod('p2', 'Failed', { disrupted: 'PreemptionByScheduler' }), metadata: { name: 'p2', uid: 'uid-2' } };
    expect(jobStatusOf({ job: job(), pods: [listed, pod('p3', 'Running')], configMap: recorded })).toMatchObject({ state: 'running', disruptions: 2 });
    expect(jobStatusOf({ job: job(), pods: [pod('p3', 'Running')], configMap: {} }).disruptions).toBe(0);
  });

  it('succeeded on Complete; failed with exit code and the last log lines; deadline; preempted work that cannot resume', () => {
    expect(jobStatusOf({ job: job({ conditions: [cond('Complete')] }), pods: [pod('p1', 'Succeeded', { exitCode: 0 })] })).toMatchObject({ state: 'succeeded', exitCode: 0 });
    const failed = jobStatusOf({
      job: job({ conditions: [cond('Failed', 'PodFailurePolicy')] }),
      pods: [pod('p1', 'Failed', { disrupted: 'PreemptionByScheduler', at: '2026-01-01T00:00:00Z' }), pod('p2', 'Failed', { exitCode: 3, message: 'loading shard 4\nCUDA out of memory', at: '2026-01-01T00:05:00Z' })],
    });
    expect(failed).toMatchObject({ state: 'failed', exitCode: 3, message: 'exited with code 3: loading shard 4\nCUDA out of memory', disruptions: 1 });
    expect(jobStatusOf({ job: job({ conditions: [cond('Failed', 'DeadlineExceeded')] }), pods: [] })).toMatchObject({
      state: 'failed',
      message: 'ran longer than its activeDeadlineSeconds (600 s)',
    });
    expect(jobStatusOf({ job: job({ conditions: [cond('Failed', 'PodFailurePolicy')] }), pods: [pod('p1', 'Failed', { disrupted: 'DeletionByTaintManager' })] })).toMatchObject({
      state: 'preempted',
      message: 'Pod p1 was stopped from outside (DeletionByTaintManager)',
    });
  });

  it('suspended (Kueue) is pending with the queue; being deleted is cancelled; unschedulable says why', () => {
    const queued = job({}, { spec: { template: {}, suspend: true }, metadata: { name: 'embed-1', labels: { 'kueue.x-k8s.io/queue-name': 'tandem' } } });
    expect(jobStatusOf({ job: queued, pods: [] })).toMatchObject({ state: 'pending', message: 'waiting for Kueue to admit it from LocalQueue tandem' });
    // Kueue's reason, from the Job's Workload.
    const insufficient = "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor tandem-on-demand, 1 more needed";
    const held = { status: { conditions: [{ type: 'QuotaReserved', status: 'False', reason: 'Pending', message: insufficient }] } };
    expect(jobStatusOf({ job: queued, pods: [], workload: held })).toMatchObject({ state: 'pending', message: `waiting for Kueue to admit it from LocalQueue tandem: ${insufficient}` });
    const evicted = { status: { conditions: [{ type: 'Evicted', status: 'True', reason: 'Preempted', message: 'Preempted to accommodate a workload due to reclamation within the cohort' }, ...held.status.conditions] } };
    expect(jobStatusOf({ job: queued, pods: [], workload: evicted }).message).toBe(
      `waiting for Kueue to admit it from LocalQueue tandem: evicted by Kueue (Preempted): Preempted to accommodate a workload due to reclamation within the cohort; ${insufficient}`,
    );
    const repeated = structuredClone(evicted);
    repeated.status.conditions[1]!.message = repeated.status.conditions[0]!.message;
    expect(jobStatusOf({ job: queued, pods: [], workload: repeated }).message).toBe(
      'waiting for Kueue to admit it from LocalQueue tandem: evicted by Kueue (Preempted): Preempted to accommodate a workload due to reclamation within the cohort',
    );
    // Admitted again: nothing held back any more.
    const readmitted = { status: { conditions: [{ type: 'Evicted', status: 'True', reason: 'Preempted' }, { type: 'QuotaReserved', status: 'True' }, { type: 'Admitted', status: 'True' }] } };
    expect(jobStatusOf({ job: queued, pods: [], workload: readmitted }).message).toBe('waiting for Kueue to admit it from LocalQueue tandem');
    expect(jobStatusOf({ job: job({}, { metadata: { name: 'embed-1', deletionTimestamp: new Date() } }), pods: [] }).state).toBe('cancelled');
    const waiting = pod('p1', 'Pending');
    waiting.status!.conditions = [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/7 nodes are available: 7 Insufficient nvidia.com/gpu.' }];
    expect(jobStatusOf({ job: job(), pods: [waiting] })).toMatchObject({ state: 'pending', message: 'not scheduled: 0/7 nodes are available: 7 Insufficient nvidia.com/gpu.' });
  });

  it('a Job whose Pod the quota refuses fails as quota-exceeded, with the controller’s words', () => {
    const event = {
      reason: 'FailedCreate',
      message: 'Error creating: pods "embed-1-x" is forbidden: exceeded quota: gpu, requested: requests.nvidia.com/gpu=4, used: requests.nvidia.com/gpu=6, limited: requests.nvidia.com/gpu=8',
      involvedObject: {},
      metadata: {},
    } as CoreV1Event;
    expect(jobStatusOf({ job: job(), pods: [], events: [event] })).toMatchObject({ state: 'failed', refusal: 'quota-exceeded', message: `the Job controller cannot create its Pod: ${event.message}` });
    expect(jobStatusOf({ job: job(), pods: [], events: [{ ...event, reason: 'SuccessfulCreate' }] }).state).toBe('pending');
  });
});
