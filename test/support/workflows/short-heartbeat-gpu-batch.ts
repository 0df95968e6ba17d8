/**
 * Test-only workflow: runJob under the `gpuJob` preset with its heartbeat timeout and first retry
 * interval shortened to seconds, so a test can watch Temporal notice a silent worker in real
 * time on the dev server (the time-skipping server does not skip time while an activity runs).
 * Everything else — retries, cancellation type, the activity — is the production preset's.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { JobActivities, RunJobInput } from '../../../services/worker/activities/jobs.ts';
import { gpuJob } from '../../../workflows/activity-options.ts';

export const shortHeartbeatTimeout = '2 seconds';

const { runJob } = proxyActivities<JobActivities>({
  ...gpuJob,
  heartbeatTimeout: shortHeartbeatTimeout,
  retry: { ...gpuJob.retry, initialInterval: '200 milliseconds' },
});

export async function shortHeartbeatGpuBatch(input: RunJobInput): ReturnType<JobActivities['runJob']> {
  return runJob(input);
}
