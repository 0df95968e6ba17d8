/**
 * API key administration (admin only). The plaintext key exists only in the create (or rotate)
 * response; the store keeps its sha256. Keys are revoked or expire, never deleted, so audit entries
 * keep resolving. Rotation without downtime: rotate (new key, the old one works for the overlap),
 * deploy the new key, revoke the old one (or let it expire). An admin scoped to one department
 * lists, creates, rotates and revokes keys of that department only: it cannot mint a `*` key (that
 * would widen its own reach), and another department's key reads as missing.
 */
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { newApiKey } from '../../../../../shared/credentials.ts';
import {
  apiKeyIdParamsSchema,
  apiKeyListQuerySchema,
  apiKeyListSchema,
  apiKeySchema,
  createApiKeyRequestSchema,
  createdApiKeySchema,
  rotateApiKeyRequestSchema,
  rotatedApiKeySchema,
} from '../../../../../shared/contracts/api-keys.ts';
import { decodeCursor, pageOf } from '../../../../../shared/contracts/pagination.ts';
import { problemResponse as problem } from '../../../../../shared/contracts/problem.ts';
import { departmentFilterOf, scopeIncludes } from '../../../../../shared/contracts/roles.ts';
import { ConflictError, ForbiddenError, NotFoundError } from '../../../../../shared/errors.ts';
import type { ApiKeyRecord } from '../../../../../shared/store/store.ts';
import { hashApiKey } from '../../../../../shared/store/api-key-hash.ts';
import { principalOf } from '../../../plugins/app/auth.ts';

/** The instant a lifetime ends, from now; null for a key that does not expire. */
function expiryIn(seconds: number | undefined): string | null {
  return seconds === undefined ? null : new Date(Date.now() + seconds * 1000).toISOString();
}

const apiKeyRoutes: FastifyPluginAsyncZod = async (fastify) => {
  /** The key, if the caller's scope includes its department; another department's reads as missing. */
  const visibleKey = async (id: string, scope: string): Promise<ApiKeyRecord | undefined> => {
    const record = await fastify.store.getApiKey(id);
    return record && scopeIncludes(scope, record.department) ? record : undefined;
  };

  const adminOnly = { roles: ['admin'] as const };

  fastify.get(
    '',
    {
      config: adminOnly,
      schema: { tags: ['api-keys'], summary: 'List API keys, oldest first (never their hashes)', querystring: apiKeyListQuerySchema, response: { 200: apiKeyListSchema } },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const after = decodeCursor(cursor, z.tuple([z.string(), z.string()]));
      const keys = await fastify.store.listApiKeys({
        limit: limit + 1,
        ...departmentFilterOf(principalOf(request).department),
        ...(after ? { after: { createdAt: after[0], id: after[1] } } : {}),
      });
      const page = pageOf(keys, limit, (key) => [key.createdAt, key.id], request.url);
      return { items: page.items, next: page.next };
    },
  );

  fastify.post(
    '',
    {
      config: { ...adminOnly, idempotent: true },
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
      const expiresAt = expiryIn(request.body.expiresInSeconds);
      const key = newApiKey('key');
      const { expiresInSeconds: _lifetime, ...fields } = request.body;
      const record = await fastify.store.createApiKey({ ...fields, expiresAt, keyHash: hashApiKey(key) });
      request.log.info({ createdKeyId: record.id, createdRole: record.role }, 'API key created');
      return reply.code(201).send({ ...record, key });
    },
  );

  fastify.get(
    '/:id',
    {
      config: adminOnly,
      schema: {
        tags: ['api-keys'],
        summary: 'One API key: role, scope, expiry, last use, rotation (never its hash)',
        params: apiKeyIdParamsSchema,
        response: { 200: apiKeySchema, 404: problem('No key with this id') },
      },
    },
    async (request) => {
      const record = await visibleKey(request.params.id, principalOf(request).department);
      if (!record) throw new NotFoundError(`no API key with id ${request.params.id}`);
      return record;
    },
  );

  fastify.post(
    '/:id/rotate',
    {
      config: { ...adminOnly, idempotent: true },
      schema: {
        tags: ['api-keys'],
        summary: 'Rotate a key: a new key with the same name, role and department; the old one keeps working for the overlap',
        description: 'Deploy the new key, then revoke the old one with DELETE (or let it expire at the end of the overlap).',
        params: apiKeyIdParamsSchema,
        body: rotateApiKeyRequestSchema,
        response: { 201: rotatedApiKeySchema, 404: problem('No live key with this id (unknown, revoked or expired)') },
      },
    },
    async (request, reply) => {
      const expiresAt = expiryIn(request.body.expiresInSeconds);
      const key = newApiKey('key');
      const oldExpiresAt = new Date(Date.now() + request.body.overlapHours * 3_600_000).toISOString();
      if (!(await visibleKey(request.params.id, principalOf(request).department))) throw new NotFoundError(`no live API key with id ${request.params.id}`);
      const rotated = await fastify.store.rotateApiKey(request.params.id, { keyHash: hashApiKey(key), expiresAt }, oldExpiresAt);
      if (!rotated) throw new NotFoundError(`no live API key with id ${request.params.id}`);
      request.log.info({ rotatedKeyId: rotated.old.id, newKeyId: rotated.created.id, oldExpiresAt: rotated.old.expiresAt }, 'API key rotated');
      return reply.code(201).send({ key: { ...rotated.created, key }, replaced: rotated.old });
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
      const target = await visibleKey(request.params.id, principalOf(request).department);
      if (!target) {
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
