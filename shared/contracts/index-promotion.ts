/**
 * Evaluation-gated promotion of knowledge-base index versions (`kb.refresh`) and models
 * (`model.promote`): the golden set, the thresholds, the metrics, and both flows' inputs and
 * results. Pure: zod only (workflow code imports the inferred types).
 *
 * Metrics (services/worker/activities/evaluation-metrics.ts): `recall@k` is the mean over golden
 * queries of |expected ∩ top-k retrieved| / |expected|; `mrr` is the mean reciprocal rank of the
 * first expected document in the retrieved list (0 when none is retrieved).
 */
import { z } from 'zod';
import { departmentIdSchema } from './roles.ts';
import { artifactVersionSchema, reviewEscalationPolicySchema, reviewResultSchema } from './reviews.ts';

export const goldenQuerySchema = z
  .object({
    id: z.string().min(1).max(200),
    query: z.string().min(1).max(10_000),
    expectedDocIds: z.array(z.string().min(1)).min(1).describe('Documents a correct retrieval returns, in any order'),
  })
  .strict();
export type GoldenQuery = z.infer<typeof goldenQuerySchema>;

export const goldenSetSchema = z
  .array(goldenQuerySchema)
  .min(1)
  .max(10_000)
  .refine((qs) => new Set(qs.map((q) => q.id)).size === qs.length, { message: 'query ids must be unique' })
  .meta({ id: 'GoldenSet' });

const metricValue = z.number().min(0).max(1);

export const evaluationThresholdsSchema = z
  .object({
    k: z.number().int().min(1).max(1000).default(5).describe('Cut-off for recall@k'),
    minRecallAtK: metricValue.default(0),
    minMrr: metricValue.default(0),
    regressionTolerance: metricValue.default(0.01).describe('A metric may drop this much below the previous version before it counts as a regression'),
  })
  .strict()
  .meta({ id: 'EvaluationThresholds' });
export type EvaluationThresholds = z.infer<typeof evaluationThresholdsSchema>;

export const evaluationReportSchema = z
  .object({
    version: z.string(),
    previousVersion: z.string().nullable(),
    metrics: z.record(z.string(), z.number()),
    previousMetrics: z.record(z.string(), z.number()).nullable(),
    passed: z.boolean(),
    /** Why it did not pass, one line per failed check; empty when passed. */
    failures: z.array(z.string()),
    /** The minimum each metric had to reach, and how far below the previous version it may drop. */
    minimums: z.record(z.string(), z.number()).optional(),
    regressionTolerance: z.number().optional(),
  })
  .meta({ id: 'EvaluationReport' });
export type EvaluationReport = z.infer<typeof evaluationReportSchema>;

export const promotionReviewerSchema = z
  .object({
    assignee: z.string().min(1).max(200),
    escalationContact: z.string().min(1).max(200),
    policy: reviewEscalationPolicySchema.optional(),
  })
  .strict();

export const kbRefreshInputSchema = z
  .object({
    department: departmentIdSchema,
    dagId: z.string().min(1).max(250).describe('The Airflow DAG that builds the new index version'),
    partitions: z.array(z.string().min(1)).max(10_000).optional().describe('Passed to the DAG run as conf.partitions'),
    newVersion: artifactVersionSchema.describe('The index version the run produces'),
    goldenSet: goldenSetSchema,
    thresholds: evaluationThresholdsSchema.prefault({}),
    review: promotionReviewerSchema.describe('Who reviews a regression'),
  })
  .strict()
  .meta({ id: 'KbRefreshInput' });
export type KbRefreshInput = z.infer<typeof kbRefreshInputSchema>;

const promotionOutcome = z.enum(['promoted', 'not-promoted']);

export const kbRefreshResultSchema = z
  .object({
    outcome: promotionOutcome,
    alias: z.string(),
    /** The version the alias points at when the flow ends. */
    aliasVersion: z.string().nullable(),
    dagRunId: z.string(),
    evaluation: evaluationReportSchema,
    review: reviewResultSchema.nullable(),
  })
  .meta({ id: 'KbRefreshResult' });
export type KbRefreshResult = z.infer<typeof kbRefreshResultSchema>;

export const modelPromotionInputSchema = z
  .object({
    department: departmentIdSchema,
    model: z.string().min(1).max(200),
    newVersion: artifactVersionSchema,
    goldenSet: goldenSetSchema,
    thresholds: evaluationThresholdsSchema.prefault({}),
    review: promotionReviewerSchema,
  })
  .strict()
  .meta({ id: 'ModelPromotionInput' });
export type ModelPromotionInput = z.infer<typeof modelPromotionInputSchema>;

export const modelPromotionResultSchema = z
  .object({
    outcome: z.enum(['deployed', 'not-promoted', 'rolled-back']),
    alias: z.string(),
    aliasVersion: z.string().nullable(),
    evaluation: evaluationReportSchema,
    review: reviewResultSchema,
    /** The deploy failure message when the alias was rolled back. */
    deployError: z.string().nullable(),
  })
  .meta({ id: 'ModelPromotionResult' });
export type ModelPromotionResult = z.infer<typeof modelPromotionResultSchema>;
