/**
 * The OpenAPI 3.1 document, generated from the zod schemas on the routes (one source for
 * validation, types and docs). JSON at `GET /openapi.json`, Swagger UI at `/docs`.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
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
