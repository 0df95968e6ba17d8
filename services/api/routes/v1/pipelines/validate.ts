/**
 * `POST /v1/pipelines/validate`: a dry run of applying a spec. Returns the lint findings and the
 * DAG file that would be deployed; an invalid spec is a 422 listing every issue with its path.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { pipelineValidationSchema } from '../../../../../shared/contracts/pipeline-spec.ts';
import { allDepartments } from '../../../../../shared/contracts/roles.ts';
import { ForbiddenError, ValidationError } from '../../../../../shared/errors.ts';
import { lintOptionsFrom } from '../../../../bridge/pipeline-lint.ts';
import { planPipeline, validationReport } from '../../../../bridge/pipeline-plan.ts';
import { principalOf } from '../../../plugins/app/auth.ts';

const authors = ['admin', 'data-engineer'] as const;

const validateRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const lintOptions = lintOptionsFrom(fastify.tandemConfig);

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
    async (request) => {
      const result = planPipeline(request.body, lintOptions);
      if (!result.ok) {
        throw new ValidationError(
          `the pipeline spec has ${result.issues.length} problem(s): ${result.issues.map((i) => `${i.path || '(spec)'}: ${i.message}`).join('; ')}`,
          result.issues.map((i) => ({ path: i.path, message: i.message })),
        );
      }
      const principal = principalOf(request);
      if (principal.department !== allDepartments && principal.department !== result.plan.spec.department) {
        throw new ForbiddenError(`this key is scoped to department ${principal.department}, the spec belongs to ${result.plan.spec.department}`);
      }
      return validationReport(result.plan);
    },
  );
};

export default validateRoutes;
