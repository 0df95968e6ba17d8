/**
 * The Kubernetes Job tandem creates for a job spec, and the checks a spec passes before any of it
 * reaches a cluster. Pure: objects in, objects out.
 *
 * What every Job gets, and why:
 *   - its name is the spec's (the workflow adds a suffix from its id), so a retried activity finds
 *     and adopts the Job the last attempt created instead of starting a second one;
 *   - labels tying Job and Pods to the workflow, department, pipeline and partition (selectors for
 *     the runner's watches, `kubectl get jobs -l tandem.dev/department=…` for people);
 *   - requests = limits for nvidia.com/gpu, cpu and memory (the Guaranteed QoS class: a GPU Pod is
 *     never the first one evicted under memory pressure, and quotas count what it really holds);
 *   - `restartPolicy: Never` with a podFailurePolicy: a Pod ended by a disruption (DisruptionTarget:
 *     preemption, eviction, node drain) is replaced by the Job controller without counting against
 *     backoffLimit when the work is fault-tolerant — the new Pod resumes from the checkpoint — and
 *     fails the Job otherwise; so is, for fault-tolerant work, a container stopped by SIGTERM (143:
 *     its Pod deleted, e.g. the Job suspended by Kueue); any other non-zero exit of the container
 *     fails the Job at once (the job's own error, which another Pod would repeat);
 *   - `activeDeadlineSeconds`, `ttlSecondsAfterFinished` (finished Jobs and their Pods go away),
 *     `terminationMessagePolicy: FallbackToLogsOnError` (the last log lines reach the Pod status,
 *     so a failure is reported with them);
 *   - spot placement (node selector + toleration) only when the spec asks for spot, which only
 *     fault-tolerant work may;
 *   - with Kueue, the department's LocalQueue label and `suspend: true`: Kueue admits it.
 *
 * The checkpoint contract (README "Kubernetes jobs"): a ConfigMap named like the Job, owned by
 * it (deleted with it), mounted read-only into every Pod at /var/run/tandem/checkpoint; the
 * container writes `data.checkpoint` through the API and a replacement Pod reads it on start.
 */
import type { V1ConfigMap, V1EnvVar, V1Job, V1Toleration } from '@kubernetes/client-node';
import { gpuJobResourcesSchema, gpuResource } from '../../shared/contracts/gpu-batch.ts';
import type { JobSpec, JobSpecIssue } from '../../shared/contracts/job-runner.ts';
import { dnsLabelSchema, imageReferenceProblem } from '../../shared/contracts/kubernetes.ts';

export const labelKeys = {
  managedBy: 'app.kubernetes.io/managed-by',
  job: 'tandem.dev/job',
  workflow: 'tandem.dev/workflow',
  department: 'tandem.dev/department',
  pipeline: 'tandem.dev/pipeline',
  partition: 'tandem.dev/partition',
  kueueQueue: 'kueue.x-k8s.io/queue-name',
} as const;
export const managedBy = 'tandem';
/** Every object tandem's runner makes carries it; its watches select on it. */
export const managedSelector = `${labelKeys.managedBy}=${managedBy}`;
export const workflowIdAnnotation = 'tandem.dev/workflow-id';
/** 128 + SIGTERM: how a container ends when its Pod is deleted. */
const sigtermExitCode = 143;

export const containerName = 'job';
export const checkpointMountPath = '/var/run/tandem/checkpoint';
/** The ConfigMap key the container writes its checkpoint to (at most 4 KiB of text). */
export const checkpointKey = 'checkpoint';
export const maxCheckpointBytes = 4096;

export interface SpotPlacement {
  /** Node label of spot capacity, e.g. `tandem.dev/capacity=spot`. */
  label: { key: string; value: string };
  /** Taint spot nodes carry, e.g. `tandem.dev/capacity=spot:NoSchedule`. */
  taint: { key: string; value: string; effect: string };
}

export const defaultSpotPlacement: SpotPlacement = {
  label: { key: 'tandem.dev/capacity', value: 'spot' },
  taint: { key: 'tandem.dev/capacity', value: 'spot', effect: 'NoSchedule' },
};

/** `key=value` → label; the config's spelling of the node label. */
export function parseSpotLabel(text: string): SpotPlacement['label'] {
  const match = /^([^=\s]+)=([^=\s]*)$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a node label key=value`);
  return { key: match[1]!, value: match[2]! };
}

/** `key=value:Effect` → taint; the config's spelling of the spot taint. */
export function parseSpotTaint(text: string): SpotPlacement['taint'] {
  const match = /^([^=:\s]+)=([^=:\s]*):(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a taint key=value:NoSchedule|PreferNoSchedule|NoExecute`);
  return { key: match[1]!, value: match[2]!, effect: match[3]! };
}

export interface JobManifestOptions {
  namespace: string;
  spot?: SpotPlacement;
  ttlSecondsAfterFinished?: number;
  /** Pod failures that match no podFailurePolicy rule (e.g. a Pod the kubelet rejected). */
  backoffLimit?: number;
  /** Kueue's LocalQueue in the namespace, when the cluster runs Kueue. */
  kueueQueue?: string;
}

/** A label value: at most 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends. */
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** FNV-1a as base 36: stands in for a value too long or too odd for a label (the annotation keeps it whole). */
function hashed(value: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < value.length; i += 1) {
    hash ^= value.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `h-${hash.toString(36)}`;
}

export function labelValue(value: string): string {
  return value.length <= 63 && labelValuePattern.test(value) ? value : hashed(value);
}

/**
 * Everything wrong with a spec as a Kubernetes Job, each with its field path; empty when it may
 * be submitted. The contract (gpuBatchInputSchema) already refuses most of this for gpu.batch;
 * checked again here because the runner takes specs from other callers too (the k8s_job stage).
 */
export function jobSpecIssues(spec: JobSpec, namespace: string): JobSpecIssue[] {
  const issues: JobSpecIssue[] = [];
  if (spec.image === undefined) {
    issues.push({ path: 'image', message: 'the Kubernetes runner needs a container image' });
  } else {
    const problem = imageReferenceProblem(spec.image);
    if (problem) issues.push({ path: 'image', message: problem });
  }
  const resources = gpuJobResourcesSchema.safeParse(spec.resources);
  if (!resources.success) {
    for (const issue of resources.error.issues) issues.push({ path: ['resources', ...issue.path].join('.'), message: issue.message });
  }
  if (spec.spot && !spec.faultTolerant) {
    issues.push({ path: 'spot', message: 'spot capacity is only for faultTolerant jobs: a reclaimed node would lose its work' });
  }
  const ns = dnsLabelSchema.safeParse(namespace);
  if (!ns.success) issues.push({ path: 'namespace', message: `"${namespace}" ${ns.error.issues[0]!.message}` });
  if (!spec.owner) issues.push({ path: 'owner', message: 'a Kubernetes job needs its owner (workflow id and department)' });
  return issues;
}

/** requests = limits for every resource set on either side (validated equal where both are). */
export function guaranteedResources(resources: JobSpec['resources']): Record<string, string> {
  const list: Record<string, string> = {};
  for (const resource of ['cpu', 'memory'] as const) {
    const value = resources.requests[resource] ?? resources.limits[resource];
    if (value !== undefined) list[resource] = value;
  }
  const gpus = resources.requests[gpuResource] ?? resources.limits[gpuResource];
  if (gpus !== undefined) list[gpuResource] = String(gpus);
  return list;
}

export function jobLabels(spec: JobSpec): Record<string, string> {
  const owner = spec.owner;
  return {
    [labelKeys.managedBy]: managedBy,
    [labelKeys.job]: spec.name,
    ...(owner
      ? {
          [labelKeys.workflow]: labelValue(owner.workflowId),
          [labelKeys.department]: labelValue(owner.department),
          ...(owner.pipeline ? { [labelKeys.pipeline]: labelValue(owner.pipeline) } : {}),
          ...(owner.partition ? { [labelKeys.partition]: labelValue(owner.partition) } : {}),
        }
      : {}),
  };
}

/** The Job for a spec that passed `jobSpecIssues`. */
export function jobManifest(spec: JobSpec, options: JobManifestOptions): V1Job {
  const placement = options.spot ?? defaultSpotPlacement;
  const labels = jobLabels(spec);
  const resources = guaranteedResources(spec.resources);
  const env: V1EnvVar[] = [
    ...Object.entries(spec.env ?? {}).map(([name, value]) => ({ name, value })),
    { name: 'TANDEM_JOB_NAME', value: spec.name },
    { name: 'TANDEM_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'TANDEM_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'TANDEM_CHECKPOINT_CONFIGMAP', value: spec.name },
    // Read-only here (the mounted ConfigMap); the same variable the local runner sets.
    { name: 'TANDEM_CHECKPOINT_FILE', value: `${checkpointMountPath}/${checkpointKey}` },
  ];
  const spotToleration: V1Toleration = { key: placement.taint.key, operator: 'Equal', value: placement.taint.value, effect: placement.taint.effect };
  const disruption = { type: 'DisruptionTarget', status: 'True' };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: spec.name,
      namespace: options.namespace,
      labels: { ...labels, ...(options.kueueQueue ? { [labelKeys.kueueQueue]: options.kueueQueue } : {}) },
      annotations: spec.owner ? { [workflowIdAnnotation]: spec.owner.workflowId } : {},
    },
    spec: {
      ...(options.kueueQueue ? { suspend: true } : {}),
      backoffLimit: options.backoffLimit ?? 3,
      activeDeadlineSeconds: spec.deadlineSeconds ?? 12 * 3600,
      ttlSecondsAfterFinished: options.ttlSecondsAfterFinished ?? 3600,
      podFailurePolicy: {
        rules: [
          // First: a disrupted Pod may also have exited non-zero (SIGKILL is 137).
          spec.faultTolerant ? { action: 'Ignore', onPodConditions: [disruption] } : { action: 'FailJob', onPodConditions: [disruption] },
          // A Pod deleted without a DisruptionTarget condition — the Job suspended (Kueue evicting
          // it to reclaim quota), `kubectl delete pod` — ends with SIGTERM's 143. Fault-tolerant
          // work resumes from its checkpoint instead of failing on it.
          ...(spec.faultTolerant ? [{ action: 'Ignore', onExitCodes: { containerName, operator: 'In', values: [sigtermExitCode] } }] : []),
          { action: 'FailJob', onExitCodes: { containerName, operator: 'NotIn', values: [0] } },
        ],
      },
      template: {
        metadata: { labels, annotations: spec.owner ? { [workflowIdAnnotation]: spec.owner.workflowId } : {} },
        spec: {
          restartPolicy: 'Never',
          ...(spec.spot ? { nodeSelector: { [placement.label.key]: placement.label.value }, tolerations: [spotToleration] } : {}),
          containers: [
            {
              name: containerName,
              image: spec.image,
              command: spec.command,
              env,
              resources: { requests: resources, limits: resources },
              terminationMessagePolicy: 'FallbackToLogsOnError',
              volumeMounts: [{ name: 'checkpoint', mountPath: checkpointMountPath, readOnly: true }],
            },
          ],
          // Optional: the Pod may start before the runner has created the ConfigMap.
          volumes: [{ name: 'checkpoint', configMap: { name: spec.name, optional: true } }],
        },
      },
    },
  };
}

/** The checkpoint ConfigMap of a created Job, owned by it so it goes when the Job goes. */
export function checkpointConfigMap(job: V1Job): V1ConfigMap {
  const { name, namespace, uid, labels } = job.metadata ?? {};
  if (!name || !uid) throw new Error('the Job has no name or uid yet: create it first');
  const { [labelKeys.kueueQueue]: _queue, ...own } = labels ?? {};
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace,
      labels: own,
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid, controller: true, blockOwnerDeletion: true }],
    },
    data: {},
  };
}
