/**
 * The API's contract, applied to every route as it registers so no route can forget it:
 *
 * - Every documented operation declares the problem statuses the framework and the shared hooks
 *   can give it: 400 (malformed), 404 (a path parameter that names nothing), 413 and 415 (body),
 *   422 (schema validation), 429 (rate limit); 502 and 503 (with Retry-After) where the route
 *   says it `dependsOn` Airflow or Temporal. Auth adds 401/403 on `/v1`; a route adds what only
 *   its handler can answer (409, 503, a 404 without path parameters) in its own `schema.response`,
 *   which wins over these defaults.
 * - An operation without a body schema refuses a body with 415: the operation reads no content,
 *   so any content is in a format it does not support. 415 rather than 400 because the request is
 *   otherwise well formed, and a client fixes it by sending nothing, not by changing the content.
 * - Every route pattern is known, so an unsupported method on a known path is 405 with `Allow`
 *   instead of 404 — decided in preParsing, after authentication (so strangers learn nothing) and
 *   before any body parser, which would otherwise answer a body method such as QUERY with 400.
 *   Unknown paths fall through to the not-found handler.
 */
import type { FastifyRequest, HTTPMethods, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { problemResponse } from '../../../../shared/contracts/problem.ts';
import { MethodNotAllowedError, UnsupportedMediaTypeError } from '../../../../shared/errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The engines this route calls; each may fail it with 503 (down, busy) or 502 (refused). */
    dependsOn?: readonly ('airflow' | 'temporal' | 'kubernetes')[];
  }
  interface FastifyInstance {
    /** Methods registered for a concrete path (e.g. `/v1/pipelines/kb`); empty when no route matches it. */
    allowedMethods(path: string): string[];
  }
}

const retryAfter = { 'retry-after': { type: 'integer', description: 'Seconds to wait before retrying' } };

/** The problems shared hooks and the framework can answer for this route, by status. */
export function standardProblems(route: Pick<RouteOptions, 'schema' | 'config'>): Record<number, unknown> {
  const schema = route.schema ?? {};
  const hasBody = schema.body !== undefined;
  const engines = route.config?.dependsOn ?? [];
  const hasInput = hasBody || schema.params !== undefined || schema.querystring !== undefined || schema.headers !== undefined;
  return {
    400: problemResponse('The request is malformed: not valid JSON, or not readable at all'),
    ...(schema.params !== undefined ? { 404: problemResponse('Nothing with this id (or it belongs to another department)') } : {}),
    // A list's cursor that names no page this API handed out (forged, another list's, expired).
    ...(schema.params === undefined && (schema.querystring as { shape?: Record<string, unknown> } | undefined)?.shape?.cursor !== undefined
      ? { 404: problemResponse('No such page: the cursor was not handed out by this list, or has expired') }
      : {}),
    ...(hasBody ? { 413: problemResponse('The body is larger than the API accepts') } : {}),
    415: problemResponse(hasBody ? 'The body is in a media type this operation does not read' : 'This operation takes no request body'),
    ...(hasInput ? { 422: problemResponse('The request does not match its schema; every issue is listed with its path') } : {}),
    ...((route.config as { rateLimit?: unknown } | undefined)?.rateLimit !== false
      ? { 429: problemResponse('Too many requests from this client; wait for Retry-After', retryAfter) }
      : {}),
    ...(engines.length > 0
      ? {
          502: problemResponse(`${engines.join(' or ')} refused a call tandem made`),
          503: problemResponse(`${engines.join(' or ')} is unavailable or busy; retry after Retry-After`, retryAfter),
        }
      : {}),
  };
}

/** True when the request carries content (a length above zero, or chunked). */
function carriesBody(request: FastifyRequest): boolean {
  const { headers } = request.raw;
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

/** `/v1/pipelines/:id/runs` → a regex for its concrete paths (no route here uses regex parameters). */
function pathPattern(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

export default fp(
  async (fastify) => {
    const routes: { pattern: RegExp; staticSegments: number; methods: string[] }[] = [];

    // The most specific patterns win, as in the document's path items: `/v1/handoffs/reconcile`
    // allows POST only, though `GET /v1/handoffs/:id` would match the same text.
    fastify.decorate('allowedMethods', (path: string) => {
      const matching = routes.filter((route) => route.pattern.test(path));
      const mostStatic = Math.max(...matching.map((route) => route.staticSegments));
      const methods = new Set(matching.filter((route) => route.staticSegments === mostStatic).flatMap((route) => route.methods));
      return [...methods].sort();
    });

    fastify.addHook('preParsing', async (request, _reply, payload) => {
      if (!request.is404) return payload;
      const path = request.url.split('?', 1)[0]!;
      const allowed = fastify.allowedMethods(path);
      if (allowed.length > 0) throw new MethodNotAllowedError(`${request.method} is not supported on ${path}; allowed: ${allowed.join(', ')}`, allowed);
      return payload;
    });

    fastify.addHook('onRoute', (route) => {
      const methods = ([] as HTTPMethods[]).concat(route.method).map((m) => m.toUpperCase());
      routes.push({ pattern: pathPattern(route.url), staticSegments: route.url.split('/').filter((s) => s && !s.startsWith(':') && s !== '*').length, methods });

      // The web console takes HTML form posts it parses itself and answers with pages: it is not
      // part of the API's document, and its own post guard decides what a body may hold.
      if (route.url.startsWith('/console')) {
        route.schema = { ...route.schema, hide: true };
        return;
      }
      if (route.schema?.body === undefined) {
        const refuseBody = async (request: FastifyRequest, _reply: unknown, payload: unknown) => {
          if (carriesBody(request)) throw new UnsupportedMediaTypeError(`${request.method} ${route.url} takes no request body`);
          return payload;
        };
        // preParsing: after authentication (onRequest), before any content type parser reads it.
        route.preParsing = [...([] as unknown[]).concat(route.preParsing ?? []), refuseBody] as RouteOptions['preParsing'];
      }
      if (route.schema?.hide) return;
      route.schema = {
        ...route.schema,
        response: { ...standardProblems(route), ...(route.schema?.response as object | undefined) },
      };
    });
  },
  { name: 'contract', fastify: '5.x' },
);
