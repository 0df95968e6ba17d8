/**
 * The hand-off reconciler (services/handoffs/reconciler.ts) as `fastify.handoffReconciler`,
 * run by node-cron on `config.handoffs.reconcileSchedule` from `onReady` until `onClose`, which
 * also waits for a pass in flight. Null when the app has no Airflow REST client (the app fixture):
 * there is nothing to reconcile against. `POST /v1/handoffs/reconcile` runs a pass on demand.
 */
import fp from 'fastify-plugin';
import nodeCron, { type ScheduledTask } from 'node-cron';
import { HandoffReconciler } from '../../../handoffs/reconciler.ts';

declare module 'fastify' {
  interface FastifyInstance {
    handoffReconciler: HandoffReconciler | null;
  }
}

export default fp(
  async (fastify) => {
    const airflow = fastify.airflowClient;
    if (!airflow) {
      fastify.decorate('handoffReconciler', null);
      return;
    }
    const log = fastify.log.child({ component: 'handoff-reconciler' });
    const reconciler = new HandoffReconciler({
      handoffs: fastify.handoffs,
      store: fastify.store,
      airflow,
      log,
      registry: fastify.metricsRegistry,
    });
    fastify.decorate('handoffReconciler', reconciler);

    const schedule = fastify.tandemConfig.handoffs.reconcileSchedule;
    if (schedule === 'off') return;
    let task: ScheduledTask | undefined;
    fastify.addHook('onReady', async () => {
      // The reconciler is single-flight itself (and counts what it skips), so node-cron's own
      // overlap prevention stays off.
      task = nodeCron.createTask(schedule, () => reconciler.tick(), {
        name: 'handoff-reconciler',
        logger: {
          info: (message) => log.info(message),
          warn: (message) => log.warn(message),
          error: (message, err) => log.error({ err }, String(message)),
          debug: (message, err) => log.debug({ err }, String(message)),
        },
      });
      await task.start();
      log.info({ schedule }, 'hand-off reconciler scheduled');
    });
    fastify.addHook('onClose', async () => {
      await task?.destroy();
      await reconciler.idle();
    });
  },
  { name: 'handoff-reconciler', fastify: '5.x', dependencies: ['handoffs', 'airflow', 'store', 'metrics'] },
);
