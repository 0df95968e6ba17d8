/**
 * The audit log: read entries by subject or workflow, and verify the hash chain. Admins only; an
 * admin key scoped to one department sees that department's entries only.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditEntrySchema, auditQuerySchema, auditVerificationSchema } from '../../../../../shared/contracts/audit.ts';
import { decodeCursor, nextLinkSchema, pageOf } from '../../../../../shared/contracts/pagination.ts';
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
        response: { 200: z.object({ entries: z.array(auditEntrySchema), next: nextLinkSchema }) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { cursor, limit, ...filter } = request.query;
      const [afterSeq] = decodeCursor(cursor, z.tuple([z.number().int().min(0)])) ?? [];
      const entries = await fastify.store.audit.list({
        ...filter,
        limit: limit + 1,
        ...(afterSeq !== undefined ? { afterSeq } : {}),
        ...departmentFilterOf(principal.department),
      });
      const page = pageOf(entries, limit, (entry) => [entry.seq], request.url);
      return { entries: page.items, next: page.next };
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
