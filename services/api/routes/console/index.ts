/**
 * The web console at /console: server-rendered pages over the same store and the same decision
 * path as /v1 (decideReview). Thin: sessions live in console/sessions.ts, pages in console/views.ts.
 *
 * Every POST passes one guard before it may act: a live session (its key unrevoked), the
 * session's CSRF token, a form id not used before (a replayed or double-submitted form acts
 * once), and only the fields that form has — anything else is a tampered form. A refused post
 * changes nothing, shows why, and is audited as `console-refused` with the session's key.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../../../shared/contracts/principal.ts';
import { reviewDecisionBodySchema, reviewersGroup, type ReviewEscalationPolicy } from '../../../../shared/contracts/reviews.ts';
import { temporalRegions } from '../../../../shared/regions.ts';
import { allDepartments, departmentFilterOf, scopeIncludes, type Role } from '../../../../shared/contracts/roles.ts';
import { TandemError } from '../../../../shared/errors.ts';
import { auditActorOf, type AuditActor } from '../../../../shared/store/audit-log.ts';
import type { ConsoleSession } from '../../../../shared/store/console-sessions.ts';
import type { ReviewTask } from '../../../../shared/store/review-inbox.ts';
import { reviewStatusQuery, type ReviewStatus } from '../../../../workflows/review/messages.ts';
import { readArtifact } from '../../console/artifacts.ts';
import { hasDefaultSpan, nextReviewStep } from '../../console/review-schedule.ts';
import { ConsoleSessions, newToken, sameToken } from '../../console/sessions.ts';
import {
  consoleBase,
  inboxPage,
  inboxSorts,
  loginPage,
  messagePage,
  reviewPage,
  type FormTokens,
  type InboxQuery,
  type InboxRow,
  type Notice,
} from '../../console/views.ts';
import { decideReview } from '../../review-decisions.ts';
import { workflowListQuery } from '../../../flows/workflow-state.ts';
import { flowsPage, pipelinesPage, type FlowRow, type PipelineSection } from '../../console/operator-views.ts';
import { partitionGrid } from '../../console/partition-grid.ts';

const sessionCookie = 'tandem_session';
const loginCookie = 'tandem_login';
const readerRoles: readonly Role[] = ['reviewer', 'admin', 'ai-engineer'];
// The same roles as GET /v1/pipelines and GET /v1/workflows/{id}.
const pipelineReaderRoles: readonly Role[] = ['admin', 'data-engineer', 'ai-engineer', 'service'];
const flowReaderRoles: readonly Role[] = ['admin', 'ai-engineer', 'data-engineer', 'reviewer', 'service'];
const recentRuns = 8;
const recentFlows = 50;
const stylesheet = readFileSync(path.join(import.meta.dirname, '../../console/console.css'), 'utf8');

// No script, no remote anything: the CSP says so, and makes an injected tag inert even if one
// ever slipped past the escaping.
const contentSecurityPolicy =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

type Fields = Record<string, string>;
type Guarded = { principal: Principal; session: ConsoleSession; fields: Fields };

const outcomeWords: Record<string, string> = {
  approved: 'Your approval was recorded and signed.',
  rejected: 'Your rejection was recorded and signed.',
  'changes-requested': 'Your request for changes was recorded and signed.',
};

const consoleRoutes: FastifyPluginAsync = async (fastify) => {
  const { store, tandemConfig: config } = fastify;
  const sessions = new ConsoleSessions(store, {
    idleMinutes: config.console.sessionIdleMinutes,
    maxHours: config.console.sessionMaxHours,
  });
  const artifactRoots = config.console.artifactRoots.split(path.delimiter).filter(Boolean);

  await fastify.register(cookie);
  await fastify.register(formbody);

  fastify.addHook('onSend', async (_request, reply, payload) => {
    reply.header('content-security-policy', contentSecurityPolicy);
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cache-control', 'no-store');
    return payload;
  });

  fastify.setErrorHandler(async (error, request, reply) => {
    request.log.error({ err: error }, 'console request failed');
    const status = error instanceof TandemError && error.status < 500 ? error.status : 500;
    const text = status < 500 && error instanceof Error ? error.message : `Something went wrong on our side (request ${request.id}); nothing was changed.`;
    return sendPage(reply.code(status), messagePage({ title: 'Error', notice: { kind: 'error', text } }));
  });

  function sendPage(reply: FastifyReply, page: string) {
    return reply.type('text/html; charset=utf-8').send(page);
  }

  const secure = (request: FastifyRequest) => request.protocol === 'https';
  const tokensOf = (session: ConsoleSession): FormTokens => ({ csrf: session.csrfSecret, formId: newToken });

  async function audit(options: { principal?: Principal | undefined; event: 'console-signed-in' | 'console-signed-out' | 'console-refused'; department?: string; subject?: string; details?: Record<string, unknown>; request: FastifyRequest }) {
    const actor: AuditActor = options.principal ? auditActorOf(options.principal) : { kind: 'system', name: 'console' };
    await store.audit.append({
      actor,
      department: options.department ?? (options.principal?.department ?? '*'),
      subject: options.subject ?? 'console',
      event: options.event,
      ...(options.subject?.startsWith('review:') ? { workflowId: options.subject.slice('review:'.length) } : {}),
      details: { path: options.request.url.split('?', 1)[0], ip: options.request.ip, ...options.details },
    });
  }

  function loginRedirect(reply: FastifyReply, reason: string) {
    return reply.redirect(`${consoleBase}/login?reason=${reason}`, 303);
  }

  /** The signed-in caller of a page, or a redirect to sign-in. */
  async function pageSession(request: FastifyRequest, reply: FastifyReply): Promise<{ principal: Principal; session: ConsoleSession } | undefined> {
    const found = await sessions.lookup(request.cookies[sessionCookie]);
    if (found.ok) return found;
    reply.clearCookie(sessionCookie, { path: consoleBase });
    await loginRedirect(reply, found.reason === 'none' ? 'signin' : found.reason);
    return undefined;
  }

  /** Refuses a post: visible message, nothing changed, audited. */
  async function refuse(
    request: FastifyRequest,
    reply: FastifyReply,
    options: { status: number; text: string; principal?: Principal | undefined; session?: ConsoleSession; task?: ReviewTask; reason: string },
  ) {
    await audit({
      request,
      principal: options.principal,
      event: 'console-refused',
      ...(options.task ? { department: options.task.department, subject: `review:${options.task.id}` } : {}),
      details: { reason: options.reason, status: options.status },
    });
    request.log.info({ reason: options.reason, status: options.status }, 'console post refused');
    const tokens = options.session ? tokensOf(options.session) : undefined;
    return sendPage(
      reply.code(options.status),
      messagePage({
        title: 'Not done',
        notice: { kind: 'error', text: `${options.text} Nothing was changed.` },
        principal: options.principal,
        tokens,
        back: options.task ? `${consoleBase}/reviews/${encodeURIComponent(options.task.id)}` : `${consoleBase}/inbox`,
      }),
    );
  }

  /** The one gate of every post but sign-in: session, CSRF token, one-time form id, known fields. */
  async function guardPost(
    request: FastifyRequest,
    reply: FastifyReply,
    allowed: readonly string[],
    target?: ReviewTask,
  ): Promise<Guarded | undefined> {
    const found = await sessions.lookup(request.cookies[sessionCookie]);
    // Refusals are audited against the review the post was aimed at, when the caller may see it.
    const on = (principal: Principal | undefined) =>
      target && principal && scopeIncludes(principal.department, target.department) ? { task: target } : {};
    if (!found.ok) {
      reply.clearCookie(sessionCookie, { path: consoleBase });
      const text =
        found.reason === 'revoked'
          ? 'Your API key was revoked, so your session ended.'
          : found.reason === 'expired'
            ? 'Your session expired; sign in again.'
            : 'You are not signed in.';
      await refuse(request, reply, { status: 401, text, principal: found.principal, reason: `session ${found.reason}`, ...on(found.principal) });
      return undefined;
    }
    const { principal, session } = found;
    const raw = (request.body ?? {}) as Record<string, unknown>;
    const fields: Fields = {};
    for (const [name, value] of Object.entries(raw)) {
      if (name !== '_csrf' && name !== '_form' && !allowed.includes(name)) {
        await refuse(request, reply, { status: 400, text: `The form had a field it does not have (${name}); it was changed in the browser.`, principal, session, reason: `unexpected field ${name}`, ...on(principal) });
        return undefined;
      }
      if (typeof value !== 'string') {
        await refuse(request, reply, { status: 400, text: `The form sent the field ${name} more than once.`, principal, session, reason: `repeated field ${name}`, ...on(principal) });
        return undefined;
      }
      fields[name] = value;
    }
    if (!sameToken(session.csrfSecret, fields._csrf)) {
      await refuse(request, reply, { status: 403, text: 'The form’s security token is missing or wrong, so it was not accepted (reload the page and try again).', principal, session, reason: 'csrf token missing or wrong', ...on(principal) });
      return undefined;
    }
    if (!fields._form || !(await sessions.useForm(session, fields._form))) {
      await refuse(request, reply, { status: 409, text: 'This form was already submitted once; a form acts only once.', principal, session, reason: 'form replayed', ...on(principal) });
      return undefined;
    }
    return { principal, session, fields };
  }

  fastify.get('/assets/console.css', async (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'no-store').send(stylesheet));

  fastify.get('/', async (_request, reply) => reply.redirect(`${consoleBase}/inbox`, 303));

  // --- sign-in and sign-out -----------------------------------------------------------------

  const loginReasons: Record<string, Notice> = {
    signin: { kind: 'error', text: 'Sign in to use the console.' },
    expired: { kind: 'error', text: 'Your session expired; sign in again.' },
    revoked: { kind: 'error', text: 'Your API key was revoked; your session ended.' },
    'signed-out': { kind: 'ok', text: 'You are signed out.' },
  };

  async function showLogin(request: FastifyRequest, reply: FastifyReply, notice?: Notice, status = 200) {
    // Login CSRF: a double-submit token, since there is no session yet to hold a secret.
    const token = newToken();
    reply.setCookie(loginCookie, token, { path: consoleBase, httpOnly: true, sameSite: 'strict', secure: secure(request) });
    return sendPage(reply.code(status), loginPage(token, notice));
  }

  fastify.get<{ Querystring: { reason?: string } }>('/login', async (request, reply) => {
    return showLogin(request, reply, loginReasons[request.query.reason ?? '']);
  });

  fastify.post('/login', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body._login !== 'string' || !sameToken(request.cookies[loginCookie] ?? '', body._login) || !request.cookies[loginCookie]) {
      await audit({ request, event: 'console-refused', details: { reason: 'sign-in form token missing or wrong', status: 403 } });
      return showLogin(request, reply, { kind: 'error', text: 'The sign-in form expired or was not sent from this console; try again.' }, 403);
    }
    const apiKey = typeof body.apiKey === 'string' ? body.apiKey : '';
    const signedIn = apiKey ? await sessions.signIn(apiKey) : undefined;
    if (!signedIn) {
      await audit({ request, event: 'console-refused', details: { reason: 'unknown or revoked API key at sign-in', status: 401 } });
      return showLogin(request, reply, { kind: 'error', text: 'That API key is unknown or revoked.' }, 401);
    }
    await audit({ request, principal: signedIn.principal, event: 'console-signed-in' });
    reply.clearCookie(loginCookie, { path: consoleBase });
    reply.setCookie(sessionCookie, signedIn.sessionId, {
      path: consoleBase,
      httpOnly: true,
      sameSite: 'strict',
      secure: secure(request),
      maxAge: config.console.sessionMaxHours * 3600,
    });
    return reply.redirect(`${consoleBase}/inbox`, 303);
  });

  fastify.post('/logout', async (request, reply) => {
    const guarded = await guardPost(request, reply, []);
    if (!guarded) return reply;
    await sessions.signOut(guarded.session);
    await audit({ request, principal: guarded.principal, event: 'console-signed-out' });
    reply.clearCookie(sessionCookie, { path: consoleBase });
    return loginRedirect(reply, 'signed-out');
  });

  // --- inbox ----------------------------------------------------------------------------------

  fastify.get<{ Querystring: Record<string, string | undefined> }>('/inbox', async (request, reply) => {
    const signed = await pageSession(request, reply);
    if (!signed) return reply;
    const { principal, session } = signed;
    if (!readerRoles.includes(principal.role)) {
      return sendPage(reply, messagePage({ title: 'Inbox', principal, tokens: tokensOf(session), notice: { kind: 'ok', text: `A ${principal.role} key has no review inbox.` } }));
    }
    const q = request.query;
    const query: InboxQuery = {
      sort: (inboxSorts as readonly string[]).includes(q.sort ?? '') ? (q.sort as InboxQuery['sort']) : 'age',
      dir: q.dir === 'asc' ? 'asc' : q.dir === 'desc' ? 'desc' : q.sort ? 'asc' : 'desc',
      type: q.type || undefined,
      q: q.q?.trim() || undefined,
    };
    const now = new Date();
    const pending = await store.reviews.list({
      status: 'pending',
      limit: 1000,
      ...departmentFilterOf(principal.department),
      assignees: [principal.name, reviewersGroup],
    });
    const types = [...new Set(pending.map((t) => t.reviewType))].sort();
    const needle = query.q?.toLowerCase();
    const shown = pending.filter((t) => (!query.type || t.reviewType === query.type) && (!needle || t.title.toLowerCase().includes(needle)));
    // A review on the default policy has its reminder and escalation times in its row; one with a
    // policy of its own has them in its `created` audit entry, looked up for those reviews only.
    const rows: InboxRow[] = await Promise.all(
      shown.map(async (task) => {
        if (hasDefaultSpan(task)) return { task, next: nextReviewStep(task, now) };
        const created = (await store.audit.list({ workflowId: task.id, limit: 50 })).findLast((e) => e.event === 'created');
        return { task, next: nextReviewStep(task, now, created?.details.policy as ReviewEscalationPolicy | undefined) };
      }),
    );
    const key = (row: InboxRow): string | number => {
      switch (query.sort) {
        case 'age':
          return -new Date(row.task.createdAt).getTime();
        case 'next':
          return row.next.at.getTime();
        case 'level':
          return row.task.escalationLevel;
        case 'type':
          return row.task.reviewType;
        case 'title':
          return row.task.title.toLowerCase();
      }
    };
    // "age ascending" means youngest first, hence the minus above.
    rows.sort((a, b) => {
      const [ka, kb] = [key(a), key(b)];
      const order = ka < kb ? -1 : ka > kb ? 1 : 0;
      return query.dir === 'asc' ? order : -order;
    });
    return sendPage(reply, inboxPage({ principal, tokens: tokensOf(session), rows, total: pending.length, types, query, now }));
  });

  // --- review page and decision ----------------------------------------------------------

  async function visibleTask(principal: Principal, id: string): Promise<ReviewTask | undefined> {
    const task = await store.reviews.get(id);
    return task && readerRoles.includes(principal.role) && scopeIncludes(principal.department, task.department) ? task : undefined;
  }

  async function liveStatus(request: FastifyRequest, id: string, department: string): Promise<ReviewStatus | null> {
    try {
      const { client } = await fastify.temporal.regions.forDepartment(department);
      return await client.workflow.getHandle(id).query(reviewStatusQuery);
    } catch (err) {
      request.log.warn({ err, reviewId: id }, 'review status query failed; the console shows the inbox row only');
      return null;
    }
  }

  async function renderReview(
    request: FastifyRequest,
    reply: FastifyReply,
    signed: { principal: Principal; session: ConsoleSession },
    task: ReviewTask,
    extra: { notice?: Notice; draftComment?: string; status?: number; justDecided?: string } = {},
  ) {
    const now = new Date();
    const [live, trail, artifact] = await Promise.all([
      liveStatus(request, task.id, task.department),
      store.audit.list({ workflowId: task.id, limit: 1000 }),
      readArtifact(task.artifactUri, artifactRoots, config.console.artifactMaxBytes),
    ]);
    const created = trail.findLast((e) => e.event === 'created');
    // `?decided=` after the redirect only says "recorded" when the workflow agrees that this very
    // signer decided so; a crafted link cannot make the page claim a decision that was not made.
    const recorded = extra.justDecided && live?.status === extra.justDecided && live.decidedBy === signed.principal.name ? outcomeWords[extra.justDecided] : undefined;
    const notice: Notice | undefined = extra.notice ?? (recorded ? { kind: 'ok', text: recorded } : undefined);
    const policy = created?.details.policy as ReviewEscalationPolicy | undefined;
    const page = reviewPage({
      principal: signed.principal,
      tokens: tokensOf(signed.session),
      task,
      live,
      audit: trail,
      artifact,
      artifactMaxBytes: config.console.artifactMaxBytes,
      next: nextReviewStep(task, now, policy),
      now,
      notice,
      draftComment: extra.draftComment,
    });
    return sendPage(reply.code(extra.status ?? 200), page);
  }

  const notFound = (principal: Principal, session: ConsoleSession) =>
    messagePage({
      title: 'Review not found',
      principal,
      tokens: tokensOf(session),
      notice: { kind: 'error', text: 'There is no review with this id that you may see.' },
      back: `${consoleBase}/inbox`,
    });

  fastify.get<{ Params: { id: string }; Querystring: { decided?: string } }>('/reviews/:id', async (request, reply) => {
    const signed = await pageSession(request, reply);
    if (!signed) return reply;
    const task = await visibleTask(signed.principal, request.params.id);
    // Another department's review reads exactly like a missing one: ids are not a side channel.
    if (!task) return sendPage(reply.code(404), notFound(signed.principal, signed.session));
    await store.audit.append({
      actor: auditActorOf(signed.principal),
      department: task.department,
      subject: `review:${task.id}`,
      event: 'viewed',
      workflowId: task.id,
      artifactVersion: task.artifactVersion,
      details: { via: 'console' },
    });
    return renderReview(request, reply, signed, task, request.query.decided ? { justDecided: request.query.decided } : {});
  });

  fastify.post<{ Params: { id: string } }>('/reviews/:id/decision', async (request, reply) => {
    const task = await store.reviews.get(request.params.id);
    const guarded = await guardPost(request, reply, ['reviewId', 'artifactVersion', 'decision', 'comment'], task);
    if (!guarded) return reply;
    const { principal, session, fields } = guarded;
    if (!task || !scopeIncludes(principal.department, task.department)) {
      await audit({ request, principal, event: 'console-refused', details: { reason: 'review not found or in another department', reviewId: request.params.id, status: 404 } });
      return sendPage(reply.code(404), notFound(principal, session));
    }
    if (fields.reviewId !== task.id) {
      return refuse(request, reply, { status: 400, text: 'The form names another review than the one it was posted to; it was changed in the browser.', principal, session, task, reason: `form reviewId ${JSON.stringify(fields.reviewId)} differs from the URL` });
    }
    const comment = fields.comment?.trim();
    const parsed = reviewDecisionBodySchema.safeParse({
      decision: fields.decision,
      artifactVersion: fields.artifactVersion,
      ...(comment ? { comment } : {}),
    });
    const signed = { principal, session };
    if (!parsed.success) {
      const text = fields.decision === 'reject' && !comment ? 'Not recorded: a rejection needs a comment saying why.' : `Not recorded: the form is not valid (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}).`;
      return renderReview(request, reply, signed, task, { status: 422, notice: { kind: 'error', text }, ...(comment ? { draftComment: comment } : {}) });
    }
    try {
      const review = await decideReview({ regions: fastify.temporal.regions, audit: store.audit, log: request.log }, principal, task, parsed.data);
      return reply.redirect(`${consoleBase}/reviews/${encodeURIComponent(task.id)}?decided=${review.status}`, 303);
    } catch (err) {
      if (!(err instanceof TandemError) || err.status >= 500) throw err;
      const why =
        err.status === 403
          ? 'you are not authorised to decide this review'
          : err.status === 409 && parsed.data.artifactVersion !== task.artifactVersion
            ? `the version you signed (${parsed.data.artifactVersion}) is not the version under review (${task.artifactVersion}) — a stale version`
            : err.status === 409
              ? 'this review was already decided'
              : 'the decision is not valid';
      const current = (await store.reviews.get(task.id)) ?? task;
      return renderReview(request, reply, signed, current, {
        status: err.status,
        notice: { kind: 'error', text: `Not recorded: ${why}. (${err.message})` },
        ...(comment ? { draftComment: comment } : {}),
      });
    }
  });

  // --- pipelines and flows --------------------------------------------------------------------

  const configuredRegions = temporalRegions(config);
  /** The embedded dev server's UI at a region's namespace; none for a region on another server, whose UI is not ours to know. */
  const temporalUiOf = (region: string) => {
    const served = configuredRegions.find((r) => r.name === region);
    return config.temporal.embedded && served?.address === config.temporal.address
      ? { url: `http://${config.host}:${config.temporal.uiPort}`, namespace: served.namespace }
      : undefined;
  };

  fastify.get('/pipelines', async (request, reply) => {
    const signed = await pageSession(request, reply);
    if (!signed) return reply;
    const { principal, session } = signed;
    if (!pipelineReaderRoles.includes(principal.role)) {
      return sendPage(reply, messagePage({ title: 'Pipelines', principal, tokens: tokensOf(session), notice: { kind: 'ok', text: `A ${principal.role} key does not see pipelines.` } }));
    }
    const pipelines = await fastify.pipelines.list(principal, false);
    const sections: PipelineSection[] = await Promise.all(
      pipelines.map(async (pipeline): Promise<PipelineSection> => {
        const stages = ((pipeline.spec as { stages?: { id: string; kind: string }[] }).stages ?? []).filter((s) => s.kind === 'handoff').map((s) => s.id);
        try {
          const runs = (await fastify.pipelines.listRuns(principal, pipeline.id, recentRuns)).reverse();
          // Its hand-offs run in its department's region.
          const temporalUi = temporalUiOf(await fastify.temporal.regions.regionOf(pipeline.department));
          const grid = partitionGrid(pipeline.dagId, runs, pipeline.partitionKeys ?? [], stages, { airflowUiUrl: config.airflow.url, temporalUi });
          return { pipeline, runs, grid };
        } catch (err) {
          request.log.warn({ err, pipelineId: pipeline.id }, 'console could not read pipeline runs');
          return { pipeline, runs: [], grid: [], error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
    return sendPage(reply, pipelinesPage({ principal, tokens: tokensOf(session), sections }));
  });

  fastify.get('/flows', async (request, reply) => {
    const signed = await pageSession(request, reply);
    if (!signed) return reply;
    const { principal, session } = signed;
    if (!flowReaderRoles.includes(principal.role)) {
      return sendPage(reply, messagePage({ title: 'Flows', principal, tokens: tokensOf(session), notice: { kind: 'ok', text: `A ${principal.role} key does not see flows.` } }));
    }
    // Temporal's visibility list, newest first: by the TandemDepartment search attribute where the
    // namespace has it (the same query as GET /v1/workflows), else a bounded scan of the task
    // queue filtered here by the department in each flow's (encrypted) memo, which the client decodes.
    const flows: FlowRow[] = [];
    let error: string | undefined;
    try {
      // A department's flows are in its region; a `*` key's in every region, newest first overall.
      const { regions } = fastify.temporal;
      const listed = principal.department === allDepartments ? regions.all : [await regions.forDepartment(principal.department)];
      for (const { region, client, departmentSearchAttribute } of listed) {
        const query = departmentSearchAttribute ? workflowListQuery({ principal }) : `TaskQueue = '${fastify.temporal.taskQueue.replaceAll("'", '')}'`;
        const ui = temporalUiOf(region);
        let seen = 0;
        let fromRegion = 0;
        for await (const info of client.workflow.list({ query, pageSize: 100 })) {
          if (++seen > 500 || fromRegion >= recentFlows) break;
          const memo = (info.memo ?? {}) as { department?: string; startedBy?: string; type?: string };
          if (!memo.department || !scopeIncludes(principal.department, memo.department)) continue;
          fromRegion += 1;
          flows.push({
          workflowId: info.workflowId,
          type: memo.type ?? info.type,
          status: info.status.name.toLowerCase().replaceAll('_', ' '),
          department: memo.department,
          startedBy: memo.startedBy ?? '',
          startTime: info.startTime.toISOString(),
          closeTime: info.closeTime?.toISOString() ?? null,
          temporalHref: ui
            ? `${ui.url}/namespaces/${encodeURIComponent(ui.namespace)}/workflows/${encodeURIComponent(info.workflowId)}/${encodeURIComponent(info.runId)}/history`
            : undefined,
          });
        }
      }
      flows.sort((a, b) => (a.startTime < b.startTime ? 1 : a.startTime > b.startTime ? -1 : 0));
      flows.splice(recentFlows);
    } catch (err) {
      request.log.warn({ err }, 'console could not list flows');
      error = err instanceof Error ? err.message : String(err);
    }
    return sendPage(reply, flowsPage({ principal, tokens: tokensOf(session), flows, ...(error ? { error } : {}) }));
  });
};

export default consoleRoutes;
