/**
 * Everything under /v1, one line per resource. Every route here must declare `config.roles`
 * (enforced by the auth plugin at registration).
 */
import type { FastifyPluginAsync } from 'fastify';
import apiKeyRoutes from './api-keys/index.ts';
import auditRoutes from './audit/index.ts';
import fingerprintRoutes from './fingerprints/index.ts';
import handoffRoutes from './handoffs/index.ts';
import pipelineRoutes from './pipelines/index.ts';
import reviewRoutes from './reviews/index.ts';
import subscriptionRoutes from './subscriptions/index.ts';
import tenantRoutes from './tenants/index.ts';
import versionRoutes from './version/index.ts';
import workflowRoutes from './workflows/index.ts';

const v1Routes: FastifyPluginAsync = async (fastify) => {
  await fastify.register(versionRoutes, { prefix: '/version' });
  await fastify.register(apiKeyRoutes, { prefix: '/api-keys' });
  await fastify.register(workflowRoutes, { prefix: '/workflows' });
  await fastify.register(fingerprintRoutes, { prefix: '/fingerprints' });
  await fastify.register(pipelineRoutes, { prefix: '/pipelines' });
  await fastify.register(reviewRoutes, { prefix: '/reviews' });
  await fastify.register(auditRoutes, { prefix: '/audit' });
  await fastify.register(handoffRoutes, { prefix: '/handoffs' });
  await fastify.register(subscriptionRoutes, { prefix: '/subscriptions' });
  await fastify.register(tenantRoutes, { prefix: '/tenants' });
};

export default v1Routes;
