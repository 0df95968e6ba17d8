/**
 * Request rate limit per client address, from `api.rateLimitPerMinute`. Probes and scrapers are
 * exempt (`config: { rateLimit: false }` on their routes) so a busy API never looks dead to them.
 */
import rateLimit from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import { RateLimitedError } from '../../../../shared/errors.ts';

export interface RateLimitPluginOptions {
  perMinute: number;
}

export default fp<RateLimitPluginOptions>(
  async (fastify, { perMinute }) => {
    await fastify.register(rateLimit, {
      max: perMinute,
      timeWindow: 60_000,
      // Thrown, so the one error handler renders it as problem+json (Retry-After is already set).
      errorResponseBuilder: (_request, context) =>
        new RateLimitedError(`rate limit of ${context.max} requests per minute exceeded; retry in ${context.after}`),
    });
  },
  { name: 'rate-limit', fastify: '5.x' },
);
