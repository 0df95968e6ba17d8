/**
 * Applied pipelines: apply, list, get, pause, unpause, delete; runs (trigger partitions or a
 * backfill range, list from Airflow) and partitions (last fingerprint, when it changed, last run:
 * skipped or ran, and why). HTTP only: the domain is `fastify.pipelines`
 * (services/pipelines/pipeline-service.ts). Registered by ./index.ts beside validate.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  applyResultSchema,
  partitionListSchema,
  pipelineIdParamsSchema,
  pipelineListQuerySchema,
  pipelineListSchema,
  pipelineRunListQuerySchema,
  pipelineRunListSchema,
  pipelineRunParamsSchema,
  recordedRunEndSchema,
  pipelineViewSchema,
  triggeredRunsSchema,
  triggerRequestSchema,
} from '../../../../../shared/contracts/pipelines.ts';
import { decodeCursor, pageOf } from '../../../../../shared/contracts/pagination.ts';
import { principalOf } from '../../../plugins/app/auth.ts';
import { idempotencyKeyOf } from '../../../plugins/app/idempotency.ts';
import { correlate } from '../../../plugins/app/request-log.ts';
import { problemResponse } from '../../../../../shared/contracts/problem.ts';

const appliers = ['admin', 'data-engineer'] as const;
const triggerers = ['admin', 'data-engineer', 'service'] as const;
const readers = ['admin', 'data-engineer', 'ai-engineer', 'service'] as const;
/** Airflow's side of a run, reporting back with the service key (or an admin repairing a missed report). */
const reporters = ['service', 'admin'] as const;

const pipelineManageRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { pipelines } = fastify;

  fastify.post(
    '',
    {
      config: { roles: appliers, idempotent: true, dependsOn: ['airflow'] },
      schema: {
        tags: ['pipelines'],
        summary: 'Apply a pipeline spec (JSON or YAML): validate, lint, generate the DAG and deploy it to Airflow',
        description:
          'Lint errors block (422 listing every finding with its spec path); warnings are returned. A DAG file Airflow rejects is a 422 with the import error, and the previous version keeps running.',
        body: z.unknown(),
        response: { 200: applyResultSchema, 201: applyResultSchema, 404: problemResponse('The pipeline id belongs to another department') },
      },
    },
    async (request, reply) => {
      const { created, result } = await pipelines.apply(request.body, principalOf(request));
      return reply.code(created ? 201 : 200).send(result);
    },
  );

  fastify.get(
    '',
    {
      config: { roles: readers },
      schema: {
        tags: ['pipelines'],
        summary: 'Pipelines of the caller’s department (all departments for a `*` key)',
        querystring: pipelineListQuerySchema,
        response: { 200: pipelineListSchema },
      },
    },
    async (request) => {
      const { includeDeleted, limit, cursor } = request.query;
      const [afterId] = decodeCursor(cursor, z.tuple([z.string()])) ?? [];
      const list = await pipelines.list(principalOf(request), includeDeleted === 'true', { afterId, limit: limit + 1 });
      const page = pageOf(list, limit, (p) => [p.id], request.url);
      return { pipelines: page.items, next: page.next };
    },
  );

  fastify.get(
    '/:id',
    {
      config: { roles: readers },
      schema: { tags: ['pipelines'], summary: 'One pipeline', params: pipelineIdParamsSchema, response: { 200: pipelineViewSchema } },
    },
    async (request) => pipelines.get(principalOf(request), request.params.id),
  );

  for (const action of ['pause', 'unpause'] as const) {
    fastify.post(
      `/:id/${action}`,
      {
        config: { roles: appliers, dependsOn: ['airflow'] },
        schema: {
          tags: ['pipelines'],
          summary: action === 'pause' ? 'Pause: no new runs until unpaused (runs in flight finish)' : 'Unpause',
          params: pipelineIdParamsSchema,
          response: { 200: pipelineViewSchema },
        },
      },
      async (request) => pipelines.setPaused(principalOf(request), request.params.id, action === 'pause'),
    );
  }

  fastify.delete(
    '/:id',
    {
      config: { roles: appliers, dependsOn: ['airflow'] },
      schema: {
        tags: ['pipelines'],
        summary: 'Pause the DAG and remove its file; run history stays in Airflow and the pipeline is kept as deleted',
        params: pipelineIdParamsSchema,
        response: { 200: pipelineViewSchema },
      },
    },
    async (request) => pipelines.remove(principalOf(request), request.params.id),
  );

  fastify.post(
    '/:id/runs',
    {
      config: { roles: triggerers, idempotent: true, dependsOn: ['airflow'] },
      schema: {
        tags: ['pipelines'],
        summary: 'Trigger a run of chosen partitions (default all), or one run per day of a backfill range',
        description:
          'Run conf is `{partitions, force}`. `force` runs partitions whose sources did not change. Send `Idempotency-Key` to make retries safe: the same key gives the same Airflow run ids.',
        params: pipelineIdParamsSchema,
        body: triggerRequestSchema,
        response: { 201: triggeredRunsSchema },
      },
    },
    async (request, reply) => {
      const runs = await pipelines.triggerRuns(principalOf(request), request.params.id, request.body, idempotencyKeyOf(request));
      correlate(request, { dagRunId: runs.map((r) => r.runId) });
      return reply.code(201).send({ runs });
    },
  );

  fastify.get(
    '/:id/runs',
    {
      config: { roles: readers, dependsOn: ['airflow'] },
      schema: {
        tags: ['pipelines'],
        summary: 'Recent runs from Airflow, newest first, each with the state of every partition',
        params: pipelineIdParamsSchema,
        querystring: pipelineRunListQuerySchema,
        response: { 200: pipelineRunListSchema },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const [offset] = decodeCursor(cursor, z.tuple([z.number().int().min(0).max(1_000_000)])) ?? [0];
      const runs = await pipelines.listRuns(principalOf(request), request.params.id, limit + 1, offset);
      // Airflow pages by offset, so the cursor carries the offset of the next page.
      const page = pageOf(runs, limit, () => [offset + limit], request.url);
      return { runs: page.items, next: page.next };
    },
  );

  fastify.post(
    '/:id/runs/:runId/finished',
    {
      config: { roles: reporters, dependsOn: ['airflow'] },
      schema: {
        tags: ['pipelines'],
        summary: 'A DAG run of the pipeline ended: record it and emit `pipeline.run.finished`',
        description:
          'Sent by the generated DAG’s `on_success_callback` / `on_failure_callback`. The run’s state and partitions are read from Airflow, not taken from the caller; a failed partition not reported yet is recorded (and `partition.failed` emitted) first. 409 while the run has not ended. Idempotent: a retried report emits the same event id.',
        params: pipelineRunParamsSchema,
        response: { 200: recordedRunEndSchema, 409: problemResponse('The run has not ended') },
      },
    },
    async (request) => {
      correlate(request, { dagRunId: request.params.runId });
      return pipelines.recordRunFinished(principalOf(request), request.params.id, request.params.runId);
    },
  );

  fastify.get(
    '/:id/partitions',
    {
      config: { roles: readers, dependsOn: ['airflow'] },
      schema: {
        tags: ['pipelines'],
        summary: 'Per partition: last committed fingerprints, when they last changed, and the last run (ran, skipped or failed, and why)',
        description: 'A read: a run still pending in the store is looked up in Airflow, and nothing is written.',
        params: pipelineIdParamsSchema,
        response: { 200: partitionListSchema },
      },
    },
    async (request) => ({ partitions: await pipelines.partitions(principalOf(request), request.params.id) }),
  );
};

export default pipelineManageRoutes;
