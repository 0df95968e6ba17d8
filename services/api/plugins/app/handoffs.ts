/**
 * The hand-off service as `fastify.handoffs`, shared by the /v1/handoffs routes and the
 * reconciler so both apply the same start/attach rules (services/handoffs/handoff-service.ts).
 */
import fp from 'fastify-plugin';
import { HandoffService } from '../../../handoffs/handoff-service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    handoffs: HandoffService;
  }
}

export default fp(
  async (fastify) => {
    const config = fastify.tandemConfig;
    const temporal = config.temporal;
    fastify.decorate(
      'handoffs',
      new HandoffService({
        regions: fastify.temporal.regions,
        taskQueue: fastify.temporal.taskQueue,
        store: fastify.store,
        log: fastify.log.child({ component: 'handoffs' }),
        airflow: fastify.airflowClient ?? undefined,
        // The embedded dev server's Web UI; a Temporal elsewhere has its own UI we do not know.
        ...(temporal.embedded ? { temporalUiUrl: `http://${config.host}:${temporal.uiPort}` } : {}),
      }),
    );
  },
  { name: 'handoffs', fastify: '5.x', dependencies: ['store', 'temporal', 'airflow'] },
);
