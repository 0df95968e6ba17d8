/**
 * Everything under /v1, one line per resource. Every route here must declare `config.roles`
 * (enforced by the auth plugin at registration).
 */
import type { FastifyPluginAsync } from 'fastify';
import apiKeyRoutes from './api-keys/index.ts';
import versionRoutes from './version/index.ts';
import workflowRoutes from './workflows/index.ts';

const v1Routes: FastifyPluginAsync = async (fastify) => {
  await fastify.register(versionRoutes, { prefix: '/version' });
  await fastify.register(apiKeyRoutes, { prefix: '/api-keys' });
  await fastify.register(workflowRoutes, { prefix: '/workflows' });
};

export default v1Routes;
