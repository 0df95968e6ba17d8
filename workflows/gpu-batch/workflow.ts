/**
 * gpu.batch: one batch job through the `jobs` activity family under the `gpuJob` preset (long
 * start-to-close, heartbeat timeout, slow retries, wait for cancellation to finish). The
 * workflow only names the job — the input's name plus a suffix from the workflow id, stable
 * across retries and unique per workflow — and lets the activity watch it; a workflow
 * cancellation cancels the activity, which stops and cleans up the job before the workflow ends.
 * The job's owner (workflow id, department from the memo every tandem flow carries) labels the
 * Kubernetes Job; its namespace is the department's tenant's, else the runner's default. Before
 * anything runs, a batch started at peak time waits for (or is refused by) its department's
 * off-peak window (off-peak.ts), and a spot batch of a department whose tenant does not allow
 * spot runs on on-demand capacity.
 */
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { JobActivities } from '../../services/worker/activities/jobs.ts';
import type { TenantActivities } from '../../services/worker/activities/tenants.ts';
import type { GpuBatchInput, GpuBatchResult } from '../../shared/contracts/gpu-batch.ts';
import { gpuJob, local } from '../activity-options.ts';
import { waitForOffPeakWindow } from './off-peak.ts';

const { runJob } = proxyActivities<JobActivities>(gpuJob);
const { gpuBatchTenancy } = proxyActivities<TenantActivities>(local);

/** FNV-1a, 32 bit, as 7 base-36 digits: short enough for a Kubernetes name, deterministic. */
export function jobSuffix(workflowId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < workflowId.length; i += 1) {
    hash ^= workflowId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(36).padStart(7, '0');
}

export async function gpuBatchWorkflow(input: GpuBatchInput): Promise<GpuBatchResult> {
  const { workflowId, memo } = workflowInfo();
  const name = `${input.name}-${jobSuffix(workflowId)}`;
  const department = typeof memo?.department === 'string' ? memo.department : 'unassigned';
  // The department's tenant: its off-peak window and its namespace. Batches started before
  // tenants existed read none; their histories replay without the step.
  let namespace: string | null = null;
  let spot = input.spot;
  if (typeof memo?.department === 'string' && patched('gpu-batch-tenant')) {
    const tenancy = await gpuBatchTenancy({ department });
    await waitForOffPeakWindow(tenancy.peak);
    namespace = tenancy.namespace;
    // `spot` says the job may use spot capacity; the tenant says whether the department may.
    // (Older results have no spotAllowed: undefined keeps the input's choice.)
    if (tenancy.spotAllowed === false) spot = false;
  }
  return runJob({ ...input, spot, name, owner: { workflowId, department, ...(namespace ? { namespace } : {}) } });
}
