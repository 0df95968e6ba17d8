/**
 * The pipeline service as `fastify.pipelines`, for the /v1/pipelines routes
 * (services/pipelines/pipeline-service.ts). Lints with the app's own configuration, so a dry run
 * and a deploy always judge a spec by the same off-peak windows.
 */
import fp from 'fastify-plugin';
import { lintOptionsFrom } from '../../../pipelines/lint.ts';
import { PipelineService } from '../../../pipelines/pipeline-service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    pipelines: PipelineService;
  }
}

export default fp(
  async (fastify) => {
    const config = fastify.tandemConfig;
    fastify.decorate(
      'pipelines',
      new PipelineService({
        store: fastify.store,
        airflow: fastify.airflowClient,
        dagsFolder: config.airflow.dagsFolder,
        lintOptions: lintOptionsFrom(config),
        log: fastify.log.child({ component: 'pipelines' }),
      }),
    );
  },
  { name: 'pipelines', fastify: '5.x', dependencies: ['store', 'airflow'] },
);
