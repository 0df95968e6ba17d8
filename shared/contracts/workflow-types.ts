/**
 * The durable flows a caller may start through `POST /v1/workflows {type, input}`: each public
 * type name maps to the exported workflow function (Temporal's workflow type, see
 * workflows/index.ts) and to the zod schemas of its input and result. The API validates with
 * these before anything reaches Temporal; workflow code imports the inferred types only, so the
 * input a workflow receives and the input the API accepts cannot drift apart.
 *
 * Pure: zod only, no Temporal import (the API and the CLI load this without the SDK).
 */
import { z } from 'zod';
import { reviewRequestInputSchema, reviewResultSchema } from './reviews.ts';
import { llmCompleteInputSchema, llmCompleteResultSchema } from './llm.ts';
import { gpuBatchInputSchema, gpuBatchResultSchema } from './gpu-batch.ts';
import { kbRefreshInputSchema, kbRefreshResultSchema, modelPromotionInputSchema, modelPromotionResultSchema } from './index-promotion.ts';
import { pipelineRunFlowInputSchema, pipelineRunFlowResultSchema } from './pipeline-run-flow.ts';

// --- smoke.echo -----------------------------------------------------------------------------

export const echoInputSchema = z
  .object({ message: z.string().min(1).max(1000).describe('Text the workflow echoes back') })
  .strict()
  .meta({ id: 'EchoInput' });
export type EchoInput = z.infer<typeof echoInputSchema>;

export const echoResultSchema = z
  .object({
    message: z.string(),
    echoedAt: z.iso.datetime().describe('When the worker activity stamped the message'),
    workflowId: z.string(),
  })
  .meta({ id: 'EchoResult' });
export type EchoResult = z.infer<typeof echoResultSchema>;

// --- registry -------------------------------------------------------------------------------

export interface WorkflowTypeDefinition {
  /** The exported workflow function in workflows/index.ts; Temporal's workflow type name. */
  workflowName: string;
  description: string;
  input: z.ZodType;
  output: z.ZodType;
  /**
   * It waits on people (hours to days), so a hand-off stage of this type parks its Airflow task
   * (`wait: auto` → `parked`, see pipeline-spec.ts) instead of holding a trigger in the triggerer.
   */
  waitsOnPeople?: true;
}

export const workflowTypes = {
  'smoke.echo': {
    workflowName: 'echoWorkflow',
    description: 'Round trip through the worker: one activity stamps the message. Proves the stack is wired.',
    input: echoInputSchema,
    output: echoResultSchema,
  },
  'review.request': {
    workflowName: 'reviewWorkflow',
    waitsOnPeople: true,
    description:
      'Human review with escalation: creates the task in the reviewer inbox, reminds at 24 h, escalates at 72 h, expires at 7 days (policy overrides these); decide through POST /v1/reviews/{id}/decision.',
    input: reviewRequestInputSchema,
    output: reviewResultSchema,
  },
  'llm.complete': {
    workflowName: 'llmCompleteWorkflow',
    description:
      'One chat completion through the configured OpenAI-compatible provider, charged to your department’s token budget: transient errors and rate limits (Retry-After) are retried, model errors (bad request, content filter, context too long) fail at once.',
    input: llmCompleteInputSchema,
    output: llmCompleteResultSchema,
  },
  'gpu.batch': {
    workflowName: 'gpuBatchWorkflow',
    description:
      'One batch job (a local process, or a Kubernetes Job in your department’s namespace with TANDEM_JOBS_RUNNER=kubernetes) with nvidia.com/gpu, cpu and memory requests = limits; heartbeats while it runs, resumes from its last checkpoint after preemption (faultTolerant), fails with the job’s last log lines or the quota’s numbers, stops and cleans up the job on cancellation.',
    input: gpuBatchInputSchema,
    output: gpuBatchResultSchema,
  },
  'kb.refresh': {
    workflowName: 'kbRefreshWorkflow',
    waitsOnPeople: true,
    description:
      'Rebuild a knowledge-base index with an Airflow DAG run, evaluate it on a golden set (recall@k, MRR vs thresholds and the current version), promote it (alias switch) if it passes; a regression is promoted only if a review.request child is approved.',
    input: kbRefreshInputSchema,
    output: kbRefreshResultSchema,
  },
  'model.promote': {
    workflowName: 'modelPromotionWorkflow',
    waitsOnPeople: true,
    description:
      'Evaluate a model version on a golden set, get it approved through a review.request child, switch its alias and deploy it; a failed deploy switches the alias back.',
    input: modelPromotionInputSchema,
    output: modelPromotionResultSchema,
  },
  'pipeline.run': {
    workflowName: 'pipelineRunWorkflow',
    description:
      'Run an applied pipeline’s Airflow DAG for chosen partitions (default all; force runs unchanged ones) and wait for it without holding a worker slot; a failed run fails the flow with the failed task’s log, and cancelling the flow marks the DAG run failed. The pipeline must belong to `department`, within your key’s scope.',
    input: pipelineRunFlowInputSchema,
    output: pipelineRunFlowResultSchema,
  },
} as const satisfies Record<string, WorkflowTypeDefinition>;

export type WorkflowTypeName = keyof typeof workflowTypes;
export type WorkflowInput<T extends WorkflowTypeName> = z.infer<(typeof workflowTypes)[T]['input']>;
export type WorkflowResult<T extends WorkflowTypeName> = z.infer<(typeof workflowTypes)[T]['output']>;

export const workflowTypeNames = Object.keys(workflowTypes) as [WorkflowTypeName, ...WorkflowTypeName[]];
export const workflowTypeNameSchema = z.enum(workflowTypeNames).meta({ id: 'WorkflowTypeName' });

/**
 * The request envelope; `input` is required (send `{}` for a workflow without parameters) and is
 * checked against the type's own schema by `parseWorkflowInput`, because that depends on `type`.
 */
export const startWorkflowRequestSchema = z
  .object({ type: workflowTypeNameSchema, input: z.unknown() })
  .strict()
  .meta({ id: 'StartWorkflowRequest' });
export type StartWorkflowRequest = z.infer<typeof startWorkflowRequestSchema>;

export function isWorkflowTypeName(name: string): name is WorkflowTypeName {
  return Object.hasOwn(workflowTypes, name);
}

/**
 * How a hand-off stage's Airflow task waits: as the spec says, or for `auto` by the workflow
 * type — `parked` (no trigger, resumed by tandem) for a type that waits on people, `triggerer`
 * (deferred, ended from the triggerer within a second) for the rest.
 */
export function handoffWaitOf(workflowType: string, wait: 'auto' | 'parked' | 'triggerer'): 'parked' | 'triggerer' {
  if (wait !== 'auto') return wait;
  const definition: WorkflowTypeDefinition | undefined = isWorkflowTypeName(workflowType) ? workflowTypes[workflowType] : undefined;
  return definition?.waitsOnPeople ? 'parked' : 'triggerer';
}

export type ParsedWorkflowStart =
  | { ok: true; type: WorkflowTypeName; workflowName: string; input: unknown }
  | { ok: false; issues: z.core.$ZodIssue[] };

/** Validates `input` for `type`; issue paths are prefixed with `input` so they point into the body. */
export function parseWorkflowInput(type: string, input: unknown): ParsedWorkflowStart {
  if (!isWorkflowTypeName(type)) {
    return {
      ok: false,
      issues: [
        {
          code: 'invalid_value',
          values: [...workflowTypeNames],
          path: ['type'],
          message: `unknown workflow type "${type}"; known: ${workflowTypeNames.join(', ')}`,
          input: type,
        },
      ],
    };
  }
  const definition: WorkflowTypeDefinition = workflowTypes[type];
  const parsed = definition.input.safeParse(input);
  if (!parsed.success) {
    return { ok: false, issues: parsed.error.issues.map((issue) => ({ ...issue, path: ['input', ...issue.path] })) };
  }
  return { ok: true, type, workflowName: definition.workflowName, input: parsed.data };
}
