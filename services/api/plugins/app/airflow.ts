/**
 * Airflow as `fastify.airflow`. For now only what readiness needs; routes that deploy DAGs and
 * trigger runs will widen this to the bridge's `AirflowClient`. Injected so tests can pass a fake.
 */
import fp from 'fastify-plugin';
import type { AirflowClient } from '../../../bridge/airflow-client.ts';

export interface AirflowHealth {
  /** Rejects when the Airflow api-server (or the scheduler it reports on) is not healthy. */
  ping(signal: AbortSignal): Promise<void>;
}

/** The bridge's REST client plus the DAGs folder it deploys into (pipelines routes). */
export interface AirflowDeployTarget {
  client: AirflowClient;
  dagsFolder: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    airflow: AirflowHealth;
    /** Null when the app was built without an Airflow client (routes needing it answer 503). */
    airflowDeploy: AirflowDeployTarget | null;
  }
}

/**
 * Readiness from Airflow's own health report. The triggerer counts: without it deferred hand-off
 * tasks never resume, so pipelines would hang while everything else looks fine.
 */
export function airflowHealthProbe(client: Pick<AirflowClient, 'health'>): AirflowHealth {
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
  health: AirflowHealth;
  deploy?: AirflowDeployTarget;
}

export default fp<AirflowPluginOptions>(
  async (fastify, { health, deploy }) => {
    // Nothing to close: the Airflow client is plain HTTP without a pooled connection we own.
    fastify.decorate('airflow', health);
    fastify.decorate('airflowDeploy', deploy ?? null);
  },
  { name: 'airflow', fastify: '5.x' },
);
