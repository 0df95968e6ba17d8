/**
 * API-key authentication and role authorisation for every `/v1` route.
 *
 * - The key comes from `Authorization: Bearer <key>` or `X-API-Key: <key>`; it is hashed and looked
 *   up, and the caller becomes `request.principal`. Missing, unknown or revoked key → 401.
 * - Each `/v1` route lists the roles that may call it in `config.roles`; any other role → 403.
 * - A `/v1` route that declares no roles is refused at registration, so the app does not boot.
 *   Failing at boot (rather than answering 403 at run time) makes a forgotten declaration
 *   impossible to ship unnoticed, and no route is ever open "by default". The request hook still
 *   denies a route without roles, in case one slips past the registration check.
 * - Unknown paths under `/v1` also need a key, so a 404 does not tell strangers which routes exist.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Principal } from '../../../../shared/contracts/principal.ts';
import { problemResponse } from '../../../../shared/contracts/problem.ts';
import type { Role } from '../../../../shared/contracts/roles.ts';
import { ForbiddenError, UnauthorizedError } from '../../../../shared/errors.ts';
import { hashApiKey } from '../../../../shared/store/api-key-hash.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on every `/v1` request that passed authentication; null on public routes. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Roles allowed to call this route. Required on every `/v1` route. */
    roles?: readonly Role[];
  }
}

/** The caller of a `/v1` route handler; throws if used where authentication did not run. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new UnauthorizedError('this operation needs an authenticated caller');
  return request.principal;
}

export function isProtectedPath(path: string): boolean {
  return path === '/v1' || path.startsWith('/v1/');
}

export function presentedApiKey(headers: IncomingHttpHeaders): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')?.[1];
  if (bearer) return bearer;
  const header = headers['x-api-key'];
  return typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined;
}

/** Shown in the OpenAPI document; the schemes are declared in plugins/external/swagger.ts. */
const security: Record<string, string[]>[] = [{ bearerAuth: [] }, { apiKeyHeader: [] }];

export default fp(
  async (fastify) => {
    fastify.decorateRequest('principal', null);

    fastify.addHook('onRoute', (route) => {
      if (!isProtectedPath(route.url)) return;
      const roles = route.config?.roles;
      if (!Array.isArray(roles) || roles.length === 0) {
        throw new Error(
          `${String(route.method)} ${route.url} declares no config.roles; every /v1 route must list the roles that may call it`,
        );
      }
      route.schema = {
        ...route.schema,
        security,
        description: [route.schema?.description, `Roles: ${roles.join(', ')}.`].filter(Boolean).join('\n\n'),
        response: {
          401: problemResponse('Missing, unknown or revoked API key'),
          403: problemResponse('The key’s role may not call this route'),
          ...(route.schema?.response as object | undefined),
        },
      };
    });

    // Last use to the minute, written at most once a minute per key: a write per request would
    // make every read of the API a write to the store.
    const lastTouched = new Map<string, string>();
    const touchLastUsed = (keyId: string) => {
      const minute = `${new Date().toISOString().slice(0, 16)}:00.000Z`;
      if (lastTouched.get(keyId) === minute) return;
      lastTouched.set(keyId, minute);
      fastify.store.touchApiKey(keyId, minute).catch((err: unknown) => fastify.log.warn({ err, keyId }, 'could not record the API key’s last use'));
    };

    fastify.addHook('onRequest', async (request) => {
      const routeUrl = request.routeOptions.url;
      const path = routeUrl ?? request.url.split('?', 1)[0]!;
      // The matched route pattern decides, not the raw URL, so path tricks cannot dodge the check.
      if (!isProtectedPath(path)) return;

      const key = presentedApiKey(request.headers);
      if (!key) {
        throw new UnauthorizedError('missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`');
      }
      const record = await fastify.store.findApiKeyByHash(hashApiKey(key));
      if (!record || record.revokedAt) {
        if (record) request.log.info({ keyId: record.id }, 'revoked API key presented');
        throw new UnauthorizedError('unknown or revoked API key');
      }
      if (record.expiresAt && Date.parse(record.expiresAt) <= Date.now()) {
        request.log.info({ keyId: record.id, expiresAt: record.expiresAt }, 'expired API key presented');
        throw new UnauthorizedError(`API key expired at ${record.expiresAt}${record.rotatedTo ? ' (it was rotated; use its replacement)' : ''}`);
      }
      touchLastUsed(record.id);
      request.principal = { keyId: record.id, name: record.name, role: record.role, department: record.department };
      // Every later log line of this request says who made it.
      request.log = request.log.child({ keyId: record.id, role: record.role });

      if (request.is404) return; // authenticated callers get an honest 404
      const allowed = request.routeOptions.config.roles ?? [];
      if (!allowed.includes(record.role)) {
        throw new ForbiddenError(`role ${record.role} may not call ${request.method} ${routeUrl}`);
      }
    });
  },
  { name: 'auth', fastify: '5.x', dependencies: ['store'] },
);
