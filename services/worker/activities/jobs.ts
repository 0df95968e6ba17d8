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
 *     retryably (`GpuJobPreempted`) and the preset's backoff decides when to try again. A
 *     runner that resumes by itself (Kubernetes: the Job controller replaces a disrupted Pod of
 *     fault-tolerant work) reports those as `disruptions`, counted into the result's preemptions;
 *     there the Job's activeDeadlineSeconds, not maxPreemptions, bounds them;
 *   - between looks the activity waits on the runner's watch (`changed`) where it has one;
 *   - cancellation reaches the activity through the heartbeat; it cancels the job (kill, clean
 *     up) before reporting cancelled, and the preset waits for that (WAIT_CANCELLATION_COMPLETED).
 *
 * A job that exits non-zero failed on its own code or data: non-retryable `GpuJobFailed`, its
 * message with the container's last log lines. A spec the runner refuses (`GpuJobInvalidSpec`,
 * with field paths) or a quota with no room (`GpuJobQuotaExceeded`, with the numbers) fails the
 * flow at once too.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { GpuBatchResult } from '../../../shared/contracts/gpu-batch.ts';
import { activityErrorTypes, retryableErrorTypes } from '../../../shared/contracts/activity-errors.ts';
import { JobRefusedError, type JobRunner, type JobSpec } from '../../../shared/contracts/job-runner.ts';

export type RunJobInput = JobSpec & {
  maxPreemptions: number;
};

/** Heartbeat details: everything a retried attempt needs to carry on where the last one was. */
export interface JobHeartbeat {
  jobId: string;
  checkpoint: string | null;
  preemptions: number;
  submissions: number;
}

export interface JobActivityOptions {
  runner: JobRunner;
  /**
   * How often the activity looks at the job (and heartbeats); a runner with `changed` (a watch)
   * wakes it sooner when something happens.
   */
  pollIntervalMs?: number;
}

/** A refusal (invalid spec, no room in the quota) fails the flow: no retry makes room or fixes the spec. */
function refusalFailure(jobId: string, err: JobRefusedError): ApplicationFailure {
  return ApplicationFailure.create({
    type: err.kind === 'quota-exceeded' ? activityErrorTypes.gpuJob.quotaExceeded : activityErrorTypes.gpuJob.invalidSpec,
    message: err.message,
    nonRetryable: true,
    details: [{ jobId, issues: err.issues }],
  });
}

export function createJobActivities({ runner, pollIntervalMs = 2000 }: JobActivityOptions) {
  return {
    async runJob(input: RunJobInput): Promise<GpuBatchResult> {
      const ctx = Context.current();
      const { maxPreemptions, ...spec } = input;
      const previous = ctx.info.heartbeatDetails as JobHeartbeat | undefined;
      const jobId = runner.jobIdOf(spec);
      let preemptions = previous?.preemptions ?? 0;
      let submissions = previous?.submissions ?? 0;
      let checkpoint = previous?.checkpoint ?? null;
      // Disruptions the runner recovered from itself (the Kubernetes Job controller), on top of ours.
      let disruptions = 0;
      const beat = () => ctx.heartbeat({ jobId, checkpoint, preemptions, submissions } satisfies JobHeartbeat);
      const submit = async () => {
        try {
          await runner.submit(spec);
        } catch (err) {
          throw err instanceof JobRefusedError ? refusalFailure(jobId, err) : err;
        }
        submissions += 1;
      };

      try {
        // A retried attempt re-attaches: a running job keeps running, a finished one is reported.
        let status = await runner.status(jobId);
        if (status.state === 'unknown' || status.state === 'preempted' || status.state === 'cancelled') {
          await submit();
          ctx.log.info('job submitted', { jobId, submissions, resumeFrom: status.checkpoint });
        }
        for (;;) {
          status = await runner.status(jobId);
          checkpoint = status.checkpoint ?? checkpoint;
          disruptions = Math.max(disruptions, status.disruptions ?? 0);
          beat();
          switch (status.state) {
            case 'succeeded':
              return { jobId, exitCode: 0, checkpoint, preemptions: preemptions + disruptions, submissions };
            case 'failed':
              if (status.refusal === 'quota-exceeded') {
                // Delete it: the Job controller would otherwise create its Pod once the quota has
                // room, running a job whose flow has already failed.
                await runner.cancel(jobId);
                throw refusalFailure(jobId, new JobRefusedError('quota-exceeded', `job ${jobId} cannot start: ${status.message}`));
              }
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
              await submit();
              beat();
              break;
            case 'pending':
            case 'running':
              break;
          }
          if (runner.changed) await Promise.race([ctx.cancelled, runner.changed(jobId, pollIntervalMs)]);
          else await ctx.sleep(pollIntervalMs);
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
