/**
 * Request rate limit per client address, from `api.rateLimitPerMinute`. Probes and scrapers are
 * exempt (`config: { rateLimit: false }` on their routes) so a busy API never looks dead to them.
 * The counts are the store's (`store.rateLimits`): on PostgreSQL every API replica counts into
 * the same windows, so a client's limit holds however its requests are spread.
 */
import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import { RateLimitedError } from '../../../../shared/errors.ts';
import type { RateLimitCounter } from '../../../../shared/store/rate-limits.ts';

export interface RateLimitPluginOptions {
  perMinute: number;
  counter: RateLimitCounter;
}

/** @fastify/rate-limit's store interface over the tandem store's counter. */
function counterStore(counter: RateLimitCounter): new () => FastifyRateLimitStore {
  return class StoreCounter implements FastifyRateLimitStore {
    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      counter.hit(key, timeWindow).then(
        (hit) => callback(null, { current: hit.hits, ttl: hit.resetInMs }),
        (err: Error) => callback(err),
      );
    }

    child(): FastifyRateLimitStore {
      return this;
    }
  };
}

export default fp<RateLimitPluginOptions>(
  async (fastify, { perMinute, counter }) => {
    await fastify.register(rateLimit, {
      max: perMinute,
      timeWindow: 60_000,
      store: counterStore(counter),
      // A store that cannot count does not turn every request into an error: the request goes on
      // (and fails on its own if it needs the store; /readyz reports the store down).
      skipOnError: true,
      // Thrown, so the one error handler renders it as problem+json (Retry-After is already set).
      errorResponseBuilder: (_request, context) =>
        new RateLimitedError(`rate limit of ${context.max} requests per minute exceeded; retry in ${context.after}`),
    });
  },
  { name: 'rate-limit', fastify: '5.x' },
);
