/**
 * `/v1/fingerprints`: called by the partition tasks of generated DAGs with the service key (through
 * TandemApiHook in dags/tandem_airflow/hooks/tandem_api.py): check, commit, and the failure a
 * partition's task reports from its `on_failure_callback`. Admins may call it too, to inspect or repair.
 * A key scoped to one department reaches only its department's pipelines; another department's
 * pipeline reads as missing (404).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  committedFingerprintSchema,
  fingerprintCheckBodySchema,
  fingerprintCheckResultSchema,
  fingerprintCommitBodySchema,
  fingerprintQuerySchema,
  partitionFailureBodySchema,
  partitionRunSchema,
} from '../../../../../shared/contracts/fingerprints.ts';
import { allDepartments, scopeIncludes } from '../../../../../shared/contracts/roles.ts';
import { ConflictError, NotFoundError } from '../../../../../shared/errors.ts';
import { principalOf } from '../../../plugins/app/auth.ts';
import { correlate } from '../../../plugins/app/request-log.ts';
import type { FastifyRequest } from 'fastify';
import { NothingPendingError } from '../../../../../shared/store/fingerprints.ts';
import { problemResponse } from '../../../../../shared/contracts/problem.ts';

const callers = ['service', 'admin'] as const;

const fingerprintRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { fingerprints } = fastify.store;
  const unknownPipeline = problemResponse('No pipeline with this id in the key’s department');

  /** `*` keys reach every pipeline id (even one not applied yet, as before); others their department's. */
  async function checkScope(request: FastifyRequest, pipelineId: string): Promise<void> {
    const { department } = principalOf(request);
    if (department === allDepartments) return;
    const pipeline = await fastify.store.pipelines.get(pipelineId);
    if (!pipeline || !scopeIncludes(department, pipeline.department)) throw new NotFoundError(`pipeline ${pipelineId} not found`);
  }

  fastify.get(
    '',
    {
      config: { roles: callers },
      schema: {
        tags: ['fingerprints'],
        summary: 'The committed fingerprints of one partition (the size+mtime fast path needs them)',
        querystring: fingerprintQuerySchema,
        response: { 200: z.object({ sources: z.array(committedFingerprintSchema) }), 404: unknownPipeline },
      },
    },
    async (request) => {
      await checkScope(request, request.query.pipelineId);
      return { sources: await fingerprints.committed(request.query.pipelineId, request.query.partition) };
    },
  );

  fastify.post(
    '/check',
    {
      config: { roles: callers },
      schema: {
        tags: ['fingerprints'],
        summary: 'Did any source of this partition change since its last successful run? Records the values as pending',
        body: fingerprintCheckBodySchema,
        response: { 200: fingerprintCheckResultSchema, 404: unknownPipeline },
      },
    },
    async (request) => {
      await checkScope(request, request.body.pipelineId);
      const result = await fingerprints.check(request.body);
      request.log.info(
        { pipelineId: request.body.pipelineId, partition: request.body.partition, runId: request.body.runId, changed: result.changed },
        'fingerprints checked',
      );
      return result;
    },
  );

  fastify.post(
    '/commit',
    {
      config: { roles: callers },
      schema: {
        tags: ['fingerprints'],
        summary: 'The partition’s stages succeeded: make the checked fingerprints the committed ones',
        body: fingerprintCommitBodySchema,
        response: { 200: z.object({ committed: z.number().int() }), 404: unknownPipeline, 409: problemResponse('Nothing was checked for this run') },
      },
    },
    async (request) => {
      await checkScope(request, request.body.pipelineId);
      try {
        return await fingerprints.commit(request.body);
      } catch (err) {
        if (err instanceof NothingPendingError) throw new ConflictError(err.message);
        throw err;
      }
    },
  );

  fastify.post(
    '/fail',
    {
      config: { roles: callers },
      schema: {
        tags: ['fingerprints'],
        summary: 'A task of the partition failed for good: record it (fingerprints stay uncommitted) and emit `partition.failed`',
        description:
          'Sent by the `on_failure_callback` of every task a generated DAG runs for a partition. The event belongs to the pipeline’s department; one event per partition and run (a retried report, or a second failing task, emits the same event id). The error message is kept as the partition’s last-run reason only, never in the audit log or the event.',
        body: partitionFailureBodySchema,
        response: { 200: partitionRunSchema, 404: unknownPipeline },
      },
    },
    async (request) => {
      const lastRun = await fastify.pipelines.recordPartitionFailure(principalOf(request), request.body);
      correlate(request, { pipelineId: request.body.pipelineId, dagRunId: request.body.runId, taskId: request.body.taskId });
      return lastRun;
    },
  );
};

export default fingerprintRoutes;
