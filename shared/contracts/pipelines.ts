/**
 * Applied pipelines as the control API shows them (`/v1/pipelines`): the pipeline view, the apply
 * result, runs with the state of each partition, trigger requests, and the per-partition
 * fingerprint view. The response schemas of the routes and the types the pipeline service returns
 * both come from here, so the OpenAPI document and the code cannot drift apart.
 *
 * Pure: zod only.
 */
import { z } from 'zod';
import { pipelineRunPartitionsSchema } from './webhooks.ts';
import { nextLinkSchema, pageQuery } from './pagination.ts';
import { lintFindingSchema } from './pipeline-spec.ts';

export const pipelineIdParamsSchema = z.object({ id: z.string().min(1).max(63) });
/** Airflow run ids hold `:`, `+` …: one URL-encoded path segment. */
export const pipelineRunParamsSchema = pipelineIdParamsSchema.extend({ runId: z.string().min(1).max(250) });

export const pipelineStatuses = ['deployed', 'paused', 'deleted', 'failed'] as const;

export const pipelineViewSchema = z
  .object({
    id: z.string(),
    department: z.string(),
    description: z.string(),
    status: z.enum(pipelineStatuses),
    schedule: z.object({ cron: z.string(), timezone: z.string(), description: z.string().nullable() }).nullable(),
    partitionKeys: z.array(z.string()).nullable(),
    partitionByDate: z.boolean(),
    specHash: z.string(),
    dagId: z.string(),
    fileName: z.string(),
    deployedAt: z.string().nullable(),
    lastError: z.string().nullable(),
    updatedAt: z.string(),
    spec: z.unknown(),
  })
  .meta({ id: 'Pipeline' });
export type PipelineView = z.infer<typeof pipelineViewSchema>;

export const pipelineListSchema = z.object({ pipelines: z.array(pipelineViewSchema), next: nextLinkSchema });
// Not z.coerce.boolean: that reads `false` (any non-empty string) as true.
export const pipelineListQuerySchema = z.object({ includeDeleted: z.enum(['true', 'false']).default('false'), ...pageQuery() }).strict();

export const applyResultSchema = z
  .object({
    pipeline: pipelineViewSchema,
    warnings: z.array(lintFindingSchema),
    /** The generated file was identical to the deployed one. */
    unchanged: z.boolean(),
  })
  .meta({ id: 'PipelineApplyResult' });
export type ApplyResult = z.infer<typeof applyResultSchema>;

/** How one partition stands in one run, derived from the task instances of its task group. */
export const partitionRunStates = ['queued', 'running', 'ran', 'skipped', 'failed', 'not_run'] as const;
export type PartitionRunState = (typeof partitionRunStates)[number];

export const partitionRunViewSchema = z.object({
  partition: z.string(),
  state: z.enum(partitionRunStates),
  /** task id (without the group prefix) → Airflow state */
  tasks: z.record(z.string(), z.string().nullable()),
});
export type PartitionRunView = z.infer<typeof partitionRunViewSchema>;

export const pipelineRunViewSchema = z
  .object({
    runId: z.string(),
    state: z.string(),
    runType: z.string(),
    logicalDate: z.string().nullable(),
    runAfter: z.string(),
    startDate: z.string().nullable(),
    endDate: z.string().nullable(),
    conf: z.record(z.string(), z.unknown()).nullable(),
    partitions: z.array(partitionRunViewSchema),
  })
  .meta({ id: 'PipelineRun' });
export type PipelineRunView = z.infer<typeof pipelineRunViewSchema>;

export const pipelineRunListSchema = z.object({ runs: z.array(pipelineRunViewSchema), next: nextLinkSchema });
export const pipelineRunListQuerySchema = z.object({ ...pageQuery(20, 100) }).strict();

const isoDay = z.iso.date('must be a date YYYY-MM-DD');

export const triggerRequestSchema = z
  .object({
    partitions: z.array(z.string().min(1).max(63)).min(1).optional(),
    force: z.boolean().default(false),
    /** Backfill: one run per day from `from` to `to`, inclusive. */
    from: isoDay.optional(),
    to: isoDay.optional(),
  })
  .strict()
  .meta({ id: 'PipelineTriggerRequest' });
export type TriggerRequest = z.input<typeof triggerRequestSchema>;

export const triggeredRunSchema = z.object({
  runId: z.string(),
  logicalDate: z.string().nullable(),
  state: z.string(),
  /** False when the Idempotency-Key matched a run that already existed. */
  created: z.boolean(),
});
export type TriggeredRun = z.infer<typeof triggeredRunSchema>;
export const triggeredRunsSchema = z.object({ runs: z.array(triggeredRunSchema) });

export const recordedRunEndSchema = z
  .object({
    pipelineId: z.string(),
    dagId: z.string(),
    runId: z.string(),
    state: z.enum(['success', 'failed']),
    partitions: pipelineRunPartitionsSchema,
  })
  .meta({ id: 'RecordedPipelineRunEnd' });

export const partitionViewSchema = z
  .object({
    partition: z.string(),
    fingerprints: z.array(
      z.object({
        source: z.string(),
        kind: z.string(),
        identity: z.string(),
        value: z.record(z.string(), z.unknown()),
        committedAt: z.string(),
        changedAt: z.string(),
        committedRunId: z.string(),
      }),
    ),
    lastChangedAt: z.string().nullable(),
    lastRun: z
      .object({ runId: z.string(), outcome: z.enum(['pending', 'ran', 'skipped', 'failed']), reason: z.string(), at: z.string() })
      .nullable(),
  })
  .meta({ id: 'PipelinePartition' });
export type PartitionView = z.infer<typeof partitionViewSchema>;
export const partitionListSchema = z.object({ partitions: z.array(partitionViewSchema) });
