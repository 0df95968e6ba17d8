/**
 * Prometheus metrics at `GET /metrics` (public, like the health probes: scrapers carry no API key).
 * Each app gets its own registry instead of prom-client's global one, so several apps in one
 * process (tests) do not collide, and other plugins can register their metrics on
 * `fastify.metricsRegistry`.
 */
import fp from 'fastify-plugin';
import { z } from 'zod';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    metricsRegistry: Registry;
  }
}

export default fp(
  async (fastify) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const labelNames = ['method', 'route', 'status_code'] as const;
    const requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered by the control API',
      labelNames,
      registers: [registry],
    });
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request to the control API',
      labelNames,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    fastify.decorate('metricsRegistry', registry);

    fastify.addHook('onResponse', async (request, reply) => {
      // The route pattern, never the raw URL: ids in paths would make the label set unbounded.
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      };
      requests.inc(labels);
      duration.observe(labels, reply.elapsedTime / 1000);
    });

    fastify.get(
      '/metrics',
      {
        config: { rateLimit: false },
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics (text exposition format)',
          response: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } } },
        },
      },
      async (_request, reply) => {
        reply.type(registry.contentType);
        return registry.metrics();
      },
    );
  },
  { name: 'metrics', fastify: '5.x' },
);
