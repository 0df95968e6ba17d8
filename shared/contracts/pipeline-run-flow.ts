/**
 * `pipeline.run`: a durable flow runs an applied pipeline's Airflow DAG for chosen partitions and
 * waits for it (Temporal → Airflow). Pure: zod only (workflow code imports the inferred types).
 */
import { z } from 'zod';
import { departmentIdSchema } from './roles.ts';

export const pipelineRunFlowInputSchema = z
  .object({
    pipelineId: z.string().min(1).max(63).describe('Id of an applied pipeline (its DAG is tandem__<id>)'),
    partitions: z
      .array(z.string().min(1).max(63))
      .min(1)
      .optional()
      .describe('Partition keys to run (each must be one of the spec’s keys); default: all'),
    force: z.boolean().default(false).describe('Run partitions whose sources did not change'),
    department: departmentIdSchema.describe('The pipeline’s department; must be within the starting key’s scope'),
  })
  .strict()
  .meta({ id: 'PipelineRunFlowInput' });
export type PipelineRunFlowInput = z.infer<typeof pipelineRunFlowInputSchema>;

/** How one partition ended in the run (see services/pipelines/runs.ts `partitionState`). */
export const partitionOutcomeSchema = z.object({
  partition: z.string(),
  state: z.enum(['queued', 'running', 'ran', 'skipped', 'failed', 'not_run']),
});

export const pipelineRunFlowResultSchema = z
  .object({
    pipelineId: z.string(),
    dagId: z.string(),
    dagRunId: z.string().describe('Derived from the workflow id: a retried or replayed trigger finds this run'),
    state: z.literal('success').describe('A failed run fails the workflow, with the failed task’s log excerpt'),
    partitions: z.array(partitionOutcomeSchema).describe('Each partition the run covered: ran, or skipped as unchanged'),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: 'PipelineRunFlowResult' });
export type PipelineRunFlowResult = z.infer<typeof pipelineRunFlowResultSchema>;
