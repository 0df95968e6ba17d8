/**
 * `POST /v1/pipelines/validate`: a dry run of applying a spec. Returns the lint findings and the
 * DAG file that would be deployed; an invalid spec is a 422 listing every issue with its path.
 * It takes the same path as applying (`fastify.pipelines`), so the two never disagree.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { pipelineValidationSchema } from '../../../../../shared/contracts/pipeline-spec.ts';
import { principalOf } from '../../../plugins/app/auth.ts';

const authors = ['admin', 'data-engineer'] as const;

const validateRoutes: FastifyPluginAsyncZod = async (fastify) => {
  fastify.post(
    '',
    {
      config: { roles: authors },
      schema: {
        tags: ['pipelines'],
        summary: 'Dry-run a pipeline spec: lint findings and the generated DAG file, nothing deployed',
        description:
          'Send the spec as JSON (`application/json`) or as YAML text (`application/yaml`). ' +
          '`valid` is false when a lint error would block applying it; an invalid spec is a 422 with every issue and its path.',
        body: z.unknown(),
        response: { 200: pipelineValidationSchema },
      },
    },
    async (request) => fastify.pipelines.validate(request.body, principalOf(request)),
  );
};

export default validateRoutes;
