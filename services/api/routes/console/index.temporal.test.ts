// Console decisions against a real review workflow (time-skipping test server, real worker and
// activities on the fixture's store): the console uses the same decide Update as
// POST /v1/reviews/{id}/decision, so its answers are the workflow validator's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestReview } from '../../../../test/support/reviews.ts';
import { newApiKey } from '../../../../shared/credentials.ts';
import type { Role } from '../../../../shared/contracts/roles.ts';
import { hashApiKey } from '../../../../shared/store/api-key-hash.ts';
import type { AppFixture } from '../../../../test/support/app-fixture.ts';
import { appWithWorker, type AppWithWorker } from '../../../../test/support/app-with-worker.ts';
import { ConsoleClient } from '../../../../test/support/console-client.ts';

let stack: AppWithWorker;
let f: AppFixture;
const keys: Record<string, string> = {};

async function addKey(name: string, role: Role, department: string) {
  keys[name] = newApiKey('key');
  await f.store.createApiKey({ name, role, department, keyHash: hashApiKey(keys[name]) });
}

const startReview = (assignee = 'dr-a') => startTestReview(f, { assignee });

async function as(name: string): Promise<ConsoleClient> {
  const c = new ConsoleClient(f.app);
  expect((await c.signIn(keys[name]!)).statusCode).toBe(303);
  return c;
}

beforeAll(async () => {
  stack = await appWithWorker('time-skipping');
  f = stack.f;
  await addKey('dr-a', 'reviewer', 'cardiology');
  await addKey('dr-b', 'reviewer', 'cardiology');
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

describe('console decisions on a real review workflow', () => {
  it('approves: the page shows the signed record bound to the version, and the audit names the reviewer', async () => {
    const id = await startReview();
    const c = await as('dr-a');
    const form = await c.decisionForm(id);
    const res = await c.post(form.action, { ...form.fields, decision: 'approve', comment: 'reviewed' });
    expect(res.statusCode, res.body).toBe(303);
    const page = await c.get(res.headers.location as string);
    expect(page.body).toContain('Your approval was recorded and signed.');
    expect(page.body).toMatch(/Signed decision record[\s\S]*dr-a[\s\S]*approval: the signer reviewed this exact artifact version[\s\S]*<code>v2<\/code>/);
    expect((await f.store.reviews.get(id))?.status).toBe('approved');
    // The workflow audits its decision in an activity, a moment after the Update answered.
    const decidedEntry = async () => (await f.store.audit.list({ workflowId: id })).find((e) => e.event === 'decided');
    for (let i = 0; i < 200 && !(await decidedEntry()); i++) await new Promise((r) => setTimeout(r, 25));
    const decided = await decidedEntry();
    expect(decided).toMatchObject({ actor: { name: 'dr-a' }, artifactVersion: 'v2' });
  });

  it('shows why a decision was refused: stale version, not authorised, already decided', async () => {
    const id = await startReview();
    const a = await as('dr-a');
    const b = await as('dr-b');

    const stale = await a.decisionForm(id);
    const staleRes = await a.post(stale.action, { ...stale.fields, artifactVersion: 'v1', decision: 'approve' });
    expect(staleRes.statusCode).toBe(409);
    expect(staleRes.body).toContain('a stale version');

    const other = await b.decisionForm(id);
    const forbidden = await b.post(other.action, { ...other.fields, decision: 'approve' });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.body).toContain('you are not authorised to decide this review');

    // Two tabs with the same review: the second decision arrives after the first.
    const first = await a.decisionForm(id);
    const second = await a.decisionForm(id);
    expect((await a.post(first.action, { ...first.fields, decision: 'approve' })).statusCode).toBe(303);
    const late = await a.post(second.action, { ...second.fields, decision: 'reject', comment: 'no' });
    expect(late.statusCode).toBe(409);
    expect(late.body).toContain('this review was already decided');

    const rejected = (await f.store.audit.list({ workflowId: id })).filter((e) => e.event === 'decision-rejected');
    expect(rejected.map((e) => [e.actor.name, e.details.status])).toEqual([
      ['dr-a', 409],
      ['dr-b', 403],
      ['dr-a', 409],
    ]);
    expect((await f.store.reviews.get(id))?.status).toBe('approved');
  });
});
