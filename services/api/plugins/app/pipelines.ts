/**
 * The pipeline service as `fastify.pipelines`, for the /v1/pipelines routes
 * (services/pipelines/pipeline-service.ts). Lints with the app's own configuration, so a dry run
 * and a deploy always judge a spec by the same off-peak windows; emits the webhook events of the
 * pipeline facts it audits (a failed partition, a run's end).
 */
import fp from 'fastify-plugin';
import type { AuditEntry } from '../../../../shared/store/audit-log.ts';
import { lintOptionsFrom } from '../../../pipelines/lint.ts';
import { PipelineService } from '../../../pipelines/pipeline-service.ts';
import { emitEventsOfAuditEntry, startWebhookDeliveryWith } from '../../../webhooks/events.ts';

declare module 'fastify' {
  interface FastifyInstance {
    pipelines: PipelineService;
  }
}

export default fp(
  async (fastify) => {
    const config = fastify.tandemConfig;
    const log = fastify.log.child({ component: 'pipelines' });
    // Partition failures and run ends are audited here, in the API, so their events are emitted
    // here too, starting the delivery workflows on the worker's task queue.
    const onAudited = async (entry: AuditEntry) => {
      const { regions, taskQueue } = fastify.temporal;
      const clientFor = async (department: string) => (await regions.forDepartment(department)).client;
      for (const emitted of await emitEventsOfAuditEntry(fastify.store.webhooks, startWebhookDeliveryWith(clientFor, taskQueue), entry)) {
        if (emitted.subscribers > 0) log.info({ ...emitted }, 'webhook event emitted');
      }
    };
    fastify.decorate(
      'pipelines',
      new PipelineService({
        store: fastify.store,
        airflow: fastify.airflowClient,
        dagsFolder: config.airflow.dagsFolder,
        lintOptions: lintOptionsFrom(config),
        log,
        onAudited,
      }),
    );
  },
  { name: 'pipelines', fastify: '5.x', dependencies: ['store', 'airflow', 'temporal'] },
);
