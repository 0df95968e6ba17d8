/**
 * Airflow → Temporal hand-offs, for the TemporalHandoffOperator in generated DAGs (service keys
 * only): start or attach (idempotent per task instance and try, see
 * shared/contracts/handoffs.ts), long-poll the outcome, cancel.
 *
 *   POST /v1/handoffs                 201 started · 200 attached to an existing run
 *   GET  /v1/handoffs/{id}?waitMs=    the state, after waiting up to waitMs for the workflow to end
 *   POST /v1/handoffs/{id}/xcom       the succeeded hand-off's result as its task's XCom
 *   POST /v1/handoffs/{id}/complete-task  …and the deferred task marked success, now
 *   POST /v1/handoffs/{id}/cancel     202, cancellation requested (audited)
 *   POST /v1/handoffs/reconcile       one reconciler pass now (admin or service), and what it did
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  cancelHandoffBodySchema,
  handoffResultQuerySchema,
  handoffStartedSchema,
  handoffStateSchema,
  maxHandoffWaitMs,
  startHandoffRequestSchema,
} from '../../../../../shared/contracts/handoffs.ts';
import { handoffReconcileReportSchema } from '../../../../../shared/contracts/handoff-reconciler.ts';
import { allDepartments } from '../../../../../shared/contracts/roles.ts';
import { AirflowUnavailableError, ForbiddenError } from '../../../../../shared/errors.ts';
import { auditActorOf } from '../../../../../shared/store/audit-log.ts';
import { principalOf } from '../../../plugins/app/auth.ts';
import { correlate } from '../../../plugins/app/request-log.ts';
import { problemResponse } from '../../../../../shared/contracts/problem.ts';

const serviceOnly = ['service'] as const;
const idParams = z.object({ id: z.string().min(1).max(1100) });

const handoffRoutes: FastifyPluginAsyncZod = async (fastify) => {
  fastify.post(
    '',
    {
      config: { roles: serviceOnly, idempotent: true, dependsOn: ['temporal'] },
      schema: {
        tags: ['handoffs'],
        summary: 'Start the workflow of a hand-off task instance, or attach to the run already serving it',
        body: startHandoffRequestSchema,
        response: {
          201: handoffStartedSchema,
          200: handoffStartedSchema,
          409: problemResponse(
            'A request with this Idempotency-Key is still in flight; or the department’s region has no Temporal configured in this API (`urn:tandem:problem:region-not-configured`, naming the region and `TANDEM_REGIONS`): the Airflow task fails with that text',
          ),
        },
      },
    },
    async (request, reply) => {
      const started = await fastify.handoffs.start(request.body, principalOf(request));
      correlate(request, { handoffId: started.handoffId, workflowId: started.workflowId, runId: started.runId });
      return reply.code(started.created ? 201 : 200).send(started);
    },
  );

  fastify.get(
    '/:id',
    {
      config: { roles: serviceOnly, dependsOn: ['temporal'] },
      schema: {
        tags: ['handoffs'],
        summary: 'State of a hand-off; waits up to waitMs for its workflow to end',
        description: `\`waitMs\` (0–${maxHandoffWaitMs}) makes this a long poll: the answer comes as soon as the workflow ends, or with status \`pending\` when the wait is over.`,
        params: idParams,
        querystring: handoffResultQuerySchema,
        response: { 200: handoffStateSchema },
      },
    },
    async (request) => {
      // A trigger that hangs up (triggerer restart) must not leave its Temporal long poll behind.
      const abort = new AbortController();
      request.raw.once('close', () => abort.abort());
      return fastify.handoffs.state(request.params.id, principalOf(request), { waitMs: request.query.waitMs, signal: abort.signal });
    },
  );

  fastify.post(
    '/reconcile',
    {
      config: { roles: ['admin', 'service'], dependsOn: ['airflow', 'temporal'] },
      schema: {
        tags: ['handoffs'],
        summary: 'Reconcile hand-offs with Airflow and Temporal now, and report what was done',
        description:
          'The pass the API otherwise runs on `TANDEM_HANDOFF_RECONCILE_SCHEDULE`: cancels workflows whose Airflow task was deleted, cleared or ended, and starts again workflows Temporal lost while their task waits deferred. `skipped` is true when a pass was already running.',
        response: { 200: handoffReconcileReportSchema },
      },
    },
    async (request) => {
      // A pass acts on every department's hand-offs, so only a key that sees them all may ask.
      if (principalOf(request).department !== allDepartments) {
        throw new ForbiddenError('reconciling acts on every department; it needs a key scoped to `*`');
      }
      if (!fastify.handoffReconciler) {
        throw new AirflowUnavailableError('this API runs without an Airflow client, so hand-offs cannot be reconciled');
      }
      return fastify.handoffReconciler.tick();
    },
  );

  fastify.post(
    '/:id/xcom',
    {
      config: { roles: serviceOnly, dependsOn: ['airflow', 'temporal'] },
      schema: {
        tags: ['handoffs'],
        summary: 'Write a succeeded hand-off’s result as its Airflow task’s return_value XCom',
        description:
          'Called by the hand-off trigger right before it ends the task from the triggerer, so downstream tasks `xcom_pull` the result as JSON. 409 unless the hand-off succeeded.',
        params: idParams,
        response: { 200: handoffStateSchema, 409: problemResponse('The hand-off has not succeeded') },
      },
    },
    async (request) => fastify.handoffs.publishResult(request.params.id, principalOf(request)),
  );

  fastify.post(
    '/:id/complete-task',
    {
      config: { roles: serviceOnly, dependsOn: ['airflow', 'temporal'] },
      schema: {
        tags: ['handoffs'],
        summary: 'End a succeeded hand-off’s deferred Airflow task now: the result as its return_value XCom, then the task marked success',
        description:
          'Called by the hand-off trigger when the workflow succeeds, so the task ends at once instead of at the trigger runner’s next loop (up to 1 s later). 409 unless the hand-off succeeded and its task instance is deferred in the try the hand-off serves; the trigger then ends the task with its own event.',
        params: idParams,
        response: { 200: handoffStateSchema, 409: problemResponse('The hand-off has not succeeded, or its task is no longer deferred in the try it serves') },
      },
    },
    async (request) => fastify.handoffs.completeTask(request.params.id, principalOf(request)),
  );

  fastify.post(
    '/:id/cancel',
    {
      config: { roles: serviceOnly, dependsOn: ['temporal'] },
      schema: {
        tags: ['handoffs'],
        summary: 'Request cancellation of the hand-off’s workflow (audited); the Airflow task then fails as cancelled',
        params: idParams,
        // Fastify hands a request without a body to the validator as null, not undefined.
        body: cancelHandoffBodySchema.nullish(),
        response: { 202: handoffStateSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const reason = request.body?.reason ?? `cancelled by ${principal.name}`;
      return reply.code(202).send(await fastify.handoffs.cancel(request.params.id, auditActorOf(principal), reason, principal));
    },
  );
};

export default handoffRoutes;
