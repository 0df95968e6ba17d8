/**
 * Where batch jobs run. The `jobs` activity family (and later the `k8s_job` stage's hand-off)
 * talks only to this interface, so the local process runner (services/worker/jobs, development
 * and tests) and the Kubernetes runner (services/kubernetes) are interchangeable: spec in,
 * status out.
 *
 * A job is addressed by the id `jobIdOf` gives its spec (the local runner: the name; Kubernetes:
 * `<namespace>/<name>`): `submit` is idempotent while the job runs or after it succeeded, and a
 * second `submit` after the job was stopped from outside starts it again with the same
 * checkpoint, which is how a preempted job resumes. Pure: types and one error class.
 */
import type { GpuBatchInput } from './gpu-batch.ts';

/** Who a job is for: labels on the Kubernetes Job, the department picks its namespace. */
export interface JobOwner {
  workflowId: string;
  department: string;
  /** The namespace of the department's tenant (`/v1/tenants`); without one the runner picks its default. */
  namespace?: string;
  pipeline?: string;
  partition?: string;
}

export type JobSpec = Omit<GpuBatchInput, 'maxPreemptions' | 'deadlineSeconds'> & {
  /** The Job's activeDeadlineSeconds; runners without a deadline ignore it. */
  deadlineSeconds?: number;
  owner?: JobOwner;
};

export type JobState =
  /** Submitted, not yet running (a pod waiting for a GPU, or for Kueue's admission). */
  | 'pending'
  | 'running'
  | 'succeeded'
  /** Exited non-zero, or refused by the cluster after submission: the job's own error. */
  | 'failed'
  /** Killed from outside (spot reclaim, OOM killer, node loss): resubmit to resume. */
  | 'preempted'
  /** Cancelled through `cancel`. */
  | 'cancelled'
  /** Never submitted (or cleaned up). */
  | 'unknown';

export interface JobStatus {
  state: JobState;
  /** The job's last checkpoint as it wrote it, or null before its first one. */
  checkpoint: string | null;
  exitCode: number | null;
  message: string;
  /**
   * Disruptions the runner resumed from by itself (Kubernetes: Pods ended by a DisruptionTarget
   * condition, replaced by the Job controller); the local runner leaves resuming to the caller.
   */
  disruptions?: number;
  /** Set on a `failed` job the cluster would not start: its quota has no room for it. */
  refusal?: 'quota-exceeded';
}

export interface JobRunner {
  /** The id `submit` returns for this spec, known before submitting (to re-attach). */
  jobIdOf(spec: JobSpec): string;
  /** Starts the job unless it is running already (or succeeded); returns its id. */
  submit(spec: JobSpec): Promise<string>;
  status(jobId: string): Promise<JobStatus>;
  /** Stops the job if it runs and removes what it left behind. Idempotent. */
  cancel(jobId: string): Promise<void>;
  /**
   * Resolves when something about the job changed (a watch event) or after `timeoutMs`,
   * whichever is first; runners without a watch leave it out and the caller polls.
   */
  changed?(jobId: string, timeoutMs: number): Promise<void>;
  /** Releases what the runner holds open (watches), at the worker's shutdown. */
  close?(): Promise<void>;
}

/** Why a runner refused a spec before (or instead of) starting it; never worth retrying. */
export type JobRefusalKind = 'invalid-spec' | 'quota-exceeded';

export interface JobSpecIssue {
  /** Field path into the spec, e.g. `resources.limits.nvidia.com/gpu`, or `namespace`. */
  path: string;
  message: string;
}

export class JobRefusedError extends Error {
  override name = 'JobRefusedError';
  readonly kind: JobRefusalKind;
  readonly issues: readonly JobSpecIssue[];
  constructor(kind: JobRefusalKind, message: string, issues: readonly JobSpecIssue[] = []) {
    super(message);
    this.kind = kind;
    this.issues = issues;
  }
}
