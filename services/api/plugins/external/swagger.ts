/**
 * The OpenAPI 3.1 document, generated from the zod schemas on the routes (one source for
 * validation, types and docs). JSON at `GET /openapi.json`, Swagger UI at `/docs`.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { webhookEventTypes } from '../../../../shared/contracts/webhooks.ts';
import { tandemVersion } from '../../version.ts';

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];

/**
 * The zod transform rebuilds `{description, content}` responses and drops their `headers`;
 * put them back so a 429 or 503 documents its Retry-After.
 */
function transformKeepingResponseHeaders(input: TransformInput) {
  const output = jsonSchemaTransform(input);
  const original = (input.schema as { response?: Record<string, { headers?: unknown }> } | undefined)?.response ?? {};
  const transformed = (output.schema as { response?: Record<string, Record<string, unknown>> }).response ?? {};
  for (const [status, entry] of Object.entries(original)) {
    if (entry && typeof entry === 'object' && entry.headers && transformed[status]) transformed[status].headers = entry.headers;
  }
  return output;
}

/**
 * The events tandem POSTs to subscribers, as OpenAPI 3.1 `webhooks`: one entry per event type,
 * its body `{type, timestamp, data}` with `data` the type's schema from shared/contracts/webhooks.ts
 * (a component, as every schema with an id is).
 */
function webhookOperations() {
  const schemaIds: Record<(typeof webhookEventTypes)[number], string> = {
    'workflow.completed': 'WorkflowEventData',
    'workflow.failed': 'WorkflowEventData',
    'review.decided': 'ReviewDecidedEventData',
    'review.escalated': 'ReviewEscalatedEventData',
    'pipeline.run.finished': 'PipelineRunFinishedEventData',
    'partition.failed': 'PartitionFailedEventData',
  };
  const signed = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => ({
    name,
    in: 'header' as const,
    required: true,
    schema: { type: 'string' as const },
    description:
      name === 'webhook-id'
        ? 'The event id (`evt_…`), the same on every attempt and redelivery: deduplicate on it'
        : name === 'webhook-timestamp'
          ? 'Unix seconds of this attempt'
          : '`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with the subscription’s secret (Standard Webhooks)',
  }));
  return Object.fromEntries(
    webhookEventTypes.map((type) => [
      type,
      {
        post: {
          summary: `The \`${type}\` event`,
          tags: ['subscriptions'],
          parameters: signed,
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object' as const,
                  required: ['type', 'timestamp', 'data'],
                  properties: {
                    type: { type: 'string' as const, enum: [type] },
                    timestamp: { type: 'string' as const, format: 'date-time' },
                    data: { $ref: `#/components/schemas/${schemaIds[type]}` },
                  },
                },
              },
            },
          },
          responses: { '2XX': { description: 'Received; anything else (or no answer in 15 s) is retried with backoff for up to 3 days' } },
        },
      },
    ]),
  );
}

export default fp(
  async (fastify) => {
    await fastify.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'tandem control API',
          version: tandemVersion,
          description:
            'One front door to pipelines on Airflow and durable flows on Temporal. ' +
            'Errors are RFC 9457 problem+json. Every /v1 route needs an API key.',
        },
        webhooks: webhookOperations(),
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', description: 'API key as a bearer token' },
            apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          },
        },
      },
      transform: transformKeepingResponseHeaders,
      transformObject: jsonSchemaTransformObject,
    });
    await fastify.register(swaggerUi, { routePrefix: '/docs' });

    fastify.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => fastify.swagger());
  },
  { name: 'swagger', fastify: '5.x' },
);
