/** Responses of /v1/workflows: what a caller sees of a durable flow it started. */
import { z } from 'zod';
import { nextLinkSchema, pageQuery } from './pagination.ts';
import { workflowTypeNameSchema } from './workflow-types.ts';

export const workflowStatusSchema = z
  .enum(['running', 'completed', 'failed', 'cancelled', 'terminated', 'timed_out', 'continued_as_new', 'unknown'])
  .meta({ id: 'WorkflowStatus' });

export const workflowStartedSchema = z
  .object({
    workflowId: z.string(),
    runId: z.string(),
    type: z.string(),
    /** False when an Idempotency-Key matched a workflow that was already started. */
    created: z.boolean(),
  })
  .meta({ id: 'WorkflowStarted' });

export const workflowIdParamsSchema = z.object({ id: z.string().min(1).max(400) });

/** What a running workflow waits for, from its memo (`waiting`), while it sleeps on a durable timer. */
export const workflowWaitSchema = z
  .object({
    reason: z.enum(['off-peak-window']).describe('`off-peak-window`: a GPU batch waits for its department’s off-peak window'),
    until: z.iso.datetime().describe('When the wait ends'),
    detail: z.string(),
  })
  .meta({ id: 'WorkflowWait' });
export type WorkflowWait = z.infer<typeof workflowWaitSchema>;

export const workflowStateSchema = z
  .object({
    workflowId: z.string(),
    runId: z.string(),
    type: z.string(),
    status: workflowStatusSchema,
    department: z.string().nullable(),
    startedBy: z.string().nullable(),
    startedAt: z.string(),
    closedAt: z.string().nullable(),
    historyLength: z.number().int(),
    result: z.unknown().optional(),
    failure: z.string().optional(),
    waiting: workflowWaitSchema.optional().describe('Present while a running workflow waits on a durable timer (zero compute)'),
  })
  .meta({ id: 'WorkflowState' });
export type WorkflowState = z.infer<typeof workflowStateSchema>;

/** One row of `GET /v1/workflows`, from Temporal's visibility store (no input, result or memo). */
export const workflowSummarySchema = workflowStateSchema
  .pick({ workflowId: true, runId: true, type: true, status: true, department: true, startedAt: true, closedAt: true })
  .meta({ id: 'WorkflowSummary' });
export type WorkflowSummary = z.infer<typeof workflowSummarySchema>;

export const listableWorkflowStatuses = ['running', 'completed', 'failed', 'cancelled', 'terminated', 'timed_out'] as const;

export const workflowListQuerySchema = z
  .object({
    type: workflowTypeNameSchema.optional(),
    status: z.enum(listableWorkflowStatuses).optional(),
    ...pageQuery(50, 200),
  })
  .strict();

export const workflowListSchema = z.object({ workflows: z.array(workflowSummarySchema), next: nextLinkSchema }).meta({ id: 'WorkflowList' });
