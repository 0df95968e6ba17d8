/**
 * Departments as tenants (services/tenants/tenant-service.ts): anyone reads their own
 * department's; platform admins (admin keys of scope `*`) create, replace, re-apply and delete.
 * Changes are applied to the cluster by server-side apply; `GET /{department}` compares the
 * cluster with what tandem applied and lists the drift.
 *
 *   POST   /v1/tenants                       201; 409 when it exists (PUT replaces)
 *   GET    /v1/tenants                       the caller's department's (all for `*`), by department
 *   GET    /v1/tenants/{department}          with `drift`
 *   PUT    /v1/tenants/{department}          201 created, 200 replaced
 *   POST   /v1/tenants/{department}/apply    apply the stored spec again (repairs drift)
 *   DELETE /v1/tenants/{department}          204; deletes the namespace and everything in it
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decodeCursor, pageOf } from '../../../../../shared/contracts/pagination.ts';
import { problemResponse } from '../../../../../shared/contracts/problem.ts';
import { roles as allRoles } from '../../../../../shared/contracts/roles.ts';
import {
  createTenantRequestSchema,
  tenantDetailSchema,
  tenantListQuerySchema,
  tenantListSchema,
  tenantParamsSchema,
  tenantSpecSchema,
} from '../../../../../shared/contracts/tenants.ts';
import { tenantView } from '../../../../tenants/tenant-service.ts';
import { principalOf } from '../../../plugins/app/auth.ts';

const changers = { roles: ['admin'] as const, dependsOn: ['kubernetes'] as const };
const forbidden = problemResponse('Changing a tenant takes an admin key of scope `*`');
const applyFailed = {
  502: problemResponse('Kubernetes refused the tenant’s objects; the spec is saved, its cluster state `failed`'),
  503: problemResponse('Kubernetes could not be reached; the spec is saved (state `failed`): retry the request or POST …/apply', {
    'retry-after': { type: 'integer', description: 'Seconds to wait before retrying' },
  }),
};

const tenantRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { tenants } = fastify;

  fastify.post(
    '',
    {
      config: { ...changers, idempotent: true },
      schema: {
        tags: ['tenants'],
        summary: 'Create a department’s tenant and apply it to the cluster',
        body: createTenantRequestSchema,
        response: { 201: tenantDetailSchema, 403: forbidden, 409: problemResponse('The department already has a tenant (PUT replaces it), or the namespace is another’s'), ...applyFailed },
      },
    },
    async (request, reply) => {
      const { department, ...spec } = request.body;
      const { tenant } = await tenants.put(department, tenantSpecSchema.parse(spec), principalOf(request), { create: true });
      return reply.code(201).send(tenant);
    },
  );

  fastify.get(
    '',
    {
      config: { roles: allRoles },
      schema: { tags: ['tenants'], summary: 'Tenants the caller may see (its own department; every one for `*`), by department', querystring: tenantListQuerySchema, response: { 200: tenantListSchema } },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const after = decodeCursor(cursor, z.tuple([z.string()]));
      const items = await tenants.list(principalOf(request), { limit: limit + 1, ...(after ? { after: after[0] } : {}) });
      const page = pageOf(items, limit, (t) => [t.department], request.url);
      return { items: page.items.map(tenantView), next: page.next };
    },
  );

  fastify.get(
    '/:department',
    {
      config: { roles: allRoles, dependsOn: ['kubernetes'] },
      schema: {
        tags: ['tenants'],
        summary: 'One tenant, with its drift: fields of its Namespace, ResourceQuota and LimitRange that differ from what tandem applied',
        params: tenantParamsSchema,
        response: { 200: tenantDetailSchema },
      },
    },
    async (request) => tenants.get(request.params.department, principalOf(request)),
  );

  fastify.put(
    '/:department',
    {
      config: { ...changers, idempotent: true },
      schema: {
        tags: ['tenants'],
        summary: 'Create or replace a department’s tenant and apply it to the cluster (server-side apply, field manager `tandem`)',
        params: tenantParamsSchema,
        body: tenantSpecSchema,
        response: {
          200: tenantDetailSchema,
          201: tenantDetailSchema,
          403: forbidden,
          409: problemResponse('The namespace belongs to another department, or differs from the tenant’s (a namespace cannot change)'),
          ...applyFailed,
        },
      },
    },
    async (request, reply) => {
      const { created, tenant } = await tenants.put(request.params.department, request.body, principalOf(request));
      return reply.code(created ? 201 : 200).send(tenant);
    },
  );

  fastify.post(
    '/:department/apply',
    {
      config: { ...changers, idempotent: true },
      schema: {
        tags: ['tenants'],
        summary: 'Apply the stored tenant to the cluster again: takes back every field someone changed by hand',
        params: tenantParamsSchema,
        response: { 200: tenantDetailSchema, 403: forbidden, ...applyFailed },
      },
    },
    async (request) => tenants.reapply(request.params.department, principalOf(request)),
  );

  fastify.delete(
    '/:department',
    {
      config: changers,
      schema: {
        tags: ['tenants'],
        summary: 'Delete a tenant and its namespace, with every Job and Pod in it',
        params: tenantParamsSchema,
        response: { 204: z.undefined().describe('Deleted'), 403: forbidden },
      },
    },
    async (request, reply) => {
      await tenants.delete(request.params.department, principalOf(request));
      return reply.code(204).send();
    },
  );
};

export default tenantRoutes;
