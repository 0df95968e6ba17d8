/**
 * kb.refresh: rebuild a knowledge-base index in Airflow, evaluate it on the golden set, and
 * promote it only if it is at least as good as what readers use now.
 *
 *   trigger DAG run (run id derived from this workflow id: a retried trigger finds the same run)
 *   → wait for it (short polls and durable timers; a failed run fails this workflow with the task log)
 *   → evaluate (recall@k, MRR vs thresholds and vs the alias's current version)
 *   → pass: switch the alias to the new version
 *   → regression: no switch; a `review.request` child with the metrics as the artifact decides,
 *     and only `approved` promotes.
 */
import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { AirflowActivities } from '../../services/worker/activities/airflow.ts';
import type { EvaluationActivities } from '../../services/worker/activities/evaluation.ts';
import { kbAliasOf } from '../../shared/contracts/aliases.ts';
import type { EvaluationReport, KbRefreshInput, KbRefreshResult } from '../../shared/contracts/index-promotion.ts';
import type { ReviewResult } from '../../shared/contracts/reviews.ts';
import { airflowCall, evaluation } from '../activity-options.ts';
import { dagRunIdOf, waitForDagRun } from '../airflow-wait.ts';
import { reviewWorkflow } from '../review/workflow.ts';
import { promotionReviewInput } from './review-artifact.ts';

const { triggerDagRun } = proxyActivities<AirflowActivities>(airflowCall);
const { evaluateIndexVersion, promoteIndexVersion } = proxyActivities<EvaluationActivities>(evaluation);

export { dagRunIdOf };

export async function kbRefreshWorkflow(input: KbRefreshInput): Promise<KbRefreshResult> {
  const { workflowId } = workflowInfo();
  const alias = kbAliasOf(input.department, input.dagId);
  const runId = dagRunIdOf(workflowId);
  // force: a new index version needs every chosen partition built for it, changed or not (a
  // skipped partition would publish nothing and read as a regression).
  const conf = { department: input.department, newVersion: input.newVersion, alias, force: true, ...(input.partitions ? { partitions: input.partitions } : {}) };

  await triggerDagRun({ dagId: input.dagId, runId, conf });
  await waitForDagRun({ dagId: input.dagId, runId });

  const report: EvaluationReport = await evaluateIndexVersion({
    alias,
    version: input.newVersion,
    goldenSet: input.goldenSet,
    thresholds: input.thresholds,
  });

  let review: ReviewResult | null = null;
  if (!report.passed) {
    review = await executeChild(reviewWorkflow, {
      workflowId: `${workflowId}/review`,
      args: [promotionReviewInput({ department: input.department, reviewType: 'kb-regression', alias, report, reviewer: input.review })],
    });
  }

  if (report.passed || review?.outcome === 'approved') {
    const promoted = await promoteIndexVersion({
      alias,
      version: input.newVersion,
      reason: report.passed ? 'evaluation passed' : `regression approved by ${review?.decidedBy ?? 'reviewer'}`,
      actor: workflowId,
    });
    return { outcome: 'promoted', alias, aliasVersion: promoted.version, dagRunId: runId, evaluation: report, review };
  }
  return { outcome: 'not-promoted', alias, aliasVersion: report.previousVersion, dagRunId: runId, evaluation: report, review };
}
