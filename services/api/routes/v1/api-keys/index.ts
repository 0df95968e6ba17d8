/**
 * API key administration (admin only). The plaintext key exists only in the create response;
 * the store keeps its sha256. Keys are revoked, never deleted, so audit entries keep resolving.
 * An admin scoped to one department lists, creates and revokes keys of that department only: it
 * cannot mint a `*` key (that would widen its own reach), and another department's key reads as
 * missing.
 */
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { newApiKey } from '../../../../../shared/credentials.ts';
import {
  apiKeyIdParamsSchema,
  apiKeyListSchema,
  createApiKeyRequestSchema,
  createdApiKeySchema,
} from '../../../../../shared/contracts/api-keys.ts';
import { problemResponse as problem } from '../../../../../shared/contracts/problem.ts';
import { scopeIncludes } from '../../../../../shared/contracts/roles.ts';
import { ConflictError, ForbiddenError, NotFoundError } from '../../../../../shared/errors.ts';
import { hashApiKey } from '../../../../../shared/store/api-key-hash.ts';
import { principalOf } from '../../../plugins/app/auth.ts';

const apiKeyRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const adminOnly = { roles: ['admin'] as const };

  fastify.get(
    '',
    {
      config: adminOnly,
      schema: { tags: ['api-keys'], summary: 'List API keys (never their hashes)', response: { 200: apiKeyListSchema } },
    },
    async (request) => {
      const { department } = principalOf(request);
      return { items: (await fastify.store.listApiKeys()).filter((k) => scopeIncludes(department, k.department)) };
    },
  );

  fastify.post(
    '',
    {
      config: adminOnly,
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key; the response carries the plaintext key, once',
        body: createApiKeyRequestSchema,
        response: { 201: createdApiKeySchema },
      },
    },
    async (request, reply) => {
      const { department } = principalOf(request);
      if (!scopeIncludes(department, request.body.department)) {
        throw new ForbiddenError(`this key is scoped to department ${department} and may not create keys for ${request.body.department}`);
      }
      const key = newApiKey('key');
      const record = await fastify.store.createApiKey({ ...request.body, keyHash: hashApiKey(key) });
      request.log.info({ createdKeyId: record.id, createdRole: record.role }, 'API key created');
      return reply.code(201).send({ ...record, key });
    },
  );

  fastify.delete(
    '/:id',
    {
      config: adminOnly,
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key (idempotent)',
        params: apiKeyIdParamsSchema,
        response: {
          204: z.undefined().describe('Revoked'),
          404: problem('No key with this id'),
          409: problem('A key cannot revoke itself'),
        },
      },
    },
    async (request, reply) => {
      // Revoking the key in use is how an admin locks everyone out; rotate by creating the new
      // admin key first and revoking the old one with it.
      if (request.params.id === principalOf(request).keyId) {
        throw new ConflictError('a key cannot revoke itself; use another admin key');
      }
      const target = (await fastify.store.listApiKeys()).find((k) => k.id === request.params.id);
      if (!target || !scopeIncludes(principalOf(request).department, target.department)) {
        throw new NotFoundError(`no API key with id ${request.params.id}`);
      }
      const revoked = await fastify.store.revokeApiKey(request.params.id);
      if (!revoked) throw new NotFoundError(`no API key with id ${request.params.id}`);
      request.log.info({ revokedKeyId: revoked.id }, 'API key revoked');
      return reply.code(204).send();
    },
  );
};

export default apiKeyRoutes;
