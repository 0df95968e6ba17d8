/**
 * Webhook subscriptions of a department (admin and service keys, within their department scope;
 * another department's subscription reads as 404). The signing secret is in the create response
 * only. Deliveries are the log of what was sent (services/webhooks/events.ts emits them, the
 * webhook-delivery workflow sends them); redelivery sends one again, with the same event id.
 *
 *   POST   /v1/subscriptions                                     201, with the secret, once
 *   GET    /v1/subscriptions                                     the caller's department's, oldest first
 *   GET    /v1/subscriptions/{id}
 *   DELETE /v1/subscriptions/{id}                                204; pending deliveries stop
 *   GET    /v1/subscriptions/{id}/deliveries                     newest first
 *   GET    /v1/subscriptions/{id}/deliveries/{deliveryId}        with every attempt
 *   POST   /v1/subscriptions/{id}/deliveries/{deliveryId}/redeliver   202
 */
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decodeCursor, pageOf } from '../../../../../shared/contracts/pagination.ts';
import { problemContentType, problemDetailsSchema } from '../../../../../shared/contracts/problem.ts';
import { departmentFilterOf, scopeIncludes } from '../../../../../shared/contracts/roles.ts';
import {
  createdWebhookSubscriptionSchema,
  createWebhookSubscriptionRequestSchema,
  redeliveryStartedSchema,
  webhookDeliveryDetailSchema,
  webhookDeliveryListQuerySchema,
  webhookDeliveryListSchema,
  webhookDeliveryParamsSchema,
  webhookSubscriptionIdParamsSchema,
  webhookSubscriptionListQuerySchema,
  webhookSubscriptionListSchema,
  webhookSubscriptionSchema,
  type WebhookSubscriptionView,
} from '../../../../../shared/contracts/webhooks.ts';
import { ConflictError, ForbiddenError, NotFoundError } from '../../../../../shared/errors.ts';
import type { WebhookDelivery, WebhookSubscription } from '../../../../../shared/store/webhooks.ts';
import { webhookDeliveryWorkflowId, webhookDeliveryWorkflowName } from '../../../../webhooks/events.ts';
import { newWebhookSecret } from '../../../../webhooks/signature.ts';
import { principalOf } from '../../../plugins/app/auth.ts';

const problem = (description: string) => ({
  description,
  content: { [problemContentType]: { schema: problemDetailsSchema } },
});

function viewOf(s: WebhookSubscription): WebhookSubscriptionView {
  return { id: s.id, department: s.department, url: s.url, eventTypes: s.eventTypes, description: s.description, createdAt: s.createdAt, createdBy: s.createdBy };
}

function deliveryViewOf(d: WebhookDelivery) {
  return {
    id: d.id,
    subscriptionId: d.subscriptionId,
    eventId: d.eventId,
    eventType: d.eventType,
    status: d.status,
    attempts: d.attempts,
    lastStatusCode: d.lastStatusCode,
    lastLatencyMs: d.lastLatencyMs,
    nextAttemptAt: d.nextAttemptAt,
    createdAt: d.createdAt,
    deliveredAt: d.deliveredAt,
  };
}

const subscriptionRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const roles = { roles: ['admin', 'service'] as const };

  /** The live subscription, if the caller's scope covers its department; else 404 (ids do not leak). */
  const visibleSubscription = async (scope: string, id: string): Promise<WebhookSubscription> => {
    const s = await fastify.store.webhooks.getSubscription(id);
    if (!s || s.deletedAt || !scopeIncludes(scope, s.department)) throw new NotFoundError(`no webhook subscription with id ${id}`);
    return s;
  };
  const visibleDelivery = async (scope: string, id: string, deliveryId: string): Promise<WebhookDelivery> => {
    await visibleSubscription(scope, id);
    const d = await fastify.store.webhooks.getDelivery(deliveryId);
    if (!d || d.subscriptionId !== id) throw new NotFoundError(`subscription ${id} has no delivery ${deliveryId}`);
    return d;
  };

  fastify.post(
    '',
    {
      config: { ...roles, idempotent: true },
      schema: {
        tags: ['subscriptions'],
        summary: 'Subscribe a URL to a department’s events; the response carries the signing secret, once',
        body: createWebhookSubscriptionRequestSchema,
        response: { 201: createdWebhookSubscriptionSchema, 403: problem('The department is outside the key’s scope') },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      if (!scopeIncludes(principal.department, request.body.department)) {
        throw new ForbiddenError(`this key may not subscribe to department ${request.body.department}`);
      }
      const secret = newWebhookSecret();
      const created = await fastify.store.webhooks.createSubscription({
        id: `whs_${randomUUID()}`,
        department: request.body.department,
        url: request.body.url,
        eventTypes: [...new Set(request.body.eventTypes)],
        description: request.body.description ?? null,
        secret,
        createdBy: principal.name,
      });
      request.log.info({ subscriptionId: created.id, department: created.department }, 'webhook subscription created');
      return reply.code(201).send({ ...viewOf(created), secret });
    },
  );

  fastify.get(
    '',
    {
      config: roles,
      schema: { tags: ['subscriptions'], summary: 'List webhook subscriptions, oldest first', querystring: webhookSubscriptionListQuerySchema, response: { 200: webhookSubscriptionListSchema } },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const after = decodeCursor(cursor, z.tuple([z.string(), z.string()]));
      const items = await fastify.store.webhooks.listSubscriptions({
        ...departmentFilterOf(principalOf(request).department),
        limit: limit + 1,
        ...(after ? { after: { createdAt: after[0], id: after[1] } } : {}),
      });
      const page = pageOf(items, limit, (s) => [s.createdAt, s.id], request.url);
      return { items: page.items.map(viewOf), next: page.next };
    },
  );

  fastify.get(
    '/:id',
    {
      config: roles,
      schema: {
        tags: ['subscriptions'],
        summary: 'One webhook subscription (never its secret)',
        params: webhookSubscriptionIdParamsSchema,
        response: { 200: webhookSubscriptionSchema, 404: problem('No subscription with this id in the key’s scope') },
      },
    },
    async (request) => viewOf(await visibleSubscription(principalOf(request).department, request.params.id)),
  );

  fastify.delete(
    '/:id',
    {
      config: roles,
      schema: {
        tags: ['subscriptions'],
        summary: 'Delete a webhook subscription; deliveries still retrying stop',
        params: webhookSubscriptionIdParamsSchema,
        response: { 204: z.undefined().describe('Deleted'), 404: problem('No subscription with this id in the key’s scope') },
      },
    },
    async (request, reply) => {
      await visibleSubscription(principalOf(request).department, request.params.id);
      await fastify.store.webhooks.deleteSubscription(request.params.id);
      request.log.info({ subscriptionId: request.params.id }, 'webhook subscription deleted');
      return reply.code(204).send();
    },
  );

  fastify.get(
    '/:id/deliveries',
    {
      config: roles,
      schema: {
        tags: ['subscriptions'],
        summary: 'The delivery log of a subscription, newest first',
        params: webhookSubscriptionIdParamsSchema,
        querystring: webhookDeliveryListQuerySchema,
        response: { 200: webhookDeliveryListSchema, 404: problem('No subscription with this id in the key’s scope') },
      },
    },
    async (request) => {
      await visibleSubscription(principalOf(request).department, request.params.id);
      const { limit, cursor } = request.query;
      const before = decodeCursor(cursor, z.tuple([z.string(), z.string()]));
      const items = await fastify.store.webhooks.listDeliveries({
        subscriptionId: request.params.id,
        limit: limit + 1,
        ...(before ? { before: { createdAt: before[0], id: before[1] } } : {}),
      });
      const page = pageOf(items, limit, (d) => [d.createdAt, d.id], request.url);
      return { items: page.items.map(deliveryViewOf), next: page.next };
    },
  );

  fastify.get(
    '/:id/deliveries/:deliveryId',
    {
      config: roles,
      schema: {
        tags: ['subscriptions'],
        summary: 'One delivery with every attempt (status code, latency, error)',
        params: webhookDeliveryParamsSchema,
        response: { 200: webhookDeliveryDetailSchema, 404: problem('No such delivery in the key’s scope') },
      },
    },
    async (request) => {
      const d = await visibleDelivery(principalOf(request).department, request.params.id, request.params.deliveryId);
      return { ...deliveryViewOf(d), attemptLog: await fastify.store.webhooks.attemptsOf(d.id) };
    },
  );

  fastify.post(
    '/:id/deliveries/:deliveryId/redeliver',
    {
      config: { ...roles, idempotent: true },
      schema: {
        tags: ['subscriptions'],
        summary: 'Send a delivery again, with the same event id (webhook-id) and body',
        params: webhookDeliveryParamsSchema,
        response: {
          202: redeliveryStartedSchema,
          404: problem('No such delivery in the key’s scope'),
          409: problem('The delivery is still being attempted'),
        },
      },
    },
    async (request, reply) => {
      const d = await visibleDelivery(principalOf(request).department, request.params.id, request.params.deliveryId);
      const workflowId = webhookDeliveryWorkflowId(d.id);
      // Before the start: the new run's own outcome must not be overwritten by this.
      await fastify.store.webhooks.setDeliveryStatus(d.id, 'pending');
      // In the department's region, as every delivery of its events.
      const { client } = await fastify.temporal.regions.forDepartment(d.department);
      try {
        await client.workflow.start(webhookDeliveryWorkflowName, {
          workflowId,
          taskQueue: fastify.temporal.taskQueue,
          args: [{ deliveryId: d.id, department: d.department }],
          memo: { department: d.department },
          // A closed delivery run may run again; a running one is still retrying (409).
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) throw new ConflictError(`delivery ${d.id} is still being attempted`);
        throw err;
      }
      request.log.info({ deliveryId: d.id, eventId: d.eventId, workflowId }, 'webhook redelivery started');
      return reply.code(202).send({ deliveryId: d.id, eventId: d.eventId, workflowId });
    },
  );
};

export default subscriptionRoutes;
