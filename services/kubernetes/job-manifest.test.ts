import { describe, expect, it } from 'vitest';
import type { JobSpec } from '../../shared/contracts/job-runner.ts';
import { clusterServesKueue } from './kueue.ts';
import { checkpointConfigMap, jobManifest, jobSpecIssues, labelValue, parseSpotLabel, parseSpotTaint } from './job-manifest.ts';

const spec = (extra: Partial<JobSpec> = {}): JobSpec => ({
  name: 'embed-shards-0abc123',
  image: 'registry.example.com/ml/embedder:1.4',
  command: ['python', 'embed.py', '--shard', '3'],
  env: { SHARD: '3' },
  resources: { requests: { 'nvidia.com/gpu': 2, cpu: '4' }, limits: { 'nvidia.com/gpu': 2, memory: '16Gi' } },
  faultTolerant: true,
  spot: true,
  deadlineSeconds: 7200,
  owner: { workflowId: 'gpu-batch-42', department: 'radiology', pipeline: 'kb-refresh', partition: 'notes' },
  ...extra,
});

describe('jobManifest', () => {
  it('sets requests = limits for GPU, cpu and memory, the deadline, TTL, backoff and labels', () => {
    const job = jobManifest(spec(), { namespace: 'tandem-radiology', ttlSecondsAfterFinished: 600, backoffLimit: 2 });
    const pod = job.spec!.template.spec!;
    const container = pod.containers[0]!;
    expect(container.resources).toEqual({
      requests: { 'nvidia.com/gpu': '2', cpu: '4', memory: '16Gi' },
      limits: { 'nvidia.com/gpu': '2', cpu: '4', memory: '16Gi' },
    });
    expect(job.metadata).toMatchObject({
      name: 'embed-shards-0abc123',
      namespace: 'tandem-radiology',
      labels: {
        'app.kubernetes.io/managed-by': 'tandem',
        'tandem.dev/job': 'embed-shards-0abc123',
        'tandem.dev/workflow': 'gpu-batch-42',
        'tandem.dev/department': 'radiology',
        'tandem.dev/pipeline': 'kb-refresh',
        'tandem.dev/partition': 'notes',
      },
      annotations: { 'tandem.dev/workflow-id': 'gpu-batch-42' },
    });
    expect(job.spec!.template.metadata!.labels).toEqual(Object.fromEntries(Object.entries(job.metadata!.labels!)));
    expect(job.spec).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 7200, ttlSecondsAfterFinished: 600 });
    expect(job.spec!.suspend).toBeUndefined();
    expect(pod.restartPolicy).toBe('Never');
    expect(container.terminationMessagePolicy).toBe('FallbackToLogsOnError');
    expect(container.command).toEqual(['python', 'embed.py', '--shard', '3']);
    expect(container.env).toEqual(
      expect.arrayContaining([
        { name: 'SHARD', value: '3' },
        { name: 'TANDEM_CHECKPOINT_CONFIGMAP', value: 'embed-shards-0abc123' },
        { name: 'TANDEM_CHECKPOINT_FILE', value: '/var/run/tandem/checkpoint/checkpoint' },
        { name: 'TANDEM_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ]),
    );
    expect(pod.volumes).toEqual([{ name: 'checkpoint', configMap: { name: 'embed-shards-0abc123', optional: true } }]);
  });

  it('ignores disruptions and SIGTERM of fault-tolerant work and fails the Job on any application exit code', () => {
    expect(jobManifest(spec(), { namespace: 'ns' }).spec!.podFailurePolicy!.rules).toEqual([
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      { action: 'Ignore', onExitCodes: { containerName: 'job', operator: 'In', values: [143] } },
      { action: 'FailJob', onExitCodes: { containerName: 'job', operator: 'NotIn', values: [0] } },
    ]);
    // Work that cannot resume fails on a disruption, and on SIGTERM, too: the runner reports it as preempted.
    const strict = jobManifest(spec({ spot: false, faultTolerant: false }), { namespace: 'ns' });
    expect(strict.spec!.podFailurePolicy!.rules).toEqual([
      { action: 'FailJob', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      { action: 'FailJob', onExitCodes: { containerName: 'job', operator: 'NotIn', values: [0] } },
    ]);
  });

  it('places spot work on spot nodes (configurable label and taint), and nothing else there', () => {
    const spot = jobManifest(spec(), { namespace: 'ns' }).spec!.template.spec!;
    expect(spot.nodeSelector).toEqual({ 'tandem.dev/capacity': 'spot' });
    expect(spot.tolerations).toEqual([{ key: 'tandem.dev/capacity', operator: 'Equal', value: 'spot', effect: 'NoSchedule' }]);
    const custom = jobManifest(spec(), {
      namespace: 'ns',
      spot: { label: parseSpotLabel('cloud.google.com/gke-spot=true'), taint: parseSpotTaint('cloud.google.com/gke-spot=true:NoSchedule') },
    }).spec!.template.spec!;
    expect(custom.nodeSelector).toEqual({ 'cloud.google.com/gke-spot': 'true' });
    expect(custom.tolerations![0]).toMatchObject({ key: 'cloud.google.com/gke-spot', value: 'true' });
    const onDemand = jobManifest(spec({ spot: false }), { namespace: 'ns' }).spec!.template.spec!;
    expect(onDemand.nodeSelector).toBeUndefined();
    expect(onDemand.tolerations).toBeUndefined();
    expect(() => parseSpotTaint('tandem.dev/capacity=spot')).toThrow(/is not a taint/);
  });

  it('with Kueue, labels the LocalQueue and creates the Job suspended for Kueue to admit', () => {
    const job = jobManifest(spec(), { namespace: 'ns', kueueQueue: 'gpu-queue' });
    expect(job.metadata!.labels!['kueue.x-k8s.io/queue-name']).toBe('gpu-queue');
    expect(job.spec!.suspend).toBe(true);
    // The ConfigMap keeps tandem's labels, not Kueue's (Kueue would try to admit it).
    const map = checkpointConfigMap({ ...job, metadata: { ...job.metadata, uid: 'u-1' } });
    expect(map.metadata!.labels!['kueue.x-k8s.io/queue-name']).toBeUndefined();
    expect(map.metadata!.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'Job', name: 'embed-shards-0abc123', uid: 'u-1', controller: true, blockOwnerDeletion: true }]);
  });

  it('detects Kueue by its API group in discovery', () => {
    expect(clusterServesKueue([{ name: 'batch' }, { name: 'kueue.x-k8s.io' }])).toBe(true);
    expect(clusterServesKueue([{ name: 'batch' }, { name: 'kueue.example.com' }])).toBe(false);
  });

  it('keeps labels valid: odd workflow ids become a stable hash, the annotation keeps them whole', () => {
    expect(labelValue('gpu-batch-42')).toBe('gpu-batch-42');
    expect(labelValue('review:7/a b')).toMatch(/^h-[0-9a-z]+$/);
    expect(labelValue('review:7/a b')).toBe(labelValue('review:7/a b'));
    expect(labelValue('x'.repeat(64))).toMatch(/^h-/);
    const job = jobManifest(spec({ owner: { workflowId: 'review:7/a b', department: 'radiology' } }), { namespace: 'ns' });
    expect(job.metadata!.annotations!['tandem.dev/workflow-id']).toBe('review:7/a b');
  });
});

describe('jobSpecIssues', () => {
  const paths = (s: JobSpec, namespace = 'tandem-radiology') => jobSpecIssues(s, namespace).map((i) => i.path);

  it('passes a valid spec', () => {
    expect(jobSpecIssues(spec(), 'tandem-radiology')).toEqual([]);
  });

  it('refuses, with the field path, what must never reach the cluster', () => {
    expect(jobSpecIssues(spec({ resources: { requests: { 'nvidia.com/gpu': 1 }, limits: {} } }), 'ns')).toEqual([
      { path: 'resources.limits.nvidia.com/gpu', message: 'nvidia.com/gpu requests and limits must both be set and equal (requests 1, limits unset)' },
    ]);
    expect(paths(spec({ resources: { requests: { 'nvidia.com/gpu': 2, cpu: '2' }, limits: { 'nvidia.com/gpu': 2, cpu: '3' } } }))).toEqual(['resources.limits.cpu']);
    expect(jobSpecIssues(spec({ resources: { requests: { 'nvidia.com/gpu': -1 }, limits: { 'nvidia.com/gpu': -1 } } }), 'ns')[0]).toEqual({
      path: 'resources.requests.nvidia.com/gpu',
      message: 'must be at least 1 GPU; leave nvidia.com/gpu out for a job without GPUs',
    });
    expect(jobSpecIssues(spec({ resources: { requests: { 'nvidia.com/gpu': 0.5 }, limits: { 'nvidia.com/gpu': 0.5 } } }), 'ns')[0]!.message).toBe(
      'must be a whole number of GPUs (devices are not shared)',
    );
    expect(paths(spec({ image: 'Registry/Embedder' }))).toEqual(['image']);
    expect(paths(spec({ image: undefined }))).toEqual(['image']);
    expect(jobSpecIssues(spec(), 'Tandem_Radiology')).toEqual([
      { path: 'namespace', message: '"Tandem_Radiology" must be a DNS label: lower-case letters, digits and "-", starting and ending with a letter or digit' },
    ]);
    expect(paths(spec({ faultTolerant: false }))).toEqual(['spot']);
    expect(paths(spec({ owner: undefined }))).toEqual(['owner']);
  });
});
