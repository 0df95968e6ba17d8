/**
 * Applied pipelines: apply (parse → lint → generate → deploy), list, get, pause, unpause, delete;
 * runs (trigger partitions or a backfill range, list from Airflow) and partitions (last fingerprint,
 * when it changed, last run: skipped or ran, and why). Registered by ./index.ts beside validate.
 *
 * Department scoping: a key scoped to one department sees and changes only that department's
 * pipelines; another department's pipeline answers 404 exactly like a missing one.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { loadConfig } from '../../../../../shared/config.ts';
import { describeSchedule, lintFindingSchema, type PipelineSpec } from '../../../../../shared/contracts/pipeline-spec.ts';
import type { Principal } from '../../../../../shared/contracts/principal.ts';
import { allDepartments, scopeIncludes } from '../../../../../shared/contracts/roles.ts';
import { AirflowUnavailableError, ForbiddenError, NotFoundError, ValidationError } from '../../../../../shared/errors.ts';
import type { PipelineRecord } from '../../../../../shared/store/pipelines.ts';
import type { AirflowClient } from '../../../../bridge/airflow-client.ts';
import { deployDag, undeployDag } from '../../../../bridge/deployer.ts';
import { lintOptionsFrom } from '../../../../bridge/pipeline-lint.ts';
import { planPipeline } from '../../../../bridge/pipeline-plan.ts';
import { listPipelineRuns, MAX_BACKFILL_DAYS, partitionsOfRun, triggerPipelineRuns, unknownPartitionIssues } from '../../../../bridge/pipeline-runs.ts';
import type { AirflowDeployTarget } from '../../../plugins/app/airflow.ts';
import { principalOf } from '../../../plugins/app/auth.ts';

const appliers = ['admin', 'data-engineer'] as const;
const triggerers = ['admin', 'data-engineer', 'service'] as const;
const readers = ['admin', 'data-engineer', 'ai-engineer', 'service'] as const;


const idParams = z.object({ id: z.string().min(1).max(63) });

const pipelineViewSchema = z
  .object({
    id: z.string(),
    department: z.string(),
    description: z.string(),
    status: z.enum(['deployed', 'paused', 'deleted', 'failed']),
    schedule: z.object({ cron: z.string(), timezone: z.string(), description: z.string().nullable() }).nullable(),
    partitionKeys: z.array(z.string()).nullable(),
    partitionByDate: z.boolean(),
    specHash: z.string(),
    dagId: z.string(),
    fileName: z.string(),
    deployedAt: z.string().nullable(),
    lastError: z.string().nullable(),
    updatedAt: z.string(),
    spec: z.unknown(),
  })
  .meta({ id: 'Pipeline' });

const applyResultSchema = z.object({
  pipeline: pipelineViewSchema,
  warnings: z.array(lintFindingSchema),
  /** The generated file was identical to the deployed one. */
  unchanged: z.boolean(),
});

const partitionRunViewSchema = z.object({
  partition: z.string(),
  state: z.enum(['queued', 'running', 'ran', 'skipped', 'failed', 'not_run']),
  tasks: z.record(z.string(), z.string().nullable()),
});
const runViewSchema = z
  .object({
    runId: z.string(),
    state: z.string(),
    runType: z.string(),
    logicalDate: z.string().nullable(),
    runAfter: z.string(),
    startDate: z.string().nullable(),
    endDate: z.string().nullable(),
    conf: z.record(z.string(), z.unknown()).nullable(),
    partitions: z.array(partitionRunViewSchema),
  })
  .meta({ id: 'PipelineRun' });

const isoDay = z.iso.date('must be a date YYYY-MM-DD');
const triggerBodySchema = z
  .object({
    partitions: z.array(z.string().min(1).max(63)).min(1).optional(),
    force: z.boolean().default(false),
    /** Backfill: one run per day, inclusive. */
    from: isoDay.optional(),
    to: isoDay.optional(),
  })
  .strict();

const partitionViewSchema = z
  .object({
    partition: z.string(),
    fingerprints: z.array(
      z.object({
        source: z.string(),
        kind: z.string(),
        identity: z.string(),
        value: z.record(z.string(), z.unknown()),
        committedAt: z.string(),
        changedAt: z.string(),
        committedRunId: z.string(),
      }),
    ),
    lastChangedAt: z.string().nullable(),
    lastRun: z
      .object({ runId: z.string(), outcome: z.enum(['pending', 'ran', 'skipped', 'failed']), reason: z.string(), at: z.string() })
      .nullable(),
  })
  .meta({ id: 'PipelinePartition' });

function specOf(record: PipelineRecord): PipelineSpec {
  // Stored only after parsePipelineSpec accepted it.
  return record.spec as PipelineSpec;
}

function view(record: PipelineRecord) {
  const spec = specOf(record);
  return {
    id: record.id,
    department: record.department,
    description: spec.description ?? '',
    status: record.status,
    schedule: spec.schedule ? { cron: spec.schedule.cron, timezone: spec.schedule.timezone, description: describeSchedule(spec) } : null,
    partitionKeys: spec.partitions?.keys ?? null,
    partitionByDate: spec.partitions?.date !== undefined,
    specHash: record.specHash,
    dagId: record.dagId,
    fileName: record.fileName,
    deployedAt: record.deployedAt,
    lastError: record.lastError,
    updatedAt: record.updatedAt,
    spec: record.spec,
  };
}

function canSee(principal: Principal, department: string): boolean {
  return scopeIncludes(principal.department, department);
}

/** One apply at a time per pipeline id: two deploys of one file must not interleave. */
function serialised() {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const previous = tails.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    tails.set(key, next);
    try {
      return await next;
    } finally {
      if (tails.get(key) === next) tails.delete(key);
    }
  };
}

export interface PipelineManageRoutesOptions {
  /** Lint settings; default from the process configuration (as for validate). */
  lintOptions?: ReturnType<typeof lintOptionsFrom>;
}

const pipelineManageRoutes: FastifyPluginAsyncZod<PipelineManageRoutesOptions> = async (fastify, options) => {
  const lintOptions = options.lintOptions ?? lintOptionsFrom(loadConfig());
  const { pipelines, fingerprints } = fastify.store;
  const withPipelineLock = serialised();
  const airflow = (): AirflowDeployTarget => {
    if (!fastify.airflowDeploy) throw new AirflowUnavailableError('this API runs without an Airflow client, so pipelines cannot be deployed or run');
    return fastify.airflowDeploy;
  };
  const client = (): AirflowClient => airflow().client;

  async function visiblePipeline(principal: Principal, id: string, includeDeleted = false): Promise<PipelineRecord> {
    const record = await pipelines.get(id);
    if (!record || !canSee(principal, record.department) || (record.status === 'deleted' && !includeDeleted)) {
      throw new NotFoundError(`pipeline ${id} not found`);
    }
    return record;
  }

  fastify.post(
    '',
    {
      config: { roles: appliers },
      schema: {
        tags: ['pipelines'],
        summary: 'Apply a pipeline spec (JSON or YAML): validate, lint, generate the DAG and deploy it to Airflow',
        description:
          'Lint errors block (422 listing every finding with its spec path); warnings are returned. A DAG file Airflow rejects is a 422 with the import error, and the previous version keeps running.',
        body: z.unknown(),
        response: { 200: applyResultSchema, 201: applyResultSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      // The same path as POST /v1/pipelines/validate, so a dry run and a deploy never disagree.
      const planned = planPipeline(request.body, lintOptions);
      if (!planned.ok) {
        throw new ValidationError(
          `the pipeline spec has ${planned.issues.length} problem(s): ${planned.issues.map((i) => `${i.path || '(spec)'}: ${i.message}`).join('; ')}`,
          planned.issues,
        );
      }
      const { spec, findings, dag: generated } = planned.plan;
      if (!canSee(principal, spec.department)) {
        throw new ForbiddenError(`this key is scoped to department ${principal.department} and cannot apply a ${spec.department} pipeline`);
      }
      const errors = findings.filter((f) => f.severity === 'error');
      if (errors.length > 0) {
        throw new ValidationError(
          `the pipeline spec fails ${errors.length} lint rule(s)`,
          errors.map((f) => ({ path: f.path, message: `${f.message} (${f.rule})` })),
        );
      }
      const warnings = findings.filter((f) => f.severity === 'warning');
      const { client: airflowClient, dagsFolder } = airflow();

      return withPipelineLock(spec.id, async () => {
        const existing = await pipelines.get(spec.id);
        if (existing && existing.status !== 'deleted' && existing.department !== spec.department) {
          throw new ForbiddenError(`pipeline ${spec.id} belongs to department ${existing.department}; its department cannot change`);
        }
        if (existing && !canSee(principal, existing.department)) throw new NotFoundError(`pipeline ${spec.id} not found`);
        const row = {
          id: spec.id,
          department: spec.department,
          spec,
          specHash: generated.specHash,
          dagId: generated.dagId,
          fileName: generated.fileName,
        };
        const keepPaused = existing?.status === 'paused';
        const live = existing && (existing.status === 'deployed' || existing.status === 'paused');
        try {
          const result = await deployDag(airflowClient, dagsFolder, generated, {
            paused: keepPaused,
            progress: (line) => request.log.info({ pipelineId: spec.id }, line),
          });
          const saved = await pipelines.save({
            ...row,
            status: keepPaused ? 'paused' : 'deployed',
            deployedAt: result.unchanged && existing?.deployedAt ? existing.deployedAt : new Date().toISOString(),
            lastError: null,
          });
          request.log.info({ pipelineId: spec.id, specHash: generated.specHash, unchanged: result.unchanged }, 'pipeline applied');
          return reply.code(live ? 200 : 201).send({ pipeline: view(saved), warnings, unchanged: result.unchanged });
        } catch (err) {
          const message = err instanceof ValidationError ? (err.errors[0]?.message ?? err.message) : (err as Error).message;
          if (live) await pipelines.update(spec.id, { lastError: message });
          else await pipelines.save({ ...row, status: 'failed', deployedAt: null, lastError: message });
          throw err;
        }
      });
    },
  );

  fastify.get(
    '',
    {
      config: { roles: readers },
      schema: {
        tags: ['pipelines'],
        summary: 'Pipelines of the caller’s department (all departments for a `*` key)',
        querystring: z.object({ includeDeleted: z.coerce.boolean().default(false) }),
        response: { 200: z.object({ pipelines: z.array(pipelineViewSchema) }) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const list = await pipelines.list({
        ...(principal.department === allDepartments ? {} : { department: principal.department }),
        includeDeleted: request.query.includeDeleted,
      });
      return { pipelines: list.map(view) };
    },
  );

  fastify.get(
    '/:id',
    {
      config: { roles: readers },
      schema: { tags: ['pipelines'], summary: 'One pipeline', params: idParams, response: { 200: pipelineViewSchema } },
    },
    async (request) => view(await visiblePipeline(principalOf(request), request.params.id, true)),
  );

  for (const action of ['pause', 'unpause'] as const) {
    fastify.post(
      `/:id/${action}`,
      {
        config: { roles: appliers },
        schema: {
          tags: ['pipelines'],
          summary: action === 'pause' ? 'Pause: no new runs until unpaused (runs in flight finish)' : 'Unpause',
          params: idParams,
          response: { 200: pipelineViewSchema },
        },
      },
      async (request) => {
        const record = await visiblePipeline(principalOf(request), request.params.id);
        if (record.status === 'failed') throw new ValidationError(`pipeline ${record.id} was never deployed: ${record.lastError ?? ''}`);
        if (action === 'pause') await client().pauseDag(record.dagId);
        else await client().unpauseDag(record.dagId);
        return view((await pipelines.update(record.id, { status: action === 'pause' ? 'paused' : 'deployed' }))!);
      },
    );
  }

  fastify.delete(
    '/:id',
    {
      config: { roles: appliers },
      schema: {
        tags: ['pipelines'],
        summary: 'Pause the DAG and remove its file; run history stays in Airflow and the pipeline is kept as deleted',
        params: idParams,
        response: { 200: pipelineViewSchema },
      },
    },
    async (request) => {
      const record = await visiblePipeline(principalOf(request), request.params.id);
      return withPipelineLock(record.id, async () => {
        const { client: airflowClient, dagsFolder } = airflow();
        await undeployDag(airflowClient, dagsFolder, record.dagId, record.fileName);
        request.log.info({ pipelineId: record.id }, 'pipeline deleted');
        return view((await pipelines.update(record.id, { status: 'deleted' }))!);
      });
    },
  );

  fastify.post(
    '/:id/runs',
    {
      config: { roles: triggerers },
      schema: {
        tags: ['pipelines'],
        summary: 'Trigger a run of chosen partitions (default all), or one run per day of a backfill range',
        description:
          'Run conf is `{partitions, force}`. `force` runs partitions whose sources did not change. Send `Idempotency-Key` to make retries safe: the same key gives the same Airflow run ids.',
        params: idParams,
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }).loose(),
        body: triggerBodySchema,
        response: {
          201: z.object({
            runs: z.array(z.object({ runId: z.string(), logicalDate: z.string().nullable(), state: z.string(), created: z.boolean() })),
          }),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const record = await visiblePipeline(principal, request.params.id);
      const spec = specOf(record);
      const body = request.body;
      const issues = unknownPartitionIssues(spec, body.partitions, 'body.partitions');
      if (body.to && !body.from) issues.push({ path: 'body.from', message: 'a backfill needs from (and optionally to)' });
      if (body.from && body.to && body.from > body.to) issues.push({ path: 'body.to', message: 'must not be before from' });
      if (body.from && !spec.partitions?.date) issues.push({ path: 'body.from', message: 'a backfill needs a pipeline partitioned by date' });
      if (body.from && body.to && (Date.parse(body.to) - Date.parse(body.from)) / 86_400_000 >= MAX_BACKFILL_DAYS) {
        issues.push({ path: 'body.to', message: `a backfill covers at most ${MAX_BACKFILL_DAYS} days` });
      }
      if (issues.length) throw new ValidationError('the run request is not valid for this pipeline', issues);
      if (record.status === 'failed') throw new ValidationError(`pipeline ${record.id} was never deployed: ${record.lastError ?? ''}`);
      const runs = await triggerPipelineRuns(
        client(),
        record.dagId,
        body,
        { callerKeyId: principal.keyId, idempotencyKey: request.headers['idempotency-key'] },
        spec.schedule?.timezone ?? 'UTC',
      );
      request.log.info({ pipelineId: record.id, runs: runs.map((r) => r.runId) }, 'pipeline runs triggered');
      return reply.code(201).send({ runs });
    },
  );

  fastify.get(
    '/:id/runs',
    {
      config: { roles: readers },
      schema: {
        tags: ['pipelines'],
        summary: 'Recent runs from Airflow, newest first, each with the state of every partition',
        params: idParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
        response: { 200: z.object({ runs: z.array(runViewSchema) }) },
      },
    },
    async (request) => {
      const record = await visiblePipeline(principalOf(request), request.params.id, true);
      return { runs: await listPipelineRuns(client(), record.dagId, specOf(record), request.query.limit) };
    },
  );

  fastify.get(
    '/:id/partitions',
    {
      config: { roles: readers },
      schema: {
        tags: ['pipelines'],
        summary: 'Per partition: last committed fingerprints, when they last changed, and the last run (ran, skipped or failed, and why)',
        params: idParams,
        response: { 200: z.object({ partitions: z.array(partitionViewSchema) }) },
      },
    },
    async (request) => {
      const record = await visiblePipeline(principalOf(request), request.params.id, true);
      const spec = specOf(record);
      let states = await fingerprints.partitions(record.id);
      // A partition checked as changed whose commit never came: ask Airflow how its run ended.
      const pending = states.filter((s) => s.lastRun?.outcome === 'pending');
      if (pending.length > 0 && fastify.airflowDeploy) {
        for (const state of pending) {
          const runId = state.lastRun!.runId;
          try {
            const run = await client().getDagRun(record.dagId, runId);
            const { task_instances } = await client().listTaskInstances(record.dagId, runId, { limit: 1000 });
            const partition = partitionsOfRun(run, spec, task_instances).find((p) => p.partition === state.partition);
            const failedTasks = Object.entries(partition?.tasks ?? {}).filter(([, s]) => s === 'failed' || s === 'upstream_failed');
            if (partition?.state === 'failed' || (run.state !== 'running' && run.state !== 'queued' && partition?.state !== 'ran')) {
              const what = failedTasks.length ? `${failedTasks.map(([t, s]) => `${t} ${s}`).join(', ')}` : `run ${run.state}`;
              await fingerprints.markFailed(record.id, state.partition, runId, `${what}; fingerprints not committed, the partition runs again next time`);
            }
          } catch (err) {
            request.log.warn({ err, runId }, 'could not resolve a pending partition run from Airflow');
          }
        }
        states = await fingerprints.partitions(record.id);
      }
      const known = new Map(states.map((s) => [s.partition, s]));
      const declared = spec.partitions?.date ? [] : (spec.partitions?.keys ?? ['all']);
      for (const key of declared) if (!known.has(key)) known.set(key, { partition: key, fingerprints: [], lastRun: null });
      const partitions = [...known.values()]
        .sort((a, b) => (a.partition < b.partition ? -1 : a.partition > b.partition ? 1 : 0))
        .map((s) => ({
          ...s,
          lastChangedAt: s.fingerprints.reduce<string | null>((max, fp) => (max === null || fp.changedAt > max ? fp.changedAt : max), null),
        }));
      return { partitions };
    },
  );
};

export default pipelineManageRoutes;
