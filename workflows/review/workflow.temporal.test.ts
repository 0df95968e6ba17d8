// Every escalation branch of the review workflow on the time-skipping test server, with the real
// audit and inbox activities on a temp SQLite store and the notify activity posting to a local
// fake webhook: a 7-day review runs in seconds.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { ReviewNotification } from '../../services/worker/activities/notify.ts';
import { createActivities } from '../../services/worker/activities/index.ts';
import { prebuildWorkflowBundle } from '../../services/worker/bundle.ts';
import type { Principal } from '../../shared/contracts/principal.ts';
import { reviewRequestInputSchema, type ReviewRequestInput } from '../../shared/contracts/reviews.ts';
import { openSqliteStore, type SqliteStore } from '../../shared/store/sqlite-store.ts';
import { createTimeSkippingEnv } from '../../test/support/temporal-test-env.ts';
import { commentUpdate, decideUpdate, reassignUpdate, reviewRejections, reviewStatusQuery, type ReviewDecisionArgs as DecideArgs } from './messages.ts';
import { reviewWorkflow } from './workflow.ts';

let env: TestWorkflowEnvironment;
let codePath: string;
let dir: string;
let store: SqliteStore;
let webhook: Server;
const notifications: ReviewNotification[] = [];
let worker: Worker;
let running: Promise<void>;
const taskQueue = `review-test-${randomUUID()}`;

const hour = 60 * 60 * 1000;
const minute = 60 * 1000;

const drA: Principal = { keyId: 'k-a', name: 'dr-a', role: 'reviewer', department: 'cardiology' };
const chief: Principal = { keyId: 'k-chief', name: 'dr-chief', role: 'reviewer', department: 'cardiology' };
const oncologist: Principal = { keyId: 'k-onc', name: 'dr-a', role: 'reviewer', department: 'oncology' };

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tandem-review-wf-'));
  store = openSqliteStore(path.join(dir, 'tandem.db'));
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      notifications.push(JSON.parse(body) as ReviewNotification);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
  [env, { codePath }] = await Promise.all([createTimeSkippingEnv(), prebuildWorkflowBundle()]);
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath },
    activities: createActivities({ store, config: { notify: { webhookUrl } } }),
  });
  running = worker.run();
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await new Promise((r) => webhook?.close(r));
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function request(over: Partial<ReviewRequestInput> = {}): ReviewRequestInput {
  return reviewRequestInputSchema.parse({
    department: 'cardiology',
    reviewType: 'discharge-summary',
    title: 'Discharge summary for bed 12',
    artifact: { uri: 's3://summaries/12', version: 'v3' },
    assignee: 'dr-a',
    escalationContact: 'dr-chief',
    ...over,
  });
}

async function start(input = request()): Promise<WorkflowHandleWithFirstExecutionRunId<typeof reviewWorkflow>> {
  const workflowId = `review-${randomUUID()}`;
  const handle = await env.client.workflow.start(reviewWorkflow, { taskQueue, workflowId, args: [input] });
  // The task exists before anybody is told about it.
  for (let i = 0; i < 200 && !(await store.reviews.get(workflowId)); i++) await new Promise((r) => setTimeout(r, 25));
  return handle;
}

const eventsOf = async (id: string) => (await store.audit.list({ workflowId: id })).map((e) => e.event);
const notificationsOf = (id: string) => notifications.filter((n) => n.reviewId === id).map((n) => [n.kind, n.recipients]);

async function rejectionOf(promise: Promise<unknown>): Promise<string | undefined> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (err as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return (cause as ApplicationFailure).type ?? undefined;
}

type Activities = ReturnType<typeof createActivities>;

/** A promise the test settles when it wants: an activity that awaits it is held back until then. */
function gate(): { held: Promise<void>; release: () => void } {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  return { held, release };
}

/** A worker on a task queue of its own, with the real activities but for `overrides`. */
async function workerWith(name: string, overrides: (real: Activities) => Partial<Activities>): Promise<{ worker: Worker; queue: string }> {
  const real = createActivities({ store, config: { notify: { webhookUrl: 'http://127.0.0.1:9/unused' } } });
  const queue = `${taskQueue}-${name}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: queue, workflowBundle: { codePath }, activities: { ...real, ...overrides(real) } });
  return { worker, queue };
}

describe('reviewWorkflow escalation branches', () => {
  it('decision at 10 min: approved, nobody notified', async () => {
    const handle = await start();
    await env.sleep(10 * minute);
    const accepted = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', artifactVersion: 'v3', principal: drA }] });
    expect(accepted).toMatchObject({ status: 'approved', decidedBy: 'dr-a' });
    // The reply comes with the decision audited and the inbox task closed (both local activities
    // of the workflow task that took the decision).
    expect(await eventsOf(handle.workflowId)).toEqual(['created', 'decided', 'workflow-finished']);
    expect(await store.reviews.get(handle.workflowId)).toMatchObject({ status: 'approved' });
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'approved', decidedBy: 'dr-a', artifactVersion: 'v3', escalations: [] });
    const started = Date.parse((await store.reviews.get(handle.workflowId))!.createdAt);
    expect(Date.parse(result.decidedAt) - started).toBeGreaterThanOrEqual(10 * minute);
    expect(Date.parse(result.decidedAt) - started).toBeLessThan(11 * minute);
    expect(notificationsOf(handle.workflowId)).toEqual([]);
    expect(await eventsOf(handle.workflowId)).toEqual(['created', 'decided', 'workflow-finished']);
    expect(await store.reviews.get(handle.workflowId)).toMatchObject({ status: 'approved' });
    const [decided, finished] = (await store.audit.list({ workflowId: handle.workflowId })).slice(-2);
    expect(decided).toMatchObject({ actor: { kind: 'key', keyId: 'k-a', name: 'dr-a' }, artifactVersion: 'v3', department: 'cardiology' });
    // The workflow's end, audited under the review's department by the bundled interceptor.
    expect(finished).toMatchObject({
      event: 'workflow-finished',
      subject: `workflow:${handle.workflowId}`,
      department: 'cardiology',
      actor: { kind: 'workflow', name: 'reviewWorkflow' },
      details: { type: 'reviewWorkflow', outcome: 'completed', runId: handle.firstExecutionRunId },
    });
  });

  it('decision at 23 h: still before the reminder', async () => {
    const handle = await start();
    await env.sleep(23 * hour);
    await handle.executeUpdate(decideUpdate, { args: [{ decision: 'request-changes', artifactVersion: 'v3', principal: drA, comment: 'cite the echo' }] });
    expect(await handle.result()).toMatchObject({ outcome: 'changes-requested', comment: 'cite the echo', escalations: [] });
    expect(notificationsOf(handle.workflowId)).toEqual([]);
    expect(await eventsOf(handle.workflowId)).toEqual(['created', 'decided', 'workflow-finished']);
  });

  it('decision at 25 h: after the reminder to the assignee and the escalation contact', async () => {
    const handle = await start();
    await env.sleep(25 * hour);
    expect(notificationsOf(handle.workflowId)).toEqual([['review-reminder', ['dr-a', 'dr-chief']]]);
    await handle.executeUpdate(decideUpdate, { args: [{ decision: 'reject', artifactVersion: 'v3', principal: drA, comment: 'wrong patient' }] });
    expect(await handle.result()).toMatchObject({ outcome: 'rejected', decidedBy: 'dr-a', escalations: [] });
    expect(await eventsOf(handle.workflowId)).toEqual(['created', 'notified', 'decided', 'workflow-finished']);
  });

  it('decision at 73 h: after escalation only the escalation contact may decide', async () => {
    const handle = await start();
    await env.sleep(73 * hour);
    const status = await handle.query(reviewStatusQuery);
    expect(status).toMatchObject({ assignee: 'dr-chief', escalationLevel: 1 });
    expect(await store.reviews.get(handle.workflowId)).toMatchObject({ assignee: 'dr-chief', escalationLevel: 1, status: 'pending' });
    expect(await rejectionOf(handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', artifactVersion: 'v3', principal: drA }] }))).toBe(
      reviewRejections.forbidden,
    );
    await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', artifactVersion: 'v3', principal: chief }] });
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'approved', decidedBy: 'dr-chief' });
    expect(result.escalations).toEqual([{ level: 1, from: 'dr-a', to: 'dr-chief', at: expect.any(String) }]);
    expect(notificationsOf(handle.workflowId)).toEqual([
      ['review-reminder', ['dr-a', 'dr-chief']],
      ['review-escalated', ['dr-chief', 'dr-a']],
    ]);
    expect(await eventsOf(handle.workflowId)).toEqual(['created', 'notified', 'escalated', 'decided', 'workflow-finished']);
  });

  it('no decision: expired at the deadline with the escalation record, never silently', async () => {
    const handle = await start();
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'expired', decidedBy: null, artifactVersion: 'v3' });
    expect(result.escalations).toHaveLength(1);
    const created = Date.parse((await store.reviews.get(handle.workflowId))!.createdAt);
    expect(Date.parse(result.decidedAt) - created).toBeGreaterThanOrEqual(168 * hour);
    expect(notificationsOf(handle.workflowId).map(([kind]) => kind)).toEqual(['review-reminder', 'review-escalated', 'review-expired']);
    expect(await eventsOf(handle.workflowId)).toEqual(['created', 'notified', 'escalated', 'expired', 'workflow-finished']);
    expect(await store.reviews.get(handle.workflowId)).toMatchObject({ status: 'expired' });
    const expired = (await store.audit.list({ workflowId: handle.workflowId })).find((e) => e.event === 'expired')!;
    expect(expired.details).toMatchObject({ escalations: [{ level: 1, to: 'dr-chief' }] });
    expect(await store.audit.verify()).toMatchObject({ ok: true });
  });

  it('follows a shorter policy of the request', async () => {
    const handle = await start(request({ policy: { notifyAfterHours: 1, escalateAfterHours: 2, deadlineHours: 3 } }));
    expect(await handle.result()).toMatchObject({ outcome: 'expired' });
    expect(notificationsOf(handle.workflowId)).toHaveLength(3);
  });
});

describe('reviewWorkflow update validators', () => {
  it('reject without changing anything: wrong department, stale version, reject without comment, bad decision', async () => {
    const handle = await start();
    const decide = (args: Record<string, unknown>) =>
      handle.executeUpdate(decideUpdate, { args: [args as unknown as DecideArgs] });
    expect(await rejectionOf(decide({ decision: 'approve', artifactVersion: 'v3', principal: oncologist }))).toBe(reviewRejections.forbidden);
    expect(await rejectionOf(decide({ decision: 'approve', artifactVersion: 'v2', principal: drA }))).toBe(reviewRejections.staleVersion);
    expect(await rejectionOf(decide({ decision: 'reject', artifactVersion: 'v3', principal: drA }))).toBe(reviewRejections.invalid);
    expect(await rejectionOf(decide({ decision: 'maybe', artifactVersion: 'v3', principal: drA }))).toBe(reviewRejections.invalid);
    expect(await rejectionOf(decide({ decision: 'approve', artifactVersion: 'v3', principal: { ...drA, role: 'ai-engineer' } }))).toBe(
      reviewRejections.forbidden,
    );
    const status = await handle.query(reviewStatusQuery);
    expect(status).toMatchObject({ status: 'pending', decidedBy: null, assignee: 'dr-a' });
    expect(await eventsOf(handle.workflowId)).toEqual(['created']);

    // Comment and reassign are audited with the caller's identity; the new assignee may decide.
    await handle.executeUpdate(commentUpdate, { args: [{ text: 'looking at it', principal: drA }] });
    const admin: Principal = { keyId: 'k-admin', name: 'ops', role: 'admin', department: '*' };
    await handle.executeUpdate(reassignUpdate, { args: [{ assignee: 'dr-b', reason: 'vacation', principal: admin }] });
    expect(await rejectionOf(decide({ decision: 'approve', artifactVersion: 'v3', principal: drA }))).toBe(reviewRejections.forbidden);
    const drB: Principal = { keyId: 'k-b', name: 'dr-b', role: 'reviewer', department: 'cardiology' };
    await decide({ decision: 'approve', artifactVersion: 'v3', principal: drB });
    // With the inbox, the review ends in the workflow task that took the decision: a second one
    // finds no workflow to update (the API answers it 409, see services/api/review-decisions.ts).
    expect(await decide({ decision: 'reject', artifactVersion: 'v3', principal: drB, comment: 'no' }).catch((e: unknown) => e)).toBeInstanceOf(WorkflowNotFoundError);
    expect(await handle.result()).toMatchObject({ outcome: 'approved', decidedBy: 'dr-b' });
    expect(await eventsOf(handle.workflowId)).toEqual(['created', 'commented', 'reassigned', 'decided', 'workflow-finished']);
    expect((await store.reviews.get(handle.workflowId))?.assignee).toBe('dr-b');
  });

  it('any reviewer of the department may decide a review assigned to the reviewers group', async () => {
    const handle = await start(request({ assignee: 'group:reviewers' }));
    expect(await rejectionOf(handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', artifactVersion: 'v3', principal: oncologist }] }))).toBe(
      reviewRejections.forbidden,
    );
    await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', artifactVersion: 'v3', principal: chief }] });
    expect(await handle.result()).toMatchObject({ outcome: 'approved', decidedBy: 'dr-chief' });
  });
});

describe('reviewWorkflow: a fresh run under the same workflow id', () => {
  // An Airflow retry of a hand-off after a rejected review starts a new run under the deterministic
  // hand-off id (shared/contracts/handoffs.ts); the review id stays the workflow id.
  it('reopens the inbox task, audits and notifies the new run on its own keys, and takes a decision', async () => {
    const first = await start(request({ policy: { notifyAfterHours: 1, escalateAfterHours: 100, deadlineHours: 200 } }));
    const reviewId = first.workflowId;
    await env.sleep(2 * hour);
    await first.executeUpdate(decideUpdate, { args: [{ decision: 'reject', artifactVersion: 'v3', principal: drA, comment: 'wrong patient' }] });
    expect(await first.result()).toMatchObject({ outcome: 'rejected' });
    expect(await store.reviews.get(reviewId)).toMatchObject({ status: 'rejected' });

    const second = await env.client.workflow.start(reviewWorkflow, {
      taskQueue,
      workflowId: reviewId,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      args: [request({ artifact: { uri: 's3://summaries/12', version: 'v4' }, policy: { notifyAfterHours: 1, escalateAfterHours: 100, deadlineHours: 200 } })],
    });
    expect(second.firstExecutionRunId).not.toBe(first.firstExecutionRunId);
    for (let i = 0; i < 200 && (await store.reviews.get(reviewId))?.status !== 'pending'; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await store.reviews.get(reviewId)).toMatchObject({ status: 'pending', artifactVersion: 'v4', assignee: 'dr-a', escalationLevel: 0, closedAt: null });

    // The new run's reminder reaches people again instead of being taken for the first run's.
    await env.sleep(2 * hour);
    expect(notificationsOf(reviewId)).toEqual([
      ['review-reminder', ['dr-a', 'dr-chief']],
      ['review-reminder', ['dr-a', 'dr-chief']],
    ]);
    const reminderKeys = notifications.filter((n) => n.reviewId === reviewId).map((n) => n.idempotencyKey);
    expect(reminderKeys).toEqual([`${reviewId}:${first.firstExecutionRunId}:notified:1`, `${reviewId}:${second.firstExecutionRunId}:notified:1`]);

    // The first run's decision was for v3; the new run reviews v4 and accepts a decision on it.
    expect(await rejectionOf(second.executeUpdate(decideUpdate, { args: [{ decision: 'approve', artifactVersion: 'v3', principal: drA }] }))).toBe(
      reviewRejections.staleVersion,
    );
    await second.executeUpdate(decideUpdate, { args: [{ decision: 'approve', artifactVersion: 'v4', principal: drA }] });
    expect(await second.result()).toMatchObject({ outcome: 'approved', decidedBy: 'dr-a', artifactVersion: 'v4' });
    expect(await store.reviews.get(reviewId)).toMatchObject({ status: 'approved', artifactVersion: 'v4' });

    const entries = await store.audit.list({ workflowId: reviewId });
    expect(entries.map((e) => [e.event, e.artifactVersion ?? null])).toEqual([
      ['created', 'v3'],
      ['notified', 'v3'],
      ['decided', 'v3'],
      ['workflow-finished', null],
      ['created', 'v4'],
      ['notified', 'v4'],
      ['decided', 'v4'],
      ['workflow-finished', null],
    ]);
    const runOf = (key: string | null) => key?.split(':')[1];
    expect(entries.slice(0, 4).map((e) => runOf(e.dedupeKey))).toEqual(Array(4).fill(first.firstExecutionRunId));
    expect(entries.slice(4).map((e) => runOf(e.dedupeKey))).toEqual(Array(4).fill(second.firstExecutionRunId));
    expect(entries[2]!.details).toMatchObject({ outcome: 'rejected', comment: 'wrong patient' });
    expect(entries[6]!.details).toMatchObject({ outcome: 'approved' });
    expect(await store.audit.verify()).toMatchObject({ ok: true });
  });
});

describe('audit order while the review is being created', () => {
  it('a comment and a reassignment that arrive before `created` is recorded are audited after it', async () => {
    // Holds the `created` entry back, as a slow store would: the inbox task already exists, so a
    // reviewer can act on it in this window.
    const created = gate();
    const { worker: slowWorker, queue: slowQueue } = await workerWith('slow-created', (real) => ({
      appendAudit: async (entry) => {
        if (entry.event === 'created') await created.held;
        return real.appendAudit(entry);
      },
    }));
    await slowWorker.runUntil(async () => {
      const workflowId = `review-${randomUUID()}`;
      const handle = await env.client.workflow.start(reviewWorkflow, { taskQueue: slowQueue, workflowId, args: [request()] });
      for (let i = 0; i < 200 && !(await store.reviews.get(workflowId)); i++) await new Promise((r) => setTimeout(r, 25));
      const comment = handle.executeUpdate(commentUpdate, { args: [{ text: 'first look', principal: drA }] });
      const admin: Principal = { keyId: 'k-admin', name: 'ops', role: 'admin', department: '*' };
      const reassign = handle.executeUpdate(reassignUpdate, { args: [{ assignee: 'dr-b', principal: admin }] });
      // Both handlers have run as far as they may (without the wait they would have recorded).
      await new Promise((r) => setTimeout(r, 1500));
      expect(await eventsOf(workflowId)).toEqual([]);
      created.release();
      await Promise.all([comment, reassign]);
      // Both after `created`; between the two concurrent requests no order is promised (their
      // audit activities run side by side once `created` is in).
      const [first, ...rest] = await eventsOf(workflowId);
      expect(first).toBe('created');
      expect(rest.sort()).toEqual(['commented', 'reassigned']);
      await handle.terminate('test done');
    });
  });
});

describe('the decision and its audit entry', () => {
  it('are in the audit chain when the decide update returns, also while `created` is, and whatever an outside task system takes', async () => {
    // Holds back the `created` entry (a slow store) and the close of a task in an outside task
    // system (its reference is not the inbox's; the inbox row is still written, for the test to
    // read): the decider's reply waits for the decision's entry, which waits for `created`, and
    // neither waits for the close.
    const created = gate();
    const close = gate();
    const { worker: slowWorker, queue: slowQueue } = await workerWith('slow-close', (real) => ({
      appendAudit: async (entry) => {
        if (entry.event === 'created') await created.held;
        return real.appendAudit(entry);
      },
      createReviewTask: async (spec) => {
        await real.createReviewTask(spec);
        return { taskRef: `ehr:${spec.reviewId}` };
      },
      closeReviewTask: async (args) => {
        await close.held;
        return real.closeReviewTask(args);
      },
    }));
    await slowWorker.runUntil(async () => {
      const workflowId = `review-${randomUUID()}`;
      const handle = await env.client.workflow.start(reviewWorkflow, { taskQueue: slowQueue, workflowId, args: [request()] });
      for (let i = 0; i < 200 && !(await store.reviews.get(workflowId)); i++) await new Promise((r) => setTimeout(r, 25));
      let replied = false;
      const decision = handle
        .executeUpdate(decideUpdate, { args: [{ decision: 'approve', artifactVersion: 'v3', principal: drA }] })
        .finally(() => (replied = true));
      await new Promise((r) => setTimeout(r, 1500));
      expect(replied).toBe(false);
      expect(await eventsOf(workflowId)).toEqual([]);
      created.release();
      expect(await decision).toMatchObject({ status: 'approved', decidedBy: 'dr-a' });
      expect(await eventsOf(workflowId)).toEqual(['created', 'decided']);
      expect(await store.reviews.get(workflowId)).toMatchObject({ status: 'pending' });
      // The workflow is still open (closing the outside task); its validator refuses a second decision.
      expect(await rejectionOf(handle.executeUpdate(decideUpdate, { args: [{ decision: 'reject', artifactVersion: 'v3', principal: drA, comment: 'no' }] }))).toBe(
        reviewRejections.finished,
      );
      close.release();
      expect(await handle.result()).toMatchObject({ outcome: 'approved' });
      expect(await eventsOf(workflowId)).toEqual(['created', 'decided', 'workflow-finished']);
      expect(await store.reviews.get(workflowId)).toMatchObject({ status: 'approved' });
      expect(await store.audit.verify()).toMatchObject({ ok: true });
    });
  });
});
