// The reviews and audit routes against a real review workflow: the app fixture's SQLite store is
// also the worker's store, and Temporal is the time-skipping test server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestReview } from '../../../../../test/support/reviews.ts';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { appWithWorker, type AppWithWorker } from '../../../../../test/support/app-with-worker.ts';
import { newApiKey } from '../../../../../shared/credentials.ts';
import type { Role } from '../../../../../shared/contracts/roles.ts';
import { hashApiKey } from '../../../../../shared/store/api-key-hash.ts';
import type { AppFixture } from '../../../../../test/support/app-fixture.ts';

let env: TestWorkflowEnvironment;
let f: AppFixture;
let stack: AppWithWorker;
const keys: Record<string, string> = {};

async function addKey(name: string, role: Role, department: string) {
  keys[name] = newApiKey('key');
  await f.store.createApiKey({ name, role, department, keyHash: hashApiKey(keys[name]) });
}
const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });

beforeAll(async () => {
  stack = await appWithWorker('time-skipping');
  ({ env, f } = stack);
  await addKey('dr-a', 'reviewer', 'cardiology');
  await addKey('dr-chief', 'reviewer', 'cardiology');
  await addKey('dr-onc', 'reviewer', 'oncology');
  await addKey('cardio-admin', 'admin', 'cardiology');
  await addKey('onc-admin', 'admin', 'oncology');
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

const startReview = (department = 'cardiology') => startTestReview(f, { department });

const decide = (id: string, who: string, payload: Record<string, unknown>) =>
  f.app.inject({ method: 'POST', url: `/v1/reviews/${id}/decision`, headers: as(who), payload });
const events = async (id: string) => (await f.store.audit.list({ workflowId: id })).map((e) => [e.event, e.actor.name]);

describe('/v1/reviews', () => {
  it('lists pending reviews assigned to the caller, only in its department', async () => {
    const cardio = await startReview();
    const onc = await startReview('oncology');
    const mine = await f.app.inject({ url: '/v1/reviews?assignedToMe=true&status=pending', headers: as('dr-a') });
    expect(mine.statusCode).toBe(200);
    const ids = mine.json().reviews.map((r: { id: string }) => r.id);
    expect(ids).toContain(cardio);
    expect(ids).not.toContain(onc);
    const chiefs = await f.app.inject({ url: '/v1/reviews?assignedToMe=true', headers: as('dr-chief') });
    expect(chiefs.json().reviews.map((r: { id: string }) => r.id)).not.toContain(cardio);
    expect((await f.app.inject({ url: '/v1/reviews', headers: f.headers('data-engineer') })).statusCode).toBe(403);
  });

  it('shows a review with the workflow’s live status, audits the view, and hides other departments’ reviews', async () => {
    const id = await startReview();
    const res = await f.app.inject({ url: `/v1/reviews/${id}`, headers: as('dr-a') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, status: 'pending', assignee: 'dr-a', artifactVersion: 'v2', live: { status: 'pending', escalations: [] } });
    expect(await events(id)).toEqual([
      ['workflow-started', 'test-ai-engineer'],
      ['created', 'reviewWorkflow'],
      ['viewed', 'dr-a'],
    ]);
    expect((await f.app.inject({ url: `/v1/reviews/${id}`, headers: as('dr-onc') })).statusCode).toBe(404);
  });

  it('answers each refused decision at once, audits it, and changes nothing; then accepts the assignee’s', async () => {
    const id = await startReview();

    const invalid = await decide(id, 'dr-a', { decision: 'reject', artifactVersion: 'v2' });
    expect(invalid.statusCode).toBe(422);
    expect(invalid.json().errors.map((e: { path: string }) => e.path)).toEqual([expect.stringMatching(/comment$/)]);
    const unknown = await decide(id, 'dr-a', { decision: 'maybe', artifactVersion: 'v2', reviewer: 'dr-chief' });
    expect(unknown.statusCode).toBe(422);

    const otherDepartment = await decide(id, 'dr-onc', { decision: 'approve', artifactVersion: 'v2' });
    // Another department's review reads as missing, and the attempt is still audited.
    expect(otherDepartment.statusCode).toBe(404);
    expect(otherDepartment.json().detail).toBe(`review ${id} not found`);

    const notAssignee = await decide(id, 'dr-chief', { decision: 'approve', artifactVersion: 'v2' });
    expect(notAssignee.statusCode).toBe(403);

    const stale = await decide(id, 'dr-a', { decision: 'approve', artifactVersion: 'v1' });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().detail).toMatch(/version v1.*version v2/);

    const still = await f.app.inject({ url: `/v1/reviews/${id}`, headers: as('dr-a') });
    expect(still.json()).toMatchObject({ status: 'pending', live: { status: 'pending', decidedBy: null } });

    const accepted = await decide(id, 'dr-a', { decision: 'approve', artifactVersion: 'v2', comment: 'fine' });
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toMatchObject({ accepted: true, review: { status: 'approved', decidedBy: 'dr-a' } });
    expect(await env.client.workflow.getHandle(id).result()).toMatchObject({ outcome: 'approved', decidedBy: 'dr-a', artifactVersion: 'v2' });

    const again = await decide(id, 'dr-a', { decision: 'reject', artifactVersion: 'v2', comment: 'changed my mind' });
    expect(again.statusCode).toBe(409);
    expect((await f.store.reviews.get(id))?.status).toBe('approved');

    // The other department's attempt is refused by the API before the workflow is asked, so it
    // may be audited before or after the workflow's own `created`.
    expect((await events(id)).filter(([, who]) => who !== 'dr-onc')).toEqual([
      ['workflow-started', 'test-ai-engineer'],
      ['created', 'reviewWorkflow'],
      ['decision-rejected', 'dr-chief'],
      ['decision-rejected', 'dr-a'],
      ['viewed', 'dr-a'],
      ['decided', 'dr-a'],
      ['workflow-finished', 'reviewWorkflow'],
      ['decision-rejected', 'dr-a'],
    ]);
    const rejected = (await f.store.audit.list({ workflowId: id })).find((e) => e.actor.name === 'dr-onc')!;
    expect(rejected).toMatchObject({ department: 'cardiology', details: { status: 404 }, actor: { kind: 'key', role: 'reviewer' } });
  });

  it('reassigns (assignee or admin of the department) and takes comments', async () => {
    const id = await startReview();
    const comment = await f.app.inject({ method: 'POST', url: `/v1/reviews/${id}/comments`, headers: as('dr-chief'), payload: { text: 'see lab 3' } });
    expect(comment.statusCode).toBe(201);
    expect(comment.json().comments).toEqual([{ by: 'dr-chief', at: expect.any(String), text: 'see lab 3' }]);
    const byOtherAdmin = await f.app.inject({ method: 'POST', url: `/v1/reviews/${id}/reassign`, headers: as('onc-admin'), payload: { assignee: 'x' } });
    expect(byOtherAdmin.statusCode).toBe(404);
    const byNonAssignee = await f.app.inject({ method: 'POST', url: `/v1/reviews/${id}/reassign`, headers: as('dr-chief'), payload: { assignee: 'dr-chief' } });
    expect(byNonAssignee.statusCode).toBe(403);
    const res = await f.app.inject({ method: 'POST', url: `/v1/reviews/${id}/reassign`, headers: as('cardio-admin'), payload: { assignee: 'dr-chief', reason: 'leave' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ assignee: 'dr-chief' });
    expect((await f.store.reviews.get(id))?.assignee).toBe('dr-chief');
    expect((await decide(id, 'dr-chief', { decision: 'request-changes', artifactVersion: 'v2' })).statusCode).toBe(200);
    expect(await env.client.workflow.getHandle(id).result()).toMatchObject({ outcome: 'changes-requested', decidedBy: 'dr-chief' });
    expect((await events(id)).map(([e]) => e)).toEqual(['workflow-started', 'created', 'commented', 'reassigned', 'decided', 'workflow-finished']);
    // Both ends of the flow are audited under the review's department (the starter's key is `*`),
    // so the department's admin sees them.
    const ends = await f.app.inject({ url: `/v1/audit?subject=${encodeURIComponent(`workflow:${id}`)}`, headers: as('cardio-admin') });
    expect(ends.json().entries).toMatchObject([
      { event: 'workflow-started', department: 'cardiology' },
      { event: 'workflow-finished', department: 'cardiology', details: { type: 'reviewWorkflow', outcome: 'completed' } },
    ]);
  });
});

describe('/v1/audit', () => {
  it('is for admins, scoped to the admin key’s department, and verifies the chain', async () => {
    const id = await startReview();
    const onc = await startReview('oncology');
    const all = await f.app.inject({ url: `/v1/audit?subject=${encodeURIComponent(`review:${id}`)}`, headers: f.headers('admin') });
    expect(all.statusCode).toBe(200);
    expect(all.json().entries.map((e: { event: string }) => e.event)).toEqual(['created']);
    const started = await f.app.inject({ url: `/v1/audit?subject=${encodeURIComponent(`workflow:${id}`)}`, headers: as('cardio-admin') });
    expect(started.json().entries).toMatchObject([{ event: 'workflow-started', department: 'cardiology', actor: { name: 'test-ai-engineer' }, details: { type: 'review.request' } }]);
    const scoped = await f.app.inject({ url: `/v1/audit?workflowId=${onc}`, headers: as('cardio-admin') });
    expect(scoped.json().entries).toEqual([]);
    expect((await f.app.inject({ url: '/v1/audit', headers: as('dr-a') })).statusCode).toBe(403);
    const verified = await f.app.inject({ url: '/v1/audit/verify', headers: f.headers('admin') });
    expect(verified.json()).toMatchObject({ ok: true, entries: expect.any(Number) });
  });
});
