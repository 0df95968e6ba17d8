/**
 * model.promote: evaluate → review (a `review.request` child, always: a model reaches patients
 * only with a human's approval) → promote (alias switch) → deploy (activity hook). If the deploy
 * fails after its retries, the compensation switches the alias back to the version it had
 * before, so readers never resolve to a version that is not serving.
 */
import { ActivityFailure, ApplicationFailure, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DeployActivities } from '../../services/worker/activities/deploy.ts';
import type { EvaluationActivities } from '../../services/worker/activities/evaluation.ts';
import { modelAliasOf } from '../../shared/contracts/aliases.ts';
import type { ModelPromotionInput, ModelPromotionResult } from '../../shared/contracts/index-promotion.ts';
import { deploy, evaluation } from '../activity-options.ts';
import { promotionReviewInput } from '../kb-refresh/review-artifact.ts';
import { reviewWorkflow } from '../review/workflow.ts';

const { evaluateIndexVersion, promoteIndexVersion, rollbackAlias } = proxyActivities<EvaluationActivities>(evaluation);
const { deployModel } = proxyActivities<DeployActivities>(deploy);

export async function modelPromotionWorkflow(input: ModelPromotionInput): Promise<ModelPromotionResult> {
  const { workflowId } = workflowInfo();
  const alias = modelAliasOf(input.department, input.model);

  const report = await evaluateIndexVersion({ alias, version: input.newVersion, goldenSet: input.goldenSet, thresholds: input.thresholds });
  const review = await executeChild(reviewWorkflow, {
    workflowId: `${workflowId}/review`,
    args: [promotionReviewInput({ department: input.department, reviewType: 'model-promotion', alias, report, reviewer: input.review })],
  });
  if (review.outcome !== 'approved') {
    return { outcome: 'not-promoted', alias, aliasVersion: report.previousVersion, evaluation: report, review, deployError: null };
  }

  const promoted = await promoteIndexVersion({ alias, version: input.newVersion, reason: `approved by ${review.decidedBy ?? 'reviewer'}`, actor: workflowId });
  try {
    await deployModel({ department: input.department, model: input.model, alias, version: input.newVersion });
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const cause = err.cause instanceof ApplicationFailure || err.cause instanceof Error ? err.cause.message : err.message;
    const back = await rollbackAlias({ alias, version: promoted.previousVersion, reason: `deploy failed: ${cause}`, actor: workflowId });
    return { outcome: 'rolled-back', alias, aliasVersion: back.version, evaluation: report, review, deployError: cause };
  }
  return { outcome: 'deployed', alias, aliasVersion: promoted.version, evaluation: report, review, deployError: null };
}
