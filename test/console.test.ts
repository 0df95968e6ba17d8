// The web console in a real browser (headless Debian chromium through playwright-core) against
// the real stack: a pipeline hand-off's review, decided by a reviewer who signs in to the console;
// Airflow's task resumes. Every page visited also passes an axe-core check (no serious or critical
// violation). The sign-in and approval run with JavaScript off, as the console promises.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { exampleSpec, writeExampleDocuments } from '../deploy/dev/example-pipeline.ts';
import { AirflowClient } from '../services/airflow/client.ts';
import { api, eventually } from './support/api-client.ts';
import { launchChromium, seriousA11yViolations } from './support/browser.ts';

const stack = inject('stack');
const admin = stack.adminKey;
const pipelineId = 'discharge-summaries';
const dagId = `tandem__${pipelineId}`;
const airflow = new AirflowClient({ baseUrl: stack.airflowUrl, username: stack.airflowUser, password: stack.airflowPassword });
const keys: Record<string, string> = {};
let browser: Browser;
const contexts: BrowserContext[] = [];

async function newKey(name: string, department: string): Promise<string> {
  const res = await api<any>(stack.apiUrl, 'POST', '/v1/api-keys', { key: admin, body: { name, role: 'reviewer', department } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.key;
}

async function runFor(partition: string): Promise<string> {
  const res = await api<any>(stack.apiUrl, 'POST', `/v1/pipelines/${pipelineId}/runs`, { key: admin, body: { partitions: [partition], force: true } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.runs[0].runId;
}

const taskState = async (runId: string, taskId: string) => (await airflow.getTaskInstance(dagId, runId, taskId).catch(() => undefined))?.state;
const untilTaskState = (runId: string, taskId: string, states: string[], timeoutMs = 120_000) =>
  eventually(async () => {
    const state = await taskState(runId, taskId);
    return state && states.includes(state) ? state : undefined;
  }, timeoutMs, `${taskId} of ${runId} to be ${states.join(' or ')}`);

async function pendingReview(runId: string, partition: string): Promise<{ id: string; title: string; artifactVersion: string }> {
  return eventually(async () => {
    // Every page: other files sharing the stack leave pending reviews of their own.
    for (let url: string | null = '/v1/reviews?status=pending&limit=1000'; url; ) {
      const res: { body: { reviews: any[]; next: string | null } } = await api<any>(stack.apiUrl, 'GET', url, { key: admin });
      const found = res.body.reviews.find((r: any) => r.artifactVersion === `${runId}/${partition}`);
      if (found) return found;
      url = res.body.next;
    }
    return undefined;
  }, 90_000, `the review of ${partition} in ${runId}`);
}

async function signedIn(name: string, options: { javaScriptEnabled?: boolean } = {}): Promise<Page> {
  const context = await browser.newContext({ javaScriptEnabled: options.javaScriptEnabled ?? true });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${stack.apiUrl}/console/login`);
  await page.getByLabel('API key').fill(keys[name]!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/console\/inbox/);
  return page;
}

async function expectAccessible(page: Page) {
  expect(await seriousA11yViolations(page), page.url()).toEqual([]);
}

const auditOf = async (reviewId: string) =>
  (await api<any>(stack.apiUrl, 'GET', `/v1/audit?workflowId=${encodeURIComponent(reviewId)}`, { key: admin })).body.entries as any[];

beforeAll(async () => {
  const dataDir = writeExampleDocuments(stack.stateDir, pipelineId);
  // Without its schedule: unpausing a scheduled DAG starts a run at once, racing the test's runs.
  const { schedule: _schedule, ...spec } = exampleSpec(dataDir, pipelineId);
  const applied = await api<any>(stack.apiUrl, 'POST', '/v1/pipelines', { key: admin, body: spec });
  expect([200, 201], JSON.stringify(applied.body)).toContain(applied.status);
  keys['dr-console'] = await newKey('dr-console', 'clinical-ai');
  keys['dr-elsewhere'] = await newKey('dr-elsewhere', 'radiology');
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  for (const context of contexts) await context.close();
  await browser?.close();
});

describe('the web console in a browser', () => {
  let approved: { id: string; title: string; runId: string };
  let oncologyRun: string;

  it('a reviewer signs in with JavaScript off, sees the hand-off’s review, approves it; Airflow’s task succeeds and the audit names the reviewer', async () => {
    const runId = await runFor('cardiology');
    await untilTaskState(runId, 'cardiology.physician_review', ['awaiting_input']);
    const review = await pendingReview(runId, 'cardiology');
    approved = { ...review, runId };

    const page = await signedIn('dr-console', { javaScriptEnabled: false });
    await expect.poll(() => page.title()).toMatch(/^Inbox \(\d+\)/);
    // By its id: other files sharing the stack run the same example pipeline, with the same titles.
    await page.locator(`a[href="/console/reviews/${encodeURIComponent(review.id)}"]`).click();
    await page.waitForURL(/\/console\/reviews\//);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(review.title);
    expect(await page.locator('.artifact').count()).toBe(1);
    expect(await page.locator('.artifact').textContent()).toContain('cardiology');
    await page.getByLabel('Comment (required to reject)').fill('checked every bed');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(/decided=approved/);
    expect(await page.getByRole('status').first().textContent()).toContain('Your approval was recorded and signed.');
    const record = await page.locator('.record').textContent();
    expect(record).toContain('dr-console');
    expect(record).toContain(review.artifactVersion);

    expect(await untilTaskState(runId, 'cardiology.physician_review', ['success', 'failed'], 90_000)).toBe('success');
    const decided = (await auditOf(review.id)).filter((e) => e.event === 'decided');
    expect(decided).toHaveLength(1);
    expect(decided[0]).toMatchObject({ actor: { name: 'dr-console' }, artifactVersion: review.artifactVersion });
  });

  it('every page passes axe (sign-in, inbox, review page, pipelines, flows), and sign-in works from the keyboard', async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${stack.apiUrl}/console/login`);
    await expectAccessible(page);
    // Keyboard only: the skip link first, then the key field; Enter signs in.
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Skip to content');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.id')).toBe('apiKey');
    await page.keyboard.type(keys['dr-console']!);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/console\/inbox/);
    const signed = await signedIn('dr-console');
    await expectAccessible(signed);
    await signed.goto(`${stack.apiUrl}/console/reviews/${encodeURIComponent(approved.id)}`);
    await expectAccessible(signed);
    // The operator pages, as a key that may see pipelines and flows.
    keys.admin = admin;
    const operator = await signedIn('admin');
    await operator.goto(`${stack.apiUrl}/console/pipelines`);
    expect(await operator.locator('table.grid').count()).toBeGreaterThan(0);
    await expectAccessible(operator);
    await operator.goto(`${stack.apiUrl}/console/flows`);
    expect(await operator.content()).toContain(encodeURIComponent(approved.id));
    await expectAccessible(operator);
  });

  it('a reviewer of another department neither sees the review nor opens its URL', async () => {
    const runId = await runFor('oncology');
    oncologyRun = runId;
    const review = await pendingReview(runId, 'oncology');
    const page = await signedIn('dr-elsewhere');
    expect(await page.content()).not.toContain(review.title);
    const res = await page.goto(`${stack.apiUrl}/console/reviews/${encodeURIComponent(review.id)}`);
    expect(res?.status()).toBe(404);
    expect(await page.content()).not.toContain(review.title);
    await expectAccessible(page);
  });

  it('a stale version shows the error, and a double submit decides once', async () => {
    const runId = oncologyRun;
    const review = await pendingReview(runId, 'oncology');
    const page = await signedIn('dr-console');
    await page.goto(`${stack.apiUrl}/console/reviews/${encodeURIComponent(review.id)}`);
    // Page scripts as strings: the test code is compiled without the DOM's types.
    await page.evaluate(`document.querySelector('input[name="artifactVersion"]').value = 'an-older-version'`);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.waitForLoadState();
    expect(await page.getByRole('alert').textContent()).toContain('a stale version');
    await expectAccessible(page);

    // A double submit: the same form posted twice at once (a double click, a flaky network's
    // resend). The form's one-time id lets exactly one through.
    await page.goto(`${stack.apiUrl}/console/reviews/${encodeURIComponent(review.id)}`);
    const fields = (await page.evaluate(
      `Object.fromEntries(new FormData(document.querySelector('form[action$="/decision"]')))`,
    )) as Record<string, string>;
    const action = `${stack.apiUrl}/console/reviews/${encodeURIComponent(review.id)}/decision`;
    const post = () => page.request.post(action, { form: { ...fields, decision: 'approve' }, maxRedirects: 0 });
    const answers = await Promise.all([post(), post()]);
    expect(answers.map((a) => a.status()).sort()).toEqual([303, 409]);
    expect(await answers.find((a) => a.status() === 409)!.text()).toContain('already submitted');
    await untilTaskState(runId, 'oncology.physician_review', ['success', 'failed'], 90_000);
    const trail = await auditOf(review.id);
    expect(trail.filter((e) => e.event === 'decided')).toHaveLength(1);
    expect(await taskState(runId, 'oncology.physician_review')).toBe('success');
  });
});
