/**
 * `npm run screenshots`: the README's pictures of the console — inbox, a review page, the
 * pipelines page's partition grid — taken in headless Chromium from a real stack, written to
 * docs/screenshots/*.png.
 *
 * By default it boots a stack of its own (temporary state dir, free ports) and stops it after;
 * `--reuse` uses the stack `npm start` runs (the configured state dir and its credentials).
 * Either way it applies the discharge-summaries example without its schedule, runs it three
 * times for cardiology (the last one waits on a physician hand-off review) and starts two more reviews with Markdown
 * artifacts, as a reviewer key `dr-lee` of clinical-ai (the reviews of the first two runs are
 * approved, so the grid shows ran, skipped and waiting).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, statePaths } from '../../shared/config.ts';
import { readCredentials } from '../../shared/credentials.ts';
import { isolatedStackEnv } from '../../test/support/free-ports.ts';
import { launchChromium } from './chromium.ts';
import { exampleSpec, writeExampleDocuments } from './example-pipeline.ts';
import { repoRoot } from '../../shared/config.ts';
import { startStack, type StackHandle } from './stack.ts';

const say = (line: string) => console.log(`[screenshots] ${line}`);
const outDir = path.join(repoRoot, 'docs', 'screenshots');

async function call(base: string, key: string, method: string, route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main(): Promise<void> {
  const reuse = process.argv.includes('--reuse');
  let stack: StackHandle | undefined;
  let tempDir: string | undefined;
  if (!reuse) {
    tempDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-screenshots-'));
    Object.assign(process.env, await isolatedStackEnv(tempDir), { TANDEM_LOG_LEVEL: 'warn' });
  }
  const config = loadConfig();
  try {
    if (!reuse) stack = await startStack(config, say);
    const base = config.api.url;
    const admin = readCredentials(statePaths(config.stateDir).credentials).adminApiKey;
    const ready = await fetch(`${base}/readyz`).catch(() => undefined);
    if (!ready?.ok) throw new Error(`the stack at ${base} is not ready${reuse ? ' (is `npm start` running?)' : ''}`);

    const dataDir = writeExampleDocuments(config.stateDir, 'discharge-summaries');
    const { schedule: _schedule, ...spec } = exampleSpec(dataDir, 'discharge-summaries');
    const applied = await call(base, admin, 'POST', '/v1/pipelines', spec);
    if (applied.status >= 300) throw new Error(`applying the example failed: ${JSON.stringify(applied.json)}`);
    const key = await call(base, admin, 'POST', '/v1/api-keys', { name: 'dr-lee', role: 'reviewer', department: 'clinical-ai' });
    if (key.status !== 201) throw new Error(`creating the reviewer key failed: ${JSON.stringify(key.json)}`);
    const reviewerKey = key.json.key as string;

    // Three runs, so the grid has columns to compare: cardiology forced and approved (ran), then an
    // unforced run (cardiology unchanged: skipped; oncology new: approved, ran), then a forced
    // cardiology run left waiting on its review.
    const startRun = async (body: Record<string, unknown>) => {
      const run = await call(base, admin, 'POST', '/v1/pipelines/discharge-summaries/runs', body);
      if (run.status !== 201) throw new Error(`starting a run failed: ${JSON.stringify(run.json)}`);
      return (run.json.runs as { runId: string }[])[0]!.runId;
    };
    const reviewOf = (runId: string) =>
      until(`the hand-off review of ${runId}`, async () => {
        const res = await call(base, admin, 'GET', '/v1/reviews?status=pending');
        return (res.json.reviews as { id: string; artifactVersion: string }[]).find((r) => r.artifactVersion === `${runId}/cardiology`);
      });
    // Waits for a run to end, approving (as dr-lee) each review it hands off on the way.
    const approvedRun = (runId: string) =>
      until(`run ${runId} to end`, async () => {
        const pending = await call(base, admin, 'GET', '/v1/reviews?status=pending');
        for (const r of pending.json.reviews as { id: string; artifactVersion: string }[]) {
          if (!r.artifactVersion.startsWith(`${runId}/`)) continue;
          const decided = await call(base, reviewerKey, 'POST', `/v1/reviews/${encodeURIComponent(r.id)}/decision`, { decision: 'approve', artifactVersion: r.artifactVersion, comment: 'Doses match the chart.' });
          if (decided.status !== 200) throw new Error(`approving ${r.id} failed: ${JSON.stringify(decided.json)}`);
        }
        const res = await call(base, admin, 'GET', '/v1/pipelines/discharge-summaries/runs?limit=10');
        const state = (res.json.runs as { runId: string; state: string }[]).find((r) => r.runId === runId)?.state;
        return state === 'success' || state === 'failed' ? state : undefined;
      }, 240_000);
    await approvedRun(await startRun({ partitions: ['cardiology'], force: true }));
    await approvedRun(await startRun({}));
    const runId = await startRun({ partitions: ['cardiology'], force: true });
    const artifacts = path.join(config.stateDir, 'examples', 'screenshots');
    mkdirSync(artifacts, { recursive: true });
    const extra = [
      { reviewType: 'kb-regression', title: 'Guidelines index v12 scores below v11 on recall@5', file: 'kb-v12.md', text: '# Guidelines index v12\n\n| metric | v12 | v11 | threshold |\n|---|---|---|---|\n| recall@5 | 0.81 | 0.86 | 0.85 |\n| MRR | 0.74 | 0.77 | 0.70 |\n\nThree cardiology documents lost their top-5 hits after the re-chunking.\n' },
      { reviewType: 'model-promotion', title: 'Promote triage-classifier 2.3 to production', file: 'triage-2.3.md', text: '# triage-classifier 2.3\n\n- F1 0.912 (2.2: 0.897)\n- latency p95 41 ms\n\nTrained on the November snapshot; no schema change.\n' },
    ];
    for (const r of extra) {
      writeFileSync(path.join(artifacts, r.file), r.text);
      await call(base, admin, 'POST', '/v1/workflows', {
        type: 'review.request',
        input: { department: 'clinical-ai', reviewType: r.reviewType, title: r.title, artifact: { uri: `file://${path.join(artifacts, r.file)}`, version: 'v1' }, assignee: 'group:reviewers', escalationContact: 'chief-physician' },
      });
    }
    const review = await reviewOf(runId);

    const browser = await launchChromium();
    try {
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 820 } })).newPage();
      await page.goto(`${base}/console/login`);
      await page.getByLabel('API key').fill(reviewerKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/console\/inbox/);
      mkdirSync(outDir, { recursive: true });
      await page.setViewportSize({ width: 1280, height: 560 });
      await page.screenshot({ path: path.join(outDir, 'inbox.png') });
      say('docs/screenshots/inbox.png');
      await page.setViewportSize({ width: 1280, height: 820 });
      await page.goto(`${base}/console/reviews/${encodeURIComponent(review.id)}`);
      await page.screenshot({ path: path.join(outDir, 'review.png'), fullPage: true });
      say('docs/screenshots/review.png');
      const admins = await (await browser.newContext({ viewport: { width: 1280, height: 820 } })).newPage();
      await admins.goto(`${base}/console/login`);
      await admins.getByLabel('API key').fill(admin);
      await admins.getByRole('button', { name: 'Sign in' }).click();
      await admins.waitForURL(/\/console\/inbox/);
      await admins.goto(`${base}/console/pipelines`);
      await admins.screenshot({ path: path.join(outDir, 'pipelines.png'), fullPage: true });
      say('docs/screenshots/pipelines.png');
    } finally {
      await browser.close();
    }
  } finally {
    await stack?.stop();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`[screenshots] ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
