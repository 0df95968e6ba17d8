/**
 * Airflow → Temporal hand-offs, for the TemporalHandoffOperator in generated DAGs (service keys
 * only): start or attach (idempotent per task instance and try, see
 * shared/contracts/handoffs.ts), long-poll the outcome, cancel.
 *
 *   POST /v1/handoffs                 201 started · 200 attached to an existing run
 *   GET  /v1/handoffs/{id}?waitMs=    the state, after waiting up to waitMs for the workflow to end
 *   POST /v1/handoffs/{id}/cancel     202, cancellation requested (audited)
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
import { auditActorOf, principalOf } from '../../../plugins/app/auth.ts';

const serviceOnly = ['service'] as const;
const idParams = z.object({ id: z.string().min(1).max(1100) });

const handoffRoutes: FastifyPluginAsyncZod = async (fastify) => {
  fastify.post(
    '',
    {
      config: { roles: serviceOnly },
      schema: {
        tags: ['handoffs'],
        summary: 'Start the workflow of a hand-off task instance, or attach to the run already serving it',
        body: startHandoffRequestSchema,
        response: { 201: handoffStartedSchema, 200: handoffStartedSchema },
      },
    },
    async (request, reply) => {
      const started = await fastify.handoffs.start(request.body, principalOf(request));
      return reply.code(started.created ? 201 : 200).send(started);
    },
  );

  fastify.get(
    '/:id',
    {
      config: { roles: serviceOnly },
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
    '/:id/cancel',
    {
      config: { roles: serviceOnly },
      schema: {
        tags: ['handoffs'],
        summary: 'Request cancellation of the hand-off’s workflow (audited); the Airflow task then fails as cancelled',
        params: idParams,
        body: cancelHandoffBodySchema.optional(),
        response: { 202: handoffStateSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      await fastify.handoffs.state(request.params.id, principal);
      const reason = request.body?.reason ?? `cancelled by ${principal.name}`;
      return reply.code(202).send(await fastify.handoffs.cancel(request.params.id, auditActorOf(principal), reason));
    },
  );
};

export default handoffRoutes;
