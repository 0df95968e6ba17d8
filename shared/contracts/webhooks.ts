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
      .describe('`partition.failed` is accepted but not emitted yet: a failed partition is not recorded when it happens (README, Events)'),
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
