/**
 * Where batch jobs run. The `jobs` activity family talks only to this interface, so the local
 * process runner (development, tests) and the Kubernetes runner (later) are interchangeable.
 *
 * A job is addressed by its name (its id): `submit` is idempotent while the job runs, and a
 * second `submit` after the job was killed starts it again with the same checkpoint file, which
 * is how a preempted job resumes. Pure: types only.
 */
import type { GpuBatchInput } from '../../../shared/contracts/gpu-batch.ts';

export type JobSpec = Omit<GpuBatchInput, 'maxPreemptions'>;

export type JobState =
  /** Submitted, not yet running (a pod waiting for a GPU). */
  | 'pending'
  | 'running'
  | 'succeeded'
  /** Exited non-zero: the job's own error. */
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
}

export interface JobRunner {
  /** Starts the job unless it is running already; returns its id. */
  submit(spec: JobSpec): Promise<string>;
  status(jobId: string): Promise<JobStatus>;
  /** Stops the job if it runs and removes what it left behind. Idempotent. */
  cancel(jobId: string): Promise<void>;
}
