/**
 * Durable flows started directly by AI engineers (and other services): start by public type name
 * with a zod-checked input, follow, cancel. Starting goes through the one start path
 * (services/flows/start-workflow.ts) hand-offs use too; a key scoped to one department sees only
 * that department's workflows.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Principal } from '../../../../../shared/contracts/principal.ts';
import { allDepartments } from '../../../../../shared/contracts/roles.ts';
import { workflowTypes } from '../../../../../shared/contracts/workflow-types.ts';
import { decodeCursor, nextLink } from '../../../../../shared/contracts/pagination.ts';
import {
  workflowIdParamsSchema,
  workflowListQuerySchema,
  workflowListSchema,
  workflowStartedSchema,
  workflowStateSchema,
} from '../../../../../shared/contracts/workflow-runs.ts';
import { FeatureUnavailableError, NotFoundError } from '../../../../../shared/errors.ts';
import { problemResponse } from '../../../../../shared/contracts/problem.ts';
import { inputDepartmentOf, parseFlow, startWorkflow } from '../../../../flows/start-workflow.ts';
import { listWorkflowsAcross, workflowStateOf, type RegionListPosition } from '../../../../flows/workflow-state.ts';
import { auditActorOf } from '../../../../../shared/store/audit-log.ts';
import { principalOf } from '../../../plugins/app/auth.ts';
import { idempotencyKeyOf } from '../../../plugins/app/idempotency.ts';
import { correlate } from '../../../plugins/app/request-log.ts';

/**
 * A list cursor's position is one string: per region still to list, Temporal's page token
 * (base64; null: from the start) and how many items of that page were already shown.
 */
const regionPositionsSchema = z.array(z.tuple([z.string().min(1).max(32), z.string().min(1).max(1500).nullable(), z.number().int().min(0).max(1000)])).min(1).max(16);

function decodePositions(cursor: string | undefined): Record<string, RegionListPosition> | undefined {
  const [text] = decodeCursor(cursor, z.tuple([z.string().min(1).max(1500)])) ?? [];
  if (text === undefined) return undefined;
  let parsed;
  try {
    parsed = regionPositionsSchema.safeParse(JSON.parse(text));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) throw new NotFoundError('no such page: query.cursor belongs to another list; start again without it');
  return Object.fromEntries(parsed.data.map(([region, token, skip]) => [region, { token: token === null ? null : Buffer.from(token, 'base64'), skip }]));
}

function encodePositions(positions: Record<string, RegionListPosition>): string {
  return JSON.stringify(Object.entries(positions).map(([region, p]) => [region, p.token === null ? null : Buffer.from(p.token).toString('base64'), p.skip]));
}

const starters = ['admin', 'ai-engineer', 'data-engineer', 'service'] as const;
const readers = ['admin', 'ai-engineer', 'data-engineer', 'reviewer', 'service'] as const;

/** An Idempotency-Key is scoped to the key that sent it, so two callers cannot collide. */
function workflowIdFor(type: string, principal: Principal, idempotencyKey: string | undefined): string {
  if (!idempotencyKey) return `${type}-${randomUUID()}`;
  const digest = createHash('sha256').update(`${principal.keyId}\0${idempotencyKey}`).digest('hex').slice(0, 32);
  return `${type}-idem-${digest}`;
}

const workflowRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { regions, taskQueue } = fastify.temporal;

  fastify.post(
    '',
    {
      config: { roles: starters, idempotent: true, dependsOn: ['temporal'] },
      schema: {
        tags: ['workflows'],
        summary: 'Start a durable flow by type; the input is checked against that type’s schema',
        description: `Known types: ${Object.keys(workflowTypes).join(', ')}. Send \`Idempotency-Key\` to make retries safe: the same key returns the same workflow.`,
        body: z.object({ type: z.string().min(1), input: z.unknown() }).strict(),
        response: {
          201: workflowStartedSchema,
          200: workflowStartedSchema,
          409: problemResponse(
            'A request with this Idempotency-Key is still in flight; or a gpu.batch at peak time for a department whose tenant refuses it then (`urn:tandem:problem:outside-off-peak-window`, with when the window opens); or the department’s region has no Temporal configured in this API (`urn:tandem:problem:region-not-configured`, naming the region and `TANDEM_REGIONS`)',
          ),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const flow = parseFlow(request.body.type, request.body.input);
      const gpuPeak = { tenants: fastify.store.tenants, pipelines: fastify.tandemConfig.pipelines };
      const started = await startWorkflow({ regions, store: fastify.store, gpuPeak }, {
        flow,
        workflowId: workflowIdFor(flow.type, principal, idempotencyKeyOf(request)),
        // A flow about one department (a review, a pipeline run) belongs to it; others to the caller's scope.
        department: inputDepartmentOf(flow.input) ?? principal.department,
        starter: { scope: principal.department, name: principal.name, actor: auditActorOf(principal) },
        taskQueue,
        reuse: 'once',
      });
      correlate(request, { workflowId: started.workflowId, runId: started.runId });
      if (started.created) request.log.info({ workflowId: started.workflowId, type: flow.type }, 'workflow started');
      return reply.code(started.created ? 201 : 200).send({ workflowId: started.workflowId, runId: started.runId, type: started.type, created: started.created });
    },
  );

  fastify.get(
    '',
    {
      config: { roles: readers },
      schema: {
        tags: ['workflows'],
        summary: 'Durable flows of the caller’s department (every department for a `*` key), newest first, by type and status',
        description: 'From Temporal’s visibility store, which lags a workflow’s start or close by about a second. `GET /v1/workflows/{id}` has the full state.',
        querystring: workflowListQuerySchema,
        response: { 200: workflowListSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      // A department's flows are in its region only; a `*` key's in every region, merged.
      const listed = principal.department === allDepartments ? regions.all : [await regions.forDepartment(principal.department)];
      const missing = listed.find((r) => !r.departmentSearchAttribute);
      if (missing) {
        throw new FeatureUnavailableError(`the Temporal namespace of region ${missing.region} has no TandemDepartment search attribute, so flows cannot be listed by department`);
      }
      const { type, status, limit, cursor } = request.query;
      const positions = decodePositions(cursor);
      const page = await listWorkflowsAcross(listed, {
        principal,
        type,
        status,
        pageSize: limit,
        positions,
      }).catch((err: unknown) => {
        // Temporal answers a page token it did not hand out with INVALID_ARGUMENT or, from the
        // dev server's SQL visibility, UNKNOWN: either way the caller's cursor is at fault.
        const code = (err as { code?: number }).code;
        if (positions !== undefined && (code === 3 || code === 2)) {
          throw new NotFoundError('no such page: query.cursor is not a cursor this API handed out; start again without it');
        }
        throw err;
      });
      // Temporal pages with a token of its own per region; the cursor carries each region's.
      const next = page.next ? nextLink(request.url, [encodePositions(page.next)]) : null;
      return { workflows: page.workflows, next };
    },
  );

  fastify.get(
    '/:id',
    {
      config: { roles: readers, dependsOn: ['temporal'] },
      schema: {
        tags: ['workflows'],
        summary: 'State of a workflow, with its result once completed',
        params: workflowIdParamsSchema,
        response: { 200: workflowStateSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { client } = await regions.locate(request.params.id, principal.department);
      return workflowStateOf(client.workflow.getHandle(request.params.id), principal);
    },
  );

  fastify.post(
    '/:id/cancel',
    {
      config: { roles: starters, dependsOn: ['temporal'] },
      schema: {
        tags: ['workflows'],
        summary: 'Request cancellation; the workflow decides how to clean up',
        params: workflowIdParamsSchema,
        response: { 202: workflowStateSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { client } = await regions.locate(request.params.id, principal.department);
      const handle = client.workflow.getHandle(request.params.id);
      const before = await workflowStateOf(handle, principal);
      if (before.status === 'running') {
        await handle.cancel();
        request.log.info({ workflowId: handle.workflowId }, 'workflow cancellation requested');
      }
      return reply.code(202).send(before);
    },
  );
};

export default workflowRoutes;
