/**
 * The hand-off reconciler (services/handoffs/reconciler.ts) as `fastify.handoffReconciler`,
 * run by node-cron on `config.handoffs.reconcileSchedule` from `onReady` until `onClose`, which
 * also waits for a pass in flight. Null when the app has no Airflow REST client (the app fixture):
 * there is nothing to reconcile against. `POST /v1/handoffs/reconcile` runs a pass on demand.
 *
 * With several API replicas, the scheduled pass runs on one of them at a time: each tick first
 * asks the store for the reconciler's leadership (a session advisory lock on PostgreSQL), so when
 * the leader dies the next tick of another replica takes over.
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
    const leadership = fastify.store.leadership('handoff-reconciler');
    let leading = false;
    const scheduledTick = async () => {
      const holds = await leadership.holds();
      if (holds !== leading) log.info({ leading: holds }, holds ? 'this replica now runs the hand-off reconciler' : 'another replica runs the hand-off reconciler');
      leading = holds;
      if (holds) await reconciler.tick();
    };

    let task: ScheduledTask | undefined;
    fastify.addHook('onReady', async () => {
      // The reconciler is single-flight itself (and counts what it skips), so node-cron's own
      // overlap prevention stays off.
      task = nodeCron.createTask(schedule, scheduledTick, {
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
      await leadership.release();
    });
  },
  { name: 'handoff-reconciler', fastify: '5.x', dependencies: ['handoffs', 'airflow', 'store', 'metrics'] },
);
