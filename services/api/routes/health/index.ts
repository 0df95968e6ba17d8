/**
 * Probes. `/healthz` answers while the process can answer at all (restart me if not); `/readyz`
 * says whether this API can do useful work now, checking every dependency separately so an
 * operator sees which one is down. Both public and exempt from the rate limit.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { livenessSchema, readinessSchema, type DependencyCheck } from '../../../../shared/contracts/system.ts';

export interface HealthRoutesOptions {
  /** Per dependency; a probe that hangs must not hang the readiness answer. */
  readinessTimeoutMs: number;
}

async function check(probe: (signal: AbortSignal) => Promise<void>, timeoutMs: number): Promise<DependencyCheck> {
  const started = performance.now();
  const signal = AbortSignal.timeout(timeoutMs);
  const timedOut = new Promise<never>((_, reject) => {
    signal.addEventListener('abort', () => reject(new Error(`no answer within ${timeoutMs} ms`)), { once: true });
  });
  try {
    // The signal lets a real client cancel its call; the race covers probes that ignore it.
    await Promise.race([probe(signal), timedOut]);
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return {
      ok: false,
      latencyMs: Math.round(performance.now() - started),
      error: err instanceof Error ? err.message : String(err),
    };
  }
}

const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (fastify, { readinessTimeoutMs }) => {
  fastify.get(
    '/healthz',
    {
      config: { rateLimit: false },
      schema: { tags: ['operations'], summary: 'Liveness', response: { 200: livenessSchema } },
    },
    async () => ({ status: 'ok' as const }),
  );

  fastify.get(
    '/readyz',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'Readiness of the store, Temporal and Airflow',
        response: { 200: readinessSchema, 503: readinessSchema },
      },
    },
    async (request, reply) => {
      const [store, temporal, airflow] = await Promise.all([
        check(() => fastify.store.ping(), readinessTimeoutMs),
        check((signal) => fastify.temporal.ping(signal), readinessTimeoutMs),
        check((signal) => fastify.airflowProbe.ping(signal), readinessTimeoutMs),
      ]);
      const checks = { store, temporal, airflow };
      const ready = store.ok && temporal.ok && airflow.ok;
      if (!ready) request.log.warn({ checks }, 'not ready');
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
    },
  );
};

export default healthRoutes;
