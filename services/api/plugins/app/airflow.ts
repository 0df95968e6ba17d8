/**
 * Airflow for the API, under two names that say what each is for: `fastify.airflowProbe`, the
 * readiness probe `/readyz` asks, and `fastify.airflowClient`, the REST client everything else
 * (pipelines, hand-off XComs, the reconciler) uses. Both are injected so tests can pass fakes.
 */
import fp from 'fastify-plugin';
import type { AirflowClient } from '../../../airflow/client.ts';

export interface AirflowReadinessProbe {
  /** Rejects when the Airflow api-server (or a component it reports on) is not healthy. */
  ping(signal: AbortSignal): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    airflowProbe: AirflowReadinessProbe;
    /** Null when the app was built without an Airflow client (what needs it answers 503). */
    airflowClient: AirflowClient | null;
  }
}

/**
 * Readiness from Airflow's own health report. The triggerer counts: without it deferred hand-off
 * tasks never resume, so pipelines would hang while everything else looks fine.
 */
export function airflowReadinessProbe(client: Pick<AirflowClient, 'health'>): AirflowReadinessProbe {
  return {
    async ping(signal) {
      const health = await client.health({ signal });
      const components = { metadatabase: health.metadatabase, scheduler: health.scheduler, triggerer: health.triggerer };
      const unhealthy = Object.entries(components)
        .filter(([, component]) => component.status !== 'healthy')
        .map(([name, component]) => `${name} is ${component.status ?? 'unknown'}`);
      if (unhealthy.length > 0) throw new Error(`Airflow ${unhealthy.join(', ')}`);
    },
  };
}

export interface AirflowPluginOptions {
  probe: AirflowReadinessProbe;
  client?: AirflowClient | undefined;
}

export default fp<AirflowPluginOptions>(
  async (fastify, { probe, client }) => {
    // Nothing to close: the Airflow client is plain HTTP without a pooled connection we own.
    fastify.decorate('airflowProbe', probe);
    fastify.decorate('airflowClient', client ?? null);
  },
  { name: 'airflow', fastify: '5.x' },
);
