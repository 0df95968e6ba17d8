/**
 * Webhook subscriptions and their deliveries: what other services subscribe to and what the
 * delivery log shows. Payloads are Standard Webhooks (`{type, timestamp, data}`), signed with the
 * subscription's secret; `data` carries ids, types, statuses and departments only — never a
 * workflow's input, an artifact's text or a reviewer's comment. Pure: zod only.
 */
import { z } from 'zod';
import { nextLinkSchema, pageQuery } from './pagination.ts';
import { departmentIdSchema } from './roles.ts';

export const webhookEventTypes = [
  'workflow.completed',
  'workflow.failed',
  'review.decided',
  'review.escalated',
  'pipeline.run.finished',
  'partition.failed',
] as const;
export const webhookEventTypeSchema = z.enum(webhookEventTypes).meta({ id: 'WebhookEventType' });
export type WebhookEventType = z.infer<typeof webhookEventTypeSchema>;

/**
 * What `data` holds per event type: ids, types, statuses, departments — never a workflow's input,
 * an artifact's text, a comment or a failure message. Each type is also a `webhooks` entry of the
 * OpenAPI document, so a receiver can generate its types from there.
 */
const eventCommon = { department: departmentIdSchema.describe('The department the event belongs to (the pipeline’s, the workflow’s)') };

const workflowEventDataSchema = z
  .object({
    ...eventCommon,
    workflowId: z.string(),
    runId: z.string().nullable(),
    type: z.string().nullable().describe('Public workflow type, e.g. `review.request`'),
    workflowType: z.string().nullable(),
    status: z.enum(['completed', 'failed']),
    failureType: z.string().optional().describe('Failed only: the failure’s type, never its message'),
  })
  .meta({ id: 'WorkflowEventData' });

export const pipelineRunPartitionsSchema = z
  .object({
    succeeded: z.array(z.string()),
    failed: z.array(z.string()),
    skipped: z.array(z.string()).describe('Skipped because no source changed, or left out of the run'),
  })
  .describe('Partition labels by outcome, as `GET /v1/pipelines/{id}/partitions` names them')
  .meta({ id: 'PipelineRunPartitions' });

export const webhookEventDataSchemas = {
  'workflow.completed': workflowEventDataSchema,
  'workflow.failed': workflowEventDataSchema,
  'review.decided': z
    .object({
      ...eventCommon,
      reviewId: z.string(),
      outcome: z.string().nullable(),
      artifactVersion: z.string().nullable(),
      escalationLevel: z.number().int(),
      decidedAt: z.string(),
    })
    .meta({ id: 'ReviewDecidedEventData' }),
  'review.escalated': z
    .object({ ...eventCommon, reviewId: z.string(), level: z.number().int().nullable(), escalatedAt: z.string() })
    .meta({ id: 'ReviewEscalatedEventData' }),
  'pipeline.run.finished': z
    .object({
      ...eventCommon,
      pipelineId: z.string(),
      dagId: z.string(),
      runId: z.string().describe('The Airflow `dag_run_id`'),
      state: z.enum(['success', 'failed']),
      logicalDate: z.string().nullable(),
      endDate: z.string().nullable(),
      partitions: pipelineRunPartitionsSchema,
    })
    .meta({ id: 'PipelineRunFinishedEventData' }),
  'partition.failed': z
    .object({
      ...eventCommon,
      pipelineId: z.string(),
      dagId: z.string(),
      runId: z.string().describe('The Airflow `dag_run_id`'),
      partition: z.string(),
      taskId: z.string().describe('The Airflow task that failed, e.g. `oncology.build_index`'),
      tryNumber: z.number().int().nullable(),
      error: z
        .object({
          type: z.string().describe('The exception’s class, e.g. `AirflowException`'),
          summary: z.string().describe('Which task failed on which try with which type; the message itself stays in tandem (the partition’s last run) and Airflow’s task log'),
        })
        .meta({ id: 'PartitionFailureError' }),
      failedAt: z.string(),
    })
    .meta({ id: 'PartitionFailedEventData' }),
} satisfies Record<WebhookEventType, z.ZodType>;

/** The body of every delivery (Standard Webhooks): `{type, timestamp, data}`. */
export function webhookEventSchema<T extends WebhookEventType>(type: T) {
  return z.object({ type: z.literal(type), timestamp: z.iso.datetime(), data: webhookEventDataSchemas[type] });
}

const receiverUrlSchema = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .describe('Where events are POSTed; answers 2xx to acknowledge');

export const webhookSubscriptionSchema = z
  .object({
    id: z.string(),
    department: departmentIdSchema,
    url: z.string(),
    eventTypes: z.array(webhookEventTypeSchema),
    description: z.string().nullable(),
    createdAt: z.iso.datetime(),
    createdBy: z.string().describe('Name of the key that created it'),
  })
  .meta({ id: 'WebhookSubscription' });
export type WebhookSubscriptionView = z.infer<typeof webhookSubscriptionSchema>;

export const createWebhookSubscriptionRequestSchema = z
  .strictObject({
    department: departmentIdSchema.describe('Whose events; must be within the key’s scope'),
    url: receiverUrlSchema,
    eventTypes: z
      .array(webhookEventTypeSchema)
      .min(1)
      .max(webhookEventTypes.length)
      .describe('Event types to receive; each one’s payload is in the document’s `webhooks`'),
    description: z.string().trim().min(1).max(200).optional(),
  })
  .meta({ id: 'CreateWebhookSubscriptionRequest' });

export const createdWebhookSubscriptionSchema = webhookSubscriptionSchema
  .extend({ secret: z.string().describe('The signing secret (`whsec_…`). Shown only in this response; store it now.') })
  .meta({ id: 'CreatedWebhookSubscription' });

export const webhookSubscriptionListSchema = z.object({ items: z.array(webhookSubscriptionSchema), next: nextLinkSchema }).meta({ id: 'WebhookSubscriptionList' });
export const webhookSubscriptionListQuerySchema = z.object({ ...pageQuery(50, 200) }).strict();
export const webhookSubscriptionIdParamsSchema = z.object({ id: z.string().min(1).max(100) });
export const webhookDeliveryParamsSchema = z.object({ id: z.string().min(1).max(100), deliveryId: z.string().min(1).max(100) });

export const webhookDeliveryStatusSchema = z.enum(['pending', 'retrying', 'delivered', 'failed', 'cancelled']);

export const webhookDeliveryAttemptSchema = z
  .object({
    attempt: z.number().int(),
    at: z.iso.datetime(),
    statusCode: z.number().int().nullable().describe('The receiver’s HTTP status; null when it could not be reached'),
    latencyMs: z.number().int(),
    error: z.string().nullable(),
  })
  .meta({ id: 'WebhookDeliveryAttempt' });

export const webhookDeliverySchema = z
  .object({
    id: z.string(),
    subscriptionId: z.string(),
    eventId: z.string().describe('The Standard Webhooks `webhook-id`: the same on every attempt and redelivery'),
    eventType: webhookEventTypeSchema,
    status: webhookDeliveryStatusSchema,
    attempts: z.number().int(),
    lastStatusCode: z.number().int().nullable(),
    lastLatencyMs: z.number().int().nullable(),
    nextAttemptAt: z.iso.datetime().nullable().describe('When the next attempt is due, while retrying'),
    createdAt: z.iso.datetime(),
    deliveredAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'WebhookDelivery' });

export const webhookDeliveryDetailSchema = webhookDeliverySchema
  .extend({ attemptLog: z.array(webhookDeliveryAttemptSchema) })
  .meta({ id: 'WebhookDeliveryDetail' });

export const webhookDeliveryListSchema = z.object({ items: z.array(webhookDeliverySchema), next: nextLinkSchema }).meta({ id: 'WebhookDeliveryList' });
export const webhookDeliveryListQuerySchema = z.object({ ...pageQuery(50, 200) }).strict();

export const redeliveryStartedSchema = z
  .object({ deliveryId: z.string(), eventId: z.string(), workflowId: z.string() })
  .meta({ id: 'WebhookRedelivery' });
