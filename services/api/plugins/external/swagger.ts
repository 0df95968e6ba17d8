/**
 * The OpenAPI 3.1 document, generated from the zod schemas on the routes (one source for
 * validation, types and docs). JSON at `GET /openapi.json`, Swagger UI at `/docs`.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { tandemVersion } from '../../version.ts';

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
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
    await fastify.register(swaggerUi, { routePrefix: '/docs' });

    fastify.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => fastify.swagger());
  },
  { name: 'swagger', fastify: '5.x' },
);
