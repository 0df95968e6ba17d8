/**
 * The reviewer inbox and decisions. Lists and reads come from the inbox table in the store (no
 * Temporal round trip); decisions, reassignments and comments are Temporal updates on the review
 * workflow, carrying the caller's principal from its API key. The workflow's validator decides
 * whether the caller may act, so the answer is immediate and a refused request changes nothing:
 *
 *   200 accepted · 403 not allowed (not the assignee) · 404 no such review, or another
 *   department's (ids are not a side channel) · 409 the review is finished, or the decision names
 *   a stale artifact version · 422 the body is not valid.
 *
 * Every refused decision is audited as `decision-rejected` with the caller's identity, the
 * attempt on another department's review included.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Principal } from '../../../../../shared/contracts/principal.ts';
import {
  reviewCommentBodySchema,
  reviewDecisionBodySchema,
  reviewersGroup,
  reviewReassignBodySchema,
  reviewTaskSchema,
} from '../../../../../shared/contracts/reviews.ts';
import { decodeCursor, nextLinkSchema, pageOf, pageQuery } from '../../../../../shared/contracts/pagination.ts';
import { departmentFilterOf, scopeIncludes } from '../../../../../shared/contracts/roles.ts';
import { ConflictError, NotFoundError } from '../../../../../shared/errors.ts';
import { reviewTaskStatuses, type ReviewTask } from '../../../../../shared/store/review-inbox.ts';
import { commentUpdate, reassignUpdate, reviewStatusQuery } from '../../../../../workflows/review/messages.ts';
import { decideReview, reviewUpdateRefusal } from '../../../review-decisions.ts';
import { auditActorOf } from '../../../../../shared/store/audit-log.ts';
import { principalOf } from '../../../plugins/app/auth.ts';
import { problemResponse } from '../../../../../shared/contracts/problem.ts';

const reviewerRoles = ['reviewer', 'admin'] as const;
const readerRoles = ['reviewer', 'admin', 'ai-engineer'] as const;

const idParams = z.object({ id: z.string().min(1).max(400) });
const finished = problemResponse('The review is finished, or the decision names a stale artifact version');

const reviewStatusSchema = z
  .object({
    reviewId: z.string(),
    department: z.string(),
    status: z.string(),
    assignee: z.string(),
    escalationLevel: z.number().int(),
    escalations: z.array(z.object({ level: z.number().int(), from: z.string(), to: z.string(), at: z.string() })),
    comments: z.array(z.object({ by: z.string(), at: z.string(), text: z.string() })),
    decidedBy: z.string().nullable(),
    decidedAt: z.string().nullable(),
    comment: z.string().nullable(),
  })
  .meta({ id: 'ReviewStatus' });

const reviewDetailSchema = reviewTaskSchema
  .extend({ live: reviewStatusSchema.nullable().describe('The workflow’s own view; null when it cannot be asked') })
  .meta({ id: 'ReviewDetail' });

function visible(principal: Principal, task: ReviewTask): boolean {
  return scopeIncludes(principal.department, task.department);
}

const reviewRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { regions } = fastify.temporal;
  const { reviews, audit } = fastify.store;

  /** Another department's review answers exactly like a missing one (ids are not a side channel). */
  async function taskFor(id: string, principal: Principal): Promise<ReviewTask> {
    const task = await reviews.get(id);
    if (!task || !visible(principal, task)) throw new NotFoundError(`review ${id} not found`);
    return task;
  }

  /** The open review a reassignment or comment applies to; 404/409 before Temporal is asked. */
  async function openTaskFor(id: string, principal: Principal): Promise<ReviewTask> {
    const task = await taskFor(id, principal);
    if (task.status !== 'pending') throw new ConflictError(`review ${task.id} already has the outcome ${task.status}`);
    return task;
  }

  fastify.get(
    '',
    {
      config: { roles: readerRoles },
      schema: {
        tags: ['reviews'],
        summary: 'Reviews in the caller’s department(s), oldest first',
        querystring: z
          .object({
            assignedToMe: z.enum(['true', 'false']).default('false').describe(`Only reviews assigned to the caller’s key name or to \`${reviewersGroup}\``),
            status: z.enum(reviewTaskStatuses).optional(),
            ...pageQuery(200, 1000),
          })
          .strict(),
        response: { 200: z.object({ reviews: z.array(reviewTaskSchema), next: nextLinkSchema }) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { assignedToMe, status, limit, cursor } = request.query;
      const after = decodeCursor(cursor, z.tuple([z.string(), z.string()]));
      const list = await reviews.list({
        limit: limit + 1,
        ...(after ? { after: { createdAt: after[0], id: after[1] } } : {}),
        ...(status ? { status } : {}),
        ...departmentFilterOf(principal.department),
        ...(assignedToMe === 'true' ? { assignees: [principal.name, reviewersGroup] } : {}),
      });
      const page = pageOf(list, limit, (task) => [task.createdAt, task.id], request.url);
      return { reviews: page.items, next: page.next };
    },
  );

  fastify.get(
    '/:id',
    {
      config: { roles: readerRoles },
      schema: {
        tags: ['reviews'],
        summary: 'One review with its escalations and comments; audited as `viewed`',
        params: idParams,
        response: { 200: reviewDetailSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const task = await taskFor(request.params.id, principal);
      const live = await regions
        .forDepartment(task.department)
        .then(({ client }) => client.workflow.getHandle(task.id).query(reviewStatusQuery))
        .catch((err: unknown) => {
          request.log.warn({ err, reviewId: task.id }, 'review status query failed; answering from the inbox');
          return null;
        });
      await audit.append({
        actor: auditActorOf(principal),
        department: task.department,
        subject: `review:${task.id}`,
        event: 'viewed',
        workflowId: task.id,
        artifactVersion: task.artifactVersion,
      });
      return { ...task, live };
    },
  );

  fastify.post(
    '/:id/decision',
    {
      config: { roles: reviewerRoles, idempotent: true, dependsOn: ['temporal'] },
      schema: {
        tags: ['reviews'],
        summary: 'Decide on a review; answers at once whether the decision was accepted',
        description: 'The reviewer is the API key’s owner. 403: not allowed; 409: already decided, or a stale artifact version.',
        params: idParams,
        body: reviewDecisionBodySchema,
        response: { 200: z.object({ accepted: z.literal(true), review: reviewStatusSchema }), 409: finished },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const task = await reviews.get(request.params.id);
      if (!task) throw new NotFoundError(`review ${request.params.id} not found`);
      // Another department's review is refused (audited) as if it did not exist: see decideReview.
      const review = await decideReview({ regions, audit, log: request.log }, principal, task, request.body);
      return { accepted: true as const, review };
    },
  );

  fastify.post(
    '/:id/reassign',
    {
      config: { roles: reviewerRoles, idempotent: true, dependsOn: ['temporal'] },
      schema: {
        tags: ['reviews'],
        summary: 'Hand the review to another reviewer (the current assignee, or an admin of the department)',
        params: idParams,
        body: reviewReassignBodySchema,
        response: { 200: reviewStatusSchema, 409: finished },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const task = await openTaskFor(request.params.id, principal);
      try {
        const { client } = await regions.forDepartment(task.department);
        return await client.workflow.getHandle(task.id).executeUpdate(reassignUpdate, { args: [{ ...request.body, principal }] });
      } catch (err) {
        throw reviewUpdateRefusal(err) ?? err;
      }
    },
  );

  fastify.post(
    '/:id/comments',
    {
      config: { roles: reviewerRoles, idempotent: true, dependsOn: ['temporal'] },
      schema: {
        tags: ['reviews'],
        summary: 'Comment on an open review (any reviewer or admin of its department)',
        params: idParams,
        body: reviewCommentBodySchema,
        response: { 201: reviewStatusSchema, 409: finished },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const task = await openTaskFor(request.params.id, principal);
      try {
        const { client } = await regions.forDepartment(task.department);
        const review = await client.workflow.getHandle(task.id).executeUpdate(commentUpdate, { args: [{ ...request.body, principal }] });
        return reply.code(201).send(review);
      } catch (err) {
        throw reviewUpdateRefusal(err) ?? err;
      }
    },
  );
};

export default reviewRoutes;
