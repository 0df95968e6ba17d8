/**
 * The jobs family (GPU/CPU batch work, `gpuJob` preset): `runJob` submits a job through the
 * job runner and stays with it until it ends, heartbeating every poll with the job id and its
 * last checkpoint. That heartbeat is what makes the long activity safe:
 *
 *   - a dead worker stops heartbeating, Temporal notices within the heartbeat timeout and retries
 *     the activity; the retry reads the last heartbeat details and re-attaches to the job if it
 *     still runs, or submits it again, and the job resumes from its checkpoint file;
 *   - a job killed from outside (preemption) is resubmitted in the same attempt, up to the
 *     input's maxPreemptions, resuming from its checkpoint; past that the attempt fails
 *     retryably (`GpuJobPreempted`) and the preset's backoff decides when to try again;
 *   - cancellation reaches the activity through the heartbeat; it cancels the job (kill, clean
 *     up) before reporting cancelled, and the preset waits for that (WAIT_CANCELLATION_COMPLETED).
 *
 * A job that exits non-zero failed on its own code or data: non-retryable `GpuJobFailed`.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { GpuBatchResult } from '../../../shared/contracts/gpu-batch.ts';
import { activityErrorTypes, retryableErrorTypes } from '../../../shared/contracts/activity-errors.ts';
import type { JobRunner, JobSpec } from '../jobs/job-runner.ts';

export interface RunJobInput extends JobSpec {
  maxPreemptions: number;
}

/** Heartbeat details: everything a retried attempt needs to carry on where the last one was. */
export interface JobHeartbeat {
  jobId: string;
  checkpoint: string | null;
  preemptions: number;
  submissions: number;
}

export interface JobActivityOptions {
  runner: JobRunner;
  /** How often the activity looks at the job (and heartbeats). */
  pollIntervalMs?: number;
}

export function createJobActivities({ runner, pollIntervalMs = 2000 }: JobActivityOptions) {
  return {
    async runJob(input: RunJobInput): Promise<GpuBatchResult> {
      const ctx = Context.current();
      const { maxPreemptions, ...spec } = input;
      const previous = ctx.info.heartbeatDetails as JobHeartbeat | undefined;
      const jobId = spec.name;
      let preemptions = previous?.preemptions ?? 0;
      let submissions = previous?.submissions ?? 0;
      let checkpoint = previous?.checkpoint ?? null;
      const beat = () => ctx.heartbeat({ jobId, checkpoint, preemptions, submissions } satisfies JobHeartbeat);

      try {
        // A retried attempt re-attaches: a running job keeps running, a finished one is reported.
        let status = await runner.status(jobId);
        if (status.state === 'unknown' || status.state === 'preempted' || status.state === 'cancelled') {
          await runner.submit(spec);
          submissions += 1;
          ctx.log.info('job submitted', { jobId, submissions, resumeFrom: status.checkpoint });
        }
        for (;;) {
          status = await runner.status(jobId);
          checkpoint = status.checkpoint ?? checkpoint;
          beat();
          switch (status.state) {
            case 'succeeded':
              return { jobId, exitCode: 0, checkpoint, preemptions, submissions };
            case 'failed':
              throw ApplicationFailure.create({
                type: activityErrorTypes.gpuJob.failed,
                message: `job ${jobId} failed: ${status.message}`,
                nonRetryable: true,
                details: [{ jobId, exitCode: status.exitCode, checkpoint }],
              });
            case 'preempted':
            case 'unknown':
            case 'cancelled':
              if (!input.faultTolerant || preemptions >= maxPreemptions) {
                throw ApplicationFailure.create({
                  type: retryableErrorTypes.gpuJob.preempted,
                  message: `job ${jobId} was stopped from outside (${status.message}) after ${preemptions} resumption(s); ` +
                    (input.faultTolerant ? `maxPreemptions is ${maxPreemptions}` : 'it is not faultTolerant, so it is not resumed within an attempt'),
                  details: [{ jobId, checkpoint, preemptions }],
                });
              }
              preemptions += 1;
              ctx.log.warn('job preempted; resuming from its checkpoint', { jobId, checkpoint, preemptions });
              await runner.submit(spec);
              submissions += 1;
              beat();
              break;
            case 'pending':
            case 'running':
              break;
          }
          await ctx.sleep(pollIntervalMs);
        }
      } catch (err) {
        // Only a requested cancellation stops the job: on a timeout or a worker shutdown the job
        // keeps running for the next attempt to re-attach to.
        if (ctx.cancellationSignal.aborted && ctx.cancellationDetails?.cancelRequested) {
          // Never leave GPUs busy for a workflow nobody waits for.
          await runner.cancel(jobId);
          ctx.log.info('job cancelled and cleaned up', { jobId, checkpoint });
        }
        throw err;
      }
    },
  };
}

export type JobActivities = ReturnType<typeof createJobActivities>;
