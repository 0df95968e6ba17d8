/**
 * `Idempotency-Key` on every POST that starts or changes work (routes with
 * `config: { idempotent: true }`), after the IETF httpapi Idempotency-Key draft:
 * - the same key with the same request (route, params, body) replays the original status and
 *   body, with `Idempotency-Replayed: true`, and does nothing again;
 * - the same key with a different request is a 422;
 * - the same key while the first request is still in flight is a 409;
 * - keys are scoped to the API key that sent them and kept at least 24 h in the store, so a
 *   replay works across API restarts and replicas.
 * A 5xx is not stored: the failure may be temporary, so a retry with the same key does the work.
 * Stored responses are sealed with the payload keyring, like Temporal payloads: they can carry a
 * new API key's plaintext or a review's patient context.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { problemContentType, problemDetailsSchema } from '../../../../shared/contracts/problem.ts';
import { ConflictError, ValidationError } from '../../../../shared/errors.ts';
import { openJson, sealJson } from '../../../../shared/payload-codec.ts';
import { canonicalJson } from '../../../../shared/store/audit-log.ts';
import { principalOf } from './auth.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Honour `Idempotency-Key` on this route (POSTs that start or change work). */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    /** The claimed Idempotency-Key of this request, to complete or release when it ends. */
    idempotencyClaim: { keyId: string; idempotencyKey: string } | null;
  }
}

export const idempotencyKeyHeader = 'idempotency-key';
/** Longer than any client's retry window; the draft asks servers to say how long they keep keys. */
export const idempotencyTtlMs = 24 * 60 * 60 * 1000;

/**
 * The request's Idempotency-Key, as this plugin checked it (one value, 1–200 printable
 * characters). Routes read it from here rather than declaring the header: it is documented in
 * each operation's description, because a fuzzer that generates header values would send one key
 * with many bodies and, rightly, get 422s.
 */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers[idempotencyKeyHeader];
  return typeof header === 'string' ? header : undefined;
}
/** A claim that long without a response belonged to an API process that died mid-request. */
const inFlightTimeoutMs = 5 * 60 * 1000;

const keyPattern = /^[\x21-\x7e]{1,200}$/;

/** What makes two requests "the same request": method, route, path params and body (key order aside). */
export function requestFingerprint(method: string, route: string, params: unknown, body: unknown): string {
  const text = typeof body === 'string' ? body : canonicalJson(body ?? null);
  return createHash('sha256').update(`${method} ${route}\0${canonicalJson(params ?? {})}\0${text}`).digest('hex');
}

function fingerprintOf(request: FastifyRequest): string {
  return requestFingerprint(request.method, request.routeOptions.url ?? '', request.params, request.body);
}

const problemResponse = (description: string) => ({ description, content: { [problemContentType]: { schema: problemDetailsSchema } } });

export default fp(
  async (fastify) => {
    const { idempotency } = fastify.store;
    // Apps built without a Temporal data converter (tests) keep the body as it is. Every region's
    // client has the process's one keyring.
    const codec = fastify.temporal.regions.local.client.options?.loadedDataConverter?.payloadCodecs?.[0];
    const seal = async (body: string) => (codec ? sealJson(body, codec) : body);
    const open = async (stored: string) => (codec ? String(await openJson(stored, codec)) : stored);
    fastify.decorateRequest('idempotencyClaim', null);

    fastify.addHook('onRoute', (route) => {
      if (!route.config?.idempotent) return;
      const description = [
        route.schema?.description,
        `Send \`Idempotency-Key\` (1–200 printable characters) to make a retry safe: the same key and the same request replay the original response (header \`Idempotency-Replayed: true\`) for ${idempotencyTtlMs / 3_600_000} h, scoped to your API key.`,
      ].filter(Boolean).join('\n\n');
      route.schema = {
        ...route.schema,
        description,
        response: {
          409: problemResponse('A request with this Idempotency-Key is still in flight; retry later'),
          422: problemResponse('Request is not valid, or this Idempotency-Key was used for a different request'),
          ...(route.schema?.response as object | undefined),
        },
      };
    });

    fastify.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!request.routeOptions.config.idempotent) return;
      const header = request.headers[idempotencyKeyHeader];
      if (header === undefined) return;
      const idempotencyKey = Array.isArray(header) ? header[0] : header;
      if (!idempotencyKey || !keyPattern.test(idempotencyKey) || Array.isArray(header)) {
        throw new ValidationError('Idempotency-Key must be one value of 1–200 printable ASCII characters', [
          { path: 'headers.idempotency-key', message: 'one value of 1–200 printable ASCII characters' },
        ]);
      }
      const { keyId } = principalOf(request);
      const claim = await idempotency.claim({ keyId, idempotencyKey, fingerprint: fingerprintOf(request), ttlMs: idempotencyTtlMs, inFlightTimeoutMs });
      if (claim.kind === 'in-flight') throw new ConflictError('a request with this Idempotency-Key is still being processed; retry when it has finished');
      if (claim.kind === 'mismatch') {
        throw new ValidationError('this Idempotency-Key was already used for a different request', [
          { path: 'headers.idempotency-key', message: 'already used with another route or body; use a new key for a new request' },
        ]);
      }
      if (claim.kind === 'replay') {
        request.log.info({ idempotencyKey, status: claim.status }, 'idempotent replay');
        reply.code(claim.status).header('idempotency-replayed', 'true');
        if (claim.contentType) reply.header('content-type', claim.contentType);
        // Already serialized when it was first sent: a string payload is sent as it is.
        return reply.send(await open(claim.body));
      }
      request.idempotencyClaim = { keyId, idempotencyKey };
    });

    fastify.addHook('onSend', async (request, reply, payload) => {
      const claim = request.idempotencyClaim;
      if (!claim) return payload;
      request.idempotencyClaim = null;
      if (reply.statusCode >= 500) {
        await idempotency.release(claim.keyId, claim.idempotencyKey);
        return payload;
      }
      const contentType = reply.getHeader('content-type');
      await idempotency.complete(claim.keyId, claim.idempotencyKey, {
        status: reply.statusCode,
        contentType: typeof contentType === 'string' ? contentType : null,
        body: await seal(typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : ''),
      });
      return payload;
    });

    // A request that never sent its response (the client hung up mid-handler) frees its key.
    fastify.addHook('onResponse', async (request) => {
      const claim = request.idempotencyClaim;
      if (claim) await idempotency.release(claim.keyId, claim.idempotencyKey);
    });

    // Expired records go once an hour; claims are checked for expiry when read, so this is only housekeeping.
    const purge = setInterval(() => {
      idempotency.purgeExpired().catch((err: unknown) => fastify.log.warn({ err }, 'could not purge expired idempotency keys'));
    }, 3_600_000);
    purge.unref();
    fastify.addHook('onClose', async () => clearInterval(purge));
  },
  { name: 'idempotency', fastify: '5.x', dependencies: ['store', 'auth', 'temporal'] },
);
