/**
 * The review a promotion asks for: the artifact is the candidate version's evaluation report, so
 * the reviewer sees the metrics, the previous version's and the failed checks. Pure, used by both
 * kb.refresh and model.promote (workflow code: no I/O).
 */
import type { EvaluationReport } from '../../shared/contracts/index-promotion.ts';
import type { ReviewRequestInput } from '../../shared/contracts/reviews.ts';
import { defaultReviewPolicy } from '../../shared/contracts/review-terms.ts';

export interface PromotionReviewRequest {
  department: string;
  reviewType: string;
  alias: string;
  report: EvaluationReport;
  reviewer: { assignee: string; escalationContact: string; policy?: ReviewRequestInput['policy'] };
}

export function promotionReviewInput(r: PromotionReviewRequest): ReviewRequestInput {
  const checks = r.report.failures.length ? r.report.failures.join('; ') : 'all checks passed';
  return {
    department: r.department,
    reviewType: r.reviewType,
    title: `Promote ${r.alias} to ${r.report.version}? ${checks}`.slice(0, 500),
    artifact: {
      uri: `tandem://index-versions/${encodeURIComponent(r.alias)}/${encodeURIComponent(r.report.version)}/evaluation`,
      version: r.report.version,
      summary: JSON.stringify(r.report).slice(0, 10_000),
    },
    assignee: r.reviewer.assignee,
    escalationContact: r.reviewer.escalationContact,
    policy: r.reviewer.policy ?? { ...defaultReviewPolicy },
  };
}
