// The web console through app.inject, with a fake review workflow (the decide Update and the
// status query are stubs that record their calls): sign-in and sessions, the CSRF token, one-time
// forms, tampered fields, escaping of everything that comes from outside, and the artifact roots.
// The real decide Update is exercised in index.temporal.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newApiKey } from '../../../../shared/credentials.ts';
import type { Role } from '../../../../shared/contracts/roles.ts';
import { hashApiKey } from '../../../../shared/store/api-key-hash.ts';
import type { NewReviewTask } from '../../../../shared/store/review-inbox.ts';
import type { ReviewStatus } from '../../../../workflows/review/messages.ts';
import { appFixture, type AppFixture } from '../../../../test/support/app-fixture.ts';
import { ConsoleClient, postForms } from '../../../../test/support/console-client.ts';
import { sessionIdHash } from '../../console/sessions.ts';

const hostile = `<script>alert(1)</script><img src=x onerror="alert(2)">"'&`;
let f: AppFixture;
let roots: string;
const keys: Record<string, string> = {};
const updates: unknown[] = [];
const live = new Map<string, ReviewStatus>();

const fakeClient = {
  workflow: {
    getHandle: (id: string) => ({
      query: async () => {
        const status = live.get(id);
        if (!status) throw new Error('no such workflow');
        return status;
      },
      executeUpdate: async (_update: unknown, options: { args: unknown[] }) => {
        updates.push(options.args[0]);
        return { ...live.get(id)!, status: 'approved', decidedBy: 'dr-a', decidedAt: new Date().toISOString() };
      },
    }),
  },
} as unknown as Client;

async function addKey(name: string, role: Role, department: string) {
  keys[name] = newApiKey('key');
  await f.store.createApiKey({ name, role, department, keyHash: hashApiKey(keys[name]) });
}

let seq = 0;
async function addReview(overrides: Partial<NewReviewTask> = {}): Promise<string> {
  const id = `review-${++seq}`;
  const task: NewReviewTask = {
    id,
    department: 'cardiology',
    reviewType: 'discharge-summary',
    title: `summary ${seq}`,
    artifactUri: path.join(roots, 'summary.md'),
    artifactVersion: 'v1',
    assignee: 'group:reviewers',
    escalationContact: 'dr-chief',
    dueAt: new Date(Date.now() + 168 * 3_600_000).toISOString(),
    ...overrides,
  };
  await f.store.reviews.create(task);
  live.set(id, {
    reviewId: id,
    department: task.department,
    reviewType: task.reviewType,
    title: task.title,
    artifact: { uri: task.artifactUri, version: task.artifactVersion, summary: hostile },
    status: 'pending',
    assignee: task.assignee,
    escalationContact: task.escalationContact,
    escalationLevel: 0,
    escalations: [{ level: 1, from: hostile, to: 'dr-chief', at: new Date().toISOString() }],
    comments: [{ by: hostile, at: new Date().toISOString(), text: hostile }],
    notifications: 0,
    createdAt: new Date().toISOString(),
    dueAt: task.dueAt,
    decidedBy: null,
    decidedAt: null,
    comment: null,
  });
  return id;
}

const refusals = async () => (await f.store.audit.list({ limit: 5000 })).filter((e) => e.event === 'console-refused');

beforeAll(async () => {
  roots = mkdtempSync(path.join(tmpdir(), 'tandem-artifacts-'));
  mkdirSync(path.join(roots, 'a'));
  writeFileSync(path.join(roots, 'summary.md'), `# Summary\n\n${hostile}\n\n[click](javascript:alert(3)) <a href="x" onclick="alert(4)">y</a>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n`);
  writeFileSync(path.join(roots, 'big.txt'), 'x'.repeat(5000));
  f = await appFixture({ temporalClient: fakeClient, env: { TANDEM_CONSOLE_ARTIFACT_ROOTS: roots, TANDEM_CONSOLE_ARTIFACT_MAX_BYTES: '1000' } });
  await addKey('dr-a', 'reviewer', 'cardiology');
  await addKey('dr-onc', 'reviewer', 'oncology');
  await addKey(hostile, 'reviewer', 'cardiology');
});
afterAll(async () => {
  await f?.close();
  rmSync(roots, { recursive: true, force: true });
});
beforeEach(() => {
  updates.length = 0;
});

describe('console sign-in and sessions', () => {
  it('sends a visitor without a session to the sign-in page, whose key field is labelled', async () => {
    const res = await f.app.inject({ url: '/console/inbox' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/console/login?reason=signin');
    const login = await f.app.inject({ url: '/console/login' });
    expect(login.body).toContain('<label for="apiKey">API key</label>');
    expect(login.headers['content-security-policy']).toContain("default-src 'none'");
  });

  it('starts an httpOnly SameSite=Strict session for a valid key and refuses an unknown one, auditing both', async () => {
    const c = new ConsoleClient(f.app);
    const bad = await c.signIn('not-a-key');
    expect(bad.statusCode).toBe(401);
    expect(bad.body).toContain('unknown or revoked');
    const ok = await c.signIn(keys['dr-a']!);
    expect(ok.statusCode).toBe(303);
    const cookie = ok.cookies.find((k) => k.name === 'tandem_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
    const events = (await f.store.audit.list({ limit: 5000 })).map((e) => e.event);
    expect(events).toContain('console-signed-in');
    expect(events).toContain('console-refused');
  });

  it('refuses a sign-in post without the sign-in form’s token', async () => {
    const res = await new ConsoleClient(f.app).post('/console/login', { apiKey: keys['dr-a']! });
    expect(res.statusCode).toBe(403);
    expect(res.cookies.find((k) => k.name === 'tandem_session')).toBeUndefined();
  });

  it('ends an idle session, and a session whose key was revoked', async () => {
    const c = new ConsoleClient(f.app);
    await c.signIn(keys['dr-a']!);
    const hash = sessionIdHash(c.cookie.split('=')[1]!);
    await f.store.consoleSessions.touch(hash, new Date(Date.now() - 31 * 60_000).toISOString());
    const res = await c.get('/console/inbox');
    expect(res.headers.location).toBe('/console/login?reason=expired');
    expect(await f.store.consoleSessions.get(hash)).toBeUndefined();

    await addKey('dr-leaving', 'reviewer', 'cardiology');
    const d = new ConsoleClient(f.app);
    await d.signIn(keys['dr-leaving']!);
    const id = await addReview();
    const form = await d.decisionForm(id);
    const record = await f.store.findApiKeyByHash(hashApiKey(keys['dr-leaving']!));
    await f.store.revokeApiKey(record!.id);
    const post = await d.post(form.action, { ...form.fields, decision: 'approve' });
    expect(post.statusCode).toBe(401);
    expect(post.body).toContain('revoked');
    expect(post.body).toContain('Nothing was changed');
    expect(updates).toEqual([]);
    expect((await refusals()).at(-1)).toMatchObject({ actor: { name: 'dr-leaving' }, details: { reason: 'session revoked' } });
  });

  it('signs out: the session is gone from the store', async () => {
    const c = new ConsoleClient(f.app);
    await c.signIn(keys['dr-a']!);
    const inbox = await c.get('/console/inbox');
    const logout = postForms(inbox.body).find((form) => form.action === '/console/logout')!;
    const res = await c.post(logout.action, logout.fields);
    expect(res.headers.location).toBe('/console/login?reason=signed-out');
    expect(await f.store.consoleSessions.get(sessionIdHash(c.cookie.split('=')[1]!))).toBeUndefined();
    expect((await c.get('/console/inbox')).statusCode).toBe(303);
  });
});

describe('console inbox and review page', () => {
  it('knows the next reminder of a review on a policy of its own, from its created audit entry', async () => {
    // A 48 h review that reminds after 2 h and escalates after 6 h: not the default 7-day span.
    const id = await addReview({ title: 'custom policy', reviewType: 'custom-policy', dueAt: new Date(Date.now() + 48 * 3_600_000).toISOString() });
    await f.store.audit.append({
      actor: { kind: 'workflow', name: 'reviewWorkflow' },
      department: 'cardiology',
      subject: `review:${id}`,
      event: 'created',
      workflowId: id,
      details: { policy: { notifyAfterHours: 2, escalateAfterHours: 6, deadlineHours: 48 } },
    });
    const c = new ConsoleClient(f.app);
    await c.signIn(keys['dr-a']!);
    const page = await c.get('/console/inbox?type=custom-policy');
    expect(page.body).toMatch(/reminder in 1 h 5\d min/);
  });

  it('lists my department’s pending reviews with a count in the title, sorted and filtered, never another department’s', async () => {
    const mine = await addReview({ title: 'zz cardiology', reviewType: 'model-promotion' });
    const theirs = await addReview({ title: 'oncology only', department: 'oncology' });
    const c = new ConsoleClient(f.app);
    await c.signIn(keys['dr-a']!);
    const page = await c.get('/console/inbox?sort=title&dir=desc');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(`/console/reviews/${mine}`);
    expect(page.body).not.toContain(theirs);
    expect(page.body).toMatch(/<title>Inbox \(\d+\) · tandem console<\/title>/);
    expect(page.body).toContain('reminder in 23 h');
    const filtered = await c.get('/console/inbox?type=model-promotion');
    expect(filtered.body).toMatch(/<title>Inbox \(1\)/);
    const onc = new ConsoleClient(f.app);
    await onc.signIn(keys['dr-onc']!);
    const other = await onc.get(`/console/reviews/${mine}`);
    expect(other.statusCode).toBe(404);
    expect(other.body).not.toContain('zz cardiology');
  });

  it('never turns a hostile title, artifact, comment or reviewer name into markup', async () => {
    const id = await addReview({ title: hostile, assignee: hostile });
    const c = new ConsoleClient(f.app);
    await c.signIn(keys[hostile]!);
    for (const url of ['/console/inbox', `/console/reviews/${id}`]) {
      const page = (await c.get(url)).body;
      expect(page).not.toMatch(/<script/i);
      expect(page).not.toMatch(/<[^>]+\son\w+=/i);
      expect(page).not.toContain('javascript:');
      expect(page).toContain('&lt;script&gt;');
    }
    const review = (await c.get(`/console/reviews/${id}`)).body;
    expect(review).toContain('<h3>Summary</h3>');
    expect(review).toContain('<table>');
  });

  it('shows an evaluation gate’s metrics beside their thresholds and the previous version’s, with the failed checks', async () => {
    const id = await addReview({ reviewType: 'kb-regression', artifactUri: 'tandem://index-versions/kb/v12/evaluation', artifactVersion: 'v12' });
    live.get(id)!.artifact.summary = JSON.stringify({
      version: 'v12',
      previousVersion: 'v11',
      metrics: { 'recall@5': 0.81, mrr: 0.74 },
      previousMetrics: { 'recall@5': 0.86, mrr: 0.77 },
      passed: false,
      failures: ['recall@5 0.810 is below the threshold 0.850'],
      minimums: { 'recall@5': 0.85, mrr: 0.7 },
      regressionTolerance: 0.01,
    });
    const c = new ConsoleClient(f.app);
    await c.signIn(keys['dr-a']!);
    const page = (await c.get(`/console/reviews/${id}`)).body;
    expect(page).toContain('recall@5 0.810 is below the threshold 0.850');
    expect(page).toMatch(/<th scope="row">recall@5<\/th><td>0\.810<\/td><td>0\.850<\/td><td>0\.860<\/td><td>-0\.050<\/td>/);
    expect(page).toMatch(/<th scope="row">mrr<\/th><td>0\.740<\/td><td>0\.700<\/td><td>0\.770<\/td>/);
    expect(page).toContain('at most 0.010 below the previous version');
    expect(page).toContain('The artifact is the evaluation report above.');
  });

  it('reads artifacts only from the artifact roots, and truncates large ones with a note', async () => {
    const c = new ConsoleClient(f.app);
    await c.signIn(keys['dr-a']!);
    const cases: [string, RegExp][] = [
      ['/etc/passwd', /outside the configured artifact roots/],
      [`file://${roots}/../etc/passwd`, /parent-directory segment/],
      [`${roots}/a/%2e%2e/summary.md`, /parent-directory segment/],
      ['s3://bucket/summary.md', /not s3: URIs/],
      [`file://${roots}/big.txt`, /5,000 bytes; only the first 1,000 are shown/],
    ];
    for (const [artifactUri, message] of cases) {
      const id = await addReview({ artifactUri });
      const page = await c.get(`/console/reviews/${id}`);
      expect(page.body, artifactUri).toMatch(message);
      expect(page.body).not.toContain('root:x:0');
    }
  });
});

describe('console decision posts', () => {
  async function signedIn() {
    const c = new ConsoleClient(f.app);
    await c.signIn(keys['dr-a']!);
    return c;
  }

  it('decides through the decide Update with the session’s key as the principal', async () => {
    const c = await signedIn();
    const id = await addReview();
    const form = await c.decisionForm(id);
    const res = await c.post(form.action, { ...form.fields, decision: 'approve', comment: '' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/console/reviews/${id}?decided=approved`);
    expect(updates).toEqual([{ decision: 'approve', artifactVersion: 'v1', principal: expect.objectContaining({ name: 'dr-a', department: 'cardiology' }) }]);
  });

  it('refuses, audits and changes nothing: missing CSRF token, replayed form, extra field, another review id, duplicated field', async () => {
    const c = await signedIn();
    const id = await addReview();
    const other = await addReview();
    const attempts: [Record<string, string>, number, RegExp][] = [];
    const form = await c.decisionForm(id);
    const { _csrf: _dropped, ...withoutCsrf } = form.fields;
    attempts.push([{ ...withoutCsrf, decision: 'approve' }, 403, /security token/]);
    attempts.push([{ ...form.fields, _csrf: 'guess', decision: 'approve' }, 403, /security token/]);
    const fresh = async () => (await c.decisionForm(id)).fields;
    attempts.push([{ ...(await fresh()), decision: 'approve', reviewer: 'dr-chief' }, 400, /field it does not have \(reviewer\)/]);
    attempts.push([{ ...(await fresh()), decision: 'approve', reviewId: other }, 400, /another review/]);
    const before = (await refusals()).length;
    for (const [fields, status, message] of attempts) {
      const res = await c.post(form.action, fields);
      expect(res.statusCode, JSON.stringify(fields)).toBe(status);
      expect(res.body).toMatch(message);
      expect(res.body).toContain('Nothing was changed');
    }
    const repeated = await f.app.inject({
      method: 'POST',
      url: form.action,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: c.cookie },
      payload: `${new URLSearchParams({ ...(await fresh()), decision: 'approve' }).toString()}&decision=reject`,
    });
    expect(repeated.statusCode).toBe(400);
    expect(updates).toEqual([]);

    const once = await fresh();
    expect((await c.post(form.action, { ...once, decision: 'approve' })).statusCode).toBe(303);
    const replay = await c.post(form.action, { ...once, decision: 'approve' });
    expect(replay.statusCode).toBe(409);
    expect(replay.body).toContain('already submitted');
    expect(updates).toHaveLength(1);
    expect((await refusals()).length - before).toBe(attempts.length + 2);
    expect((await refusals()).at(-1)).toMatchObject({ actor: { kind: 'key', name: 'dr-a' }, subject: `review:${id}`, details: { reason: 'form replayed' } });
  });

  it('does not claim a decision for a crafted ?decided= link', async () => {
    const c = await signedIn();
    const id = await addReview();
    const page = await c.get(`/console/reviews/${id}?decided=approved`);
    expect(page.body).not.toContain('Your approval was recorded');
    expect(page.body).toContain('Your decision');
  });

  it('asks for a comment before a rejection, keeping nothing half done', async () => {
    const c = await signedIn();
    const id = await addReview();
    const form = await c.decisionForm(id);
    const res = await c.post(form.action, { ...form.fields, decision: 'reject', comment: '  ' });
    expect(res.statusCode).toBe(422);
    expect(res.body).toContain('a rejection needs a comment');
    expect(updates).toEqual([]);
  });

  it('refuses a post from another department’s reviewer as not found', async () => {
    const id = await addReview();
    const c = await signedIn();
    const form = await c.decisionForm(id);
    const onc = new ConsoleClient(f.app);
    await onc.signIn(keys['dr-onc']!);
    const inbox = await onc.get('/console/inbox');
    const own = postForms(inbox.body)[0]!.fields;
    const res = await onc.post(form.action, { ...form.fields, _csrf: own._csrf!, _form: 'x', decision: 'approve' });
    expect(res.statusCode).toBe(404);
    expect(updates).toEqual([]);
  });
});

describe('console pipelines and flows pages', () => {
  it('render for an engineer, saying so when Airflow or Temporal cannot be asked, and tell a reviewer they are not theirs', async () => {
    await addKey('eng', 'ai-engineer', 'cardiology');
    const c = new ConsoleClient(f.app);
    await c.signIn(keys.eng!);
    const pipelines = await c.get('/console/pipelines');
    expect(pipelines.statusCode).toBe(200);
    expect(pipelines.body).toContain('<h1>Pipelines</h1>');
    const flows = await c.get('/console/flows');
    expect(flows.statusCode).toBe(200);
    expect(flows.body).toContain('Temporal could not be asked');
    const r = new ConsoleClient(f.app);
    await r.signIn(keys['dr-a']!);
    expect((await r.get('/console/pipelines')).body).toContain('A reviewer key does not see pipelines.');
  });
});
