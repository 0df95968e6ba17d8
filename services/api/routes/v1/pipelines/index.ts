/**
 * Pipelines: specs applied by data engineers, generated into Airflow DAGs. Specs arrive as JSON
 * (`application/json`, the spec object) or YAML text (`application/yaml`), for every route here.
 */
import type { FastifyPluginAsync } from 'fastify';
import manageRoutes from './manage.ts';
import validateRoutes from './validate.ts';

export const yamlContentTypes = ['application/yaml', 'application/x-yaml', 'text/yaml'];

const pipelineRoutes: FastifyPluginAsync = async (fastify) => {
  // The YAML text is parsed by parsePipelineSpec, which reports syntax errors with spec paths.
  fastify.addContentTypeParser(yamlContentTypes, { parseAs: 'string' }, (_request, body, done) => done(null, body));
  await fastify.register(validateRoutes, { prefix: '/validate' });
  // Apply, list, get, pause/unpause, delete, runs, partitions.
  await fastify.register(manageRoutes);
};

export default pipelineRoutes;
