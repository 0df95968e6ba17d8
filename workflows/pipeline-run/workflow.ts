/**
 * pipeline.run: run an applied pipeline's Airflow DAG for chosen partitions and wait for it.
 *
 *   resolve (the pipeline must belong to the requested department, which the starter's key must
 *     cover; partitions must be spec keys — refusals are non-retryable)
 *   → trigger the DAG run with a run id derived from this workflow id (a retried or replayed
 *     trigger finds the same run, never a second one)
 *   → wait: one short poll at a time, durable timers in between (no worker slot held); a failed
 *     run fails this workflow with the failed task's log excerpt
 *   → read back each partition's outcome (ran, or skipped as unchanged).
 *
 * Cancelling the workflow marks the DAG run failed in Airflow, in a non-cancellable scope, so no
 * orphan run keeps going after the flow that wanted it is gone.
 */
import { CancellationScope, isCancellation, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { AirflowActivities } from '../../services/worker/activities/airflow.ts';
import type { PipelineActivities } from '../../services/worker/activities/pipelines.ts';
import type { PipelineRunFlowInput, PipelineRunFlowResult } from '../../shared/contracts/pipeline-run-flow.ts';
import { airflowCall, local } from '../activity-options.ts';
import { dagRunIdOf, waitForDagRun } from '../airflow-wait.ts';

const { triggerDagRun, failDagRun } = proxyActivities<AirflowActivities>(airflowCall);
const { describePipelineRun } = proxyActivities<PipelineActivities>(airflowCall);
// A read of the local store: quick, and its refusals are non-retryable anyway.
const { resolvePipelineRun } = proxyActivities<PipelineActivities>(local);

export async function pipelineRunWorkflow(input: PipelineRunFlowInput): Promise<PipelineRunFlowResult> {
  const { workflowId, memo } = workflowInfo();
  const scope = typeof memo?.department === 'string' ? memo.department : null;
  const { dagId, conf } = await resolvePipelineRun({
    pipelineId: input.pipelineId,
    department: input.department,
    scope,
    partitions: input.partitions,
    force: input.force,
  });
  const ref = { dagId, runId: dagRunIdOf(workflowId) };

  // A cancel arriving mid-trigger waits for the trigger to finish, so the cleanup below never
  // misses a run that the in-flight request was about to create.
  await CancellationScope.nonCancellable(() => triggerDagRun({ ...ref, conf }));
  try {
    await waitForDagRun(ref);
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => failDagRun({ ...ref, note: `cancelled with the tandem workflow ${workflowId}` }));
    }
    throw err;
  }

  const outcome = await describePipelineRun({ pipelineId: input.pipelineId, ...ref, partitions: conf.partitions });
  return { pipelineId: input.pipelineId, dagId, dagRunId: ref.runId, state: 'success', ...outcome };
}
