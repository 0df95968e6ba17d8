// kb.refresh on the real stack: the worker triggers the example refresh DAG (a copy of the
// kb-refresh example under another id), the DAG's build_index publishes the partition's keyword
// index under <stateDir>/kb-index/<alias>/<version>/, the worker's evaluation answers the golden
// queries against it, and the alias switches — or, on a regression, a review.request child decides.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { exampleSpec, writeExampleDocuments } from '../deploy/dev/example-pipeline.ts';
import { statePaths } from '../shared/config.ts';
import { kbAliasOf } from '../shared/contracts/aliases.ts';
import { SqliteIndexAliases } from '../shared/store/sqlite/index-aliases.ts';
import { api, eventually, workflowFinished } from './support/api-client.ts';

const stack = inject('stack');
// Not `kb-refresh`: test/pipelines.test.ts creates (and deletes) that one.
const pipelineId = 'kb-eval';
const dagId = `tandem__${pipelineId}`;
const department = 'clinical-ai';
const alias = kbAliasOf(department, dagId);
const publishedDir = (version: string) => path.join(stack.stateDir, 'kb-index', 'kb_clinical-ai_tandem__kb-eval', version);
// Its own copy of the example documents: this test edits one between refreshes, and
// test/pipelines.test.ts counts which partitions of the shared copy run.
const dataDir = writeExampleDocuments(path.join(stack.stateDir, pipelineId));
const suffix = randomUUID().slice(0, 8);
const reviewerName = `kb-reviewer-${suffix}`;
let engineerKey: string;
let reviewerKey: string;

/** The API's store, read-only: no route lists aliases, and the alias is what readers resolve. */
function aliasesInStore<T>(read: (aliases: SqliteIndexAliases) => Promise<T>): Promise<T> {
  const db = new DatabaseSync(statePaths(stack.stateDir).store, { readOnly: true });
  return read(new SqliteIndexAliases(db, () => new Date())).finally(() => db.close());
}

async function createKey(name: string, role: string): Promise<string> {
  const res = await api<any>(stack.apiUrl, 'POST', '/v1/api-keys', { key: stack.adminKey, body: { name, role, department } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.key as string;
}

async function startRefresh(newVersion: string, goldenSet: { id: string; query: string; expectedDocIds: string[] }[]): Promise<string> {
  const res = await api<any>(stack.apiUrl, 'POST', '/v1/workflows', {
    key: engineerKey,
    body: {
      type: 'kb.refresh',
      input: {
        department,
        dagId,
        partitions: ['cardiology'],
        newVersion,
        goldenSet,
        thresholds: { k: 3, minRecallAtK: 0.5 },
        review: { assignee: reviewerName, escalationContact: 'kb-lead' },
      },
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.workflowId as string;
}

const finished = (workflowId: string) => workflowFinished(stack.apiUrl, engineerKey, workflowId, 240_000);

beforeAll(async () => {
  // The example without its nightly schedule: unpausing a scheduled DAG starts a run at once.
  const { schedule: _schedule, ...example } = exampleSpec(dataDir);
  const applied = await api<any>(stack.apiUrl, 'POST', '/v1/pipelines', { key: stack.adminKey, body: { ...example, id: pipelineId } });
  expect(applied.status, JSON.stringify(applied.body)).toBe(201);
  expect(applied.body.pipeline).toMatchObject({ id: pipelineId, status: 'deployed', dagId });
  engineerKey = await createKey(`kb-eng-${suffix}`, 'ai-engineer');
  reviewerKey = await createKey(reviewerName, 'reviewer');
}, 180_000);

afterAll(async () => {
  await api(stack.apiUrl, 'DELETE', `/v1/pipelines/${pipelineId}`, { key: stack.adminKey });
});

describe('kb.refresh: Airflow builds and publishes the index, the worker evaluates it, the alias follows', () => {
  it('v1 answers its golden queries: promoted, the alias points at v1', async () => {
    const workflowId = await startRefresh('v1', [
      { id: 'hf', query: 'Heart failure guideline', expectedDocIds: ['heart-failure.md'] },
      { id: 'af', query: 'Atrial fibrillation anticoagulation', expectedDocIds: ['atrial-fibrillation.md'] },
    ]);
    const done = await finished(workflowId);
    expect(done.status, JSON.stringify(done)).toBe('completed');
    expect(done.result).toMatchObject({
      outcome: 'promoted',
      alias,
      aliasVersion: 'v1',
      review: null,
      evaluation: { version: 'v1', previousVersion: null, passed: true, failures: [], metrics: { 'recall@3': 1, mrr: 1 } },
    });

    // What the worker evaluated is what the DAG run published: the cardiology partition, only.
    const published = JSON.parse(readFileSync(path.join(publishedDir('v1'), 'cardiology.json'), 'utf8'));
    expect(Object.keys(published.titles).sort()).toEqual(['atrial-fibrillation.md', 'heart-failure.md']);
    expect(existsSync(path.join(publishedDir('v1'), 'oncology.json'))).toBe(false);
    expect(await aliasesInStore((a) => a.get(alias))).toMatchObject({ version: 'v1' });
  }, 300_000);

  it('v2 regresses: a review.request child waits for the reviewer; rejected, the alias stays at v1', async () => {
    // A changed document: the partition's sources changed, so the DAG rebuilds (and publishes) it.
    appendFileSync(path.join(dataDir, 'cardiology', 'heart-failure.md'), `Reviewed ${new Date().toISOString()}.\n`);
    const workflowId = await startRefresh('v2', [
      { id: 'hf-2019', query: 'Heart failure guideline', expectedDocIds: ['heart-failure-2019.md'] },
    ]);
    const reviewId = `${workflowId}/review`;

    const pending = await eventually(
      async () => {
        const res = await api<any>(stack.apiUrl, 'GET', '/v1/reviews?assignedToMe=true&status=pending', { key: reviewerKey });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        return res.body.reviews.find((r: { id: string }) => r.id === reviewId);
      },
      240_000,
      'the regression review in the reviewer’s inbox',
    );
    expect(pending).toMatchObject({ department, assignee: reviewerName, artifactVersion: 'v2', reviewType: 'kb-regression' });
    expect(existsSync(path.join(publishedDir('v2'), 'cardiology.json'))).toBe(true);

    const decided = await api<any>(stack.apiUrl, 'POST', `/v1/reviews/${encodeURIComponent(reviewId)}/decision`, {
      key: reviewerKey,
      body: { decision: 'reject', artifactVersion: 'v2', comment: 'recall@3 dropped to 0' },
    });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    expect(decided.body).toMatchObject({ accepted: true, review: { status: 'rejected', decidedBy: reviewerName } });

    const done = await finished(workflowId);
    expect(done.status, JSON.stringify(done)).toBe('completed');
    expect(done.result).toMatchObject({
      outcome: 'not-promoted',
      alias,
      aliasVersion: 'v1',
      evaluation: { version: 'v2', previousVersion: 'v1', passed: false, metrics: { 'recall@3': 0, mrr: 0 }, previousMetrics: { 'recall@3': 1, mrr: 1 } },
      review: { outcome: 'rejected', decidedBy: reviewerName, artifactVersion: 'v2' },
    });
    expect(done.result.evaluation.failures.length).toBeGreaterThan(0);
    expect(await aliasesInStore((a) => a.get(alias))).toMatchObject({ version: 'v1' });
    expect((await aliasesInStore((a) => a.history(alias))).map((h) => h.version)).toEqual(['v1']);
  }, 300_000);
});
