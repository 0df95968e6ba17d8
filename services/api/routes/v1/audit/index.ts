/**
 * The audit log: read entries by subject or workflow, and verify the hash chain. Admins only; an
 * admin key scoped to one department sees that department's entries only.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditEntrySchema, auditQuerySchema, auditVerificationSchema } from '../../../../../shared/contracts/audit.ts';
import { departmentFilterOf } from '../../../../../shared/contracts/roles.ts';
import { principalOf } from '../../../plugins/app/auth.ts';

const auditRoutes: FastifyPluginAsyncZod = async (fastify) => {
  fastify.get(
    '',
    {
      config: { roles: ['admin'] },
      schema: {
        tags: ['audit'],
        summary: 'Audit entries, oldest first, filtered by subject and/or workflow id',
        querystring: auditQuerySchema,
        response: { 200: z.object({ entries: z.array(auditEntrySchema) }) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const entries = await fastify.store.audit.list({
        ...request.query,
        ...departmentFilterOf(principal.department),
      });
      return { entries };
    },
  );

  fastify.get(
    '/verify',
    {
      config: { roles: ['admin'] },
      schema: {
        tags: ['audit'],
        summary: 'Recompute the whole hash chain; names the first entry that does not hold',
        response: { 200: auditVerificationSchema },
      },
    },
    async () => fastify.store.audit.verify(),
  );
};

export default auditRoutes;
