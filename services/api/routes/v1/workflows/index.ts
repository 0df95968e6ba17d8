/**
 * Durable flows started directly by AI engineers (and other services): start by public type name
 * with a zod-checked input, follow, cancel. Each workflow carries the caller's department in its
 * memo, and a key scoped to one department sees only that department's workflows.
 */
import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { allDepartments } from '../../../../../shared/contracts/roles.ts';
import { parseWorkflowInput, workflowTypes } from '../../../../../shared/contracts/workflow-types.ts';
import {
  workflowIdParamsSchema,
  workflowStartedSchema,
  workflowStateSchema,
  type WorkflowState,
} from '../../../../../shared/contracts/workflow-runs.ts';
import type { Principal } from '../../../../../shared/contracts/principal.ts';
import { BadRequestError, NotFoundError, ValidationError } from '../../../../../shared/errors.ts';
import { auditActorOf, principalOf } from '../../../plugins/app/auth.ts';

const starters = ['admin', 'ai-engineer', 'data-engineer', 'service'] as const;
const readers = ['admin', 'ai-engineer', 'data-engineer', 'reviewer', 'service'] as const;

const publicTypeOf = new Map<string, string>(Object.entries(workflowTypes).map(([name, def]) => [def.workflowName, name]));

interface WorkflowMemo {
  department?: string;
  startedBy?: string;
  type?: string;
}

/** An Idempotency-Key is scoped to the key that sent it, so two callers cannot collide. */
function workflowIdFor(type: string, principal: Principal, idempotencyKey: string | undefined): string {
  if (!idempotencyKey) return `${type}-${randomUUID()}`;
  const digest = createHash('sha256').update(`${principal.keyId}\0${idempotencyKey}`).digest('hex').slice(0, 32);
  return `${type}-idem-${digest}`;
}

function canSee(principal: Principal, memo: WorkflowMemo): boolean {
  return principal.department === allDepartments || memo.department === principal.department;
}

async function stateOf(handle: WorkflowHandle, principal: Principal): Promise<WorkflowState> {
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new NotFoundError(`workflow ${handle.workflowId} not found`);
    throw err;
  }
  const memo = (description.memo ?? {}) as WorkflowMemo;
  // Another department's workflow answers exactly like a missing one: ids are not a side channel.
  if (!canSee(principal, memo)) throw new NotFoundError(`workflow ${handle.workflowId} not found`);
  const status = description.status.name.toLowerCase() as WorkflowState['status'];
  const state: WorkflowState = {
    workflowId: description.workflowId,
    runId: description.runId,
    type: memo.type ?? publicTypeOf.get(description.type) ?? description.type,
    status,
    department: memo.department ?? null,
    startedBy: memo.startedBy ?? null,
    startedAt: description.startTime.toISOString(),
    closedAt: description.closeTime?.toISOString() ?? null,
    historyLength: description.historyLength,
  };
  if (status === 'completed') state.result = await handle.result();
  if (status === 'failed') {
    state.failure = await handle.result().then(
      () => 'unknown failure',
      // The innermost cause says what went wrong ("… context length …"), not "Activity task failed".
      (err: unknown) => {
        let e = err as Error;
        while (e.cause instanceof Error) e = e.cause;
        return e.message;
      },
    );
  }
  return state;
}

const workflowRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { client, taskQueue } = fastify.temporal;

  fastify.post(
    '',
    {
      config: { roles: starters },
      schema: {
        tags: ['workflows'],
        summary: 'Start a durable flow by type; the input is checked against that type’s schema',
        description: `Known types: ${Object.keys(workflowTypes).join(', ')}. Send \`Idempotency-Key\` to make retries safe: the same key returns the same workflow.`,
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }).loose(),
        body: z.object({ type: z.string().min(1), input: z.unknown() }).strict(),
        response: { 201: workflowStartedSchema, 200: workflowStartedSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const parsed = parseWorkflowInput(request.body.type, request.body.input);
      if (!parsed.ok) {
        if (parsed.issues[0]?.path[0] === 'type') throw new BadRequestError(parsed.issues[0].message);
        throw new ValidationError(
          `input is not valid for workflow type ${request.body.type}`,
          parsed.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
        );
      }
      const workflowId = workflowIdFor(parsed.type, principal, request.headers['idempotency-key']);
      const memo: WorkflowMemo = { department: principal.department, startedBy: principal.name, type: parsed.type };
      try {
        const handle = await client.workflow.start(parsed.workflowName, {
          taskQueue,
          workflowId,
          args: [parsed.input],
          memo: memo as Record<string, unknown>,
          // A finished workflow keeps its id, so a retried request never starts it twice.
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
        request.log.info({ workflowId, type: parsed.type }, 'workflow started');
        // Who started what is part of the audit trail; the dedupe key keeps a retried start to one entry.
        // A flow about one department (a review) is audited under it, so that department sees it.
        const { department } = parsed.input as { department?: string };
        await fastify.store.audit.append({
          actor: auditActorOf(principal),
          department: department ?? principal.department,
          subject: `workflow:${workflowId}`,
          event: 'workflow-started',
          workflowId,
          details: { type: parsed.type },
          dedupeKey: `${workflowId}:workflow-started`,
        });
        return reply.code(201).send({ workflowId, runId: handle.firstExecutionRunId, type: parsed.type, created: true });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        const existing = await stateOf(client.workflow.getHandle(workflowId), principal);
        return reply.code(200).send({ workflowId, runId: existing.runId, type: existing.type, created: false });
      }
    },
  );

  fastify.get(
    '/:id',
    {
      config: { roles: readers },
      schema: {
        tags: ['workflows'],
        summary: 'State of a workflow, with its result once completed',
        params: workflowIdParamsSchema,
        response: { 200: workflowStateSchema },
      },
    },
    async (request) => stateOf(client.workflow.getHandle(request.params.id), principalOf(request)),
  );

  fastify.post(
    '/:id/cancel',
    {
      config: { roles: starters },
      schema: {
        tags: ['workflows'],
        summary: 'Request cancellation; the workflow decides how to clean up',
        params: workflowIdParamsSchema,
        response: { 202: workflowStateSchema },
      },
    },
    async (request, reply) => {
      const handle = client.workflow.getHandle(request.params.id);
      const principal = principalOf(request);
      const before = await stateOf(handle, principal);
      if (before.status === 'running') {
        await handle.cancel();
        request.log.info({ workflowId: handle.workflowId }, 'workflow cancellation requested');
      }
      return reply.code(202).send(before);
    },
  );
};

export default workflowRoutes;
