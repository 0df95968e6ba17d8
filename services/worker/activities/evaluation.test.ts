import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import type { GoldenQuery } from '../../../shared/contracts/index-promotion.ts';
import { activityErrorTypes } from '../../../shared/contracts/activity-errors.ts';
import { publishedIndexRetrievals, rankByQueryWords } from './evaluation.ts';

const alias = 'kb:clinical-ai:tandem__kb-eval';
// What build_index (dags/tandem_airflow/examples/kb_refresh.py) writes for alias/"v1 🚀": one `_` per
// code point outside [A-Za-z0-9._-], as its pytest asserts for the same alias and version.
const version = 'v1 🚀';
const versionDirName = path.join('kb_clinical-ai_tandem__kb-eval', 'v1__');

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'tandem-kb-index-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function publish(file: string, content: unknown): void {
  const dir = path.join(root, versionDirName);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, file), typeof content === 'string' ? content : JSON.stringify(content));
}

const cardiology = {
  index: { heart: ['heart-failure.md'], failure: ['heart-failure.md'], guideline: ['heart-failure.md'], atrial: ['atrial-fibrillation.md'] },
  titles: { 'heart-failure.md': 'Heart failure guideline', 'atrial-fibrillation.md': 'Atrial fibrillation anticoagulation' },
};
const oncology = {
  index: { guideline: ['tumour-board.md'], tumour: ['tumour-board.md'], board: ['tumour-board.md'] },
  titles: { 'tumour-board.md': 'Tumour board referral' },
};
const golden: GoldenQuery[] = [
  { id: 'hf', query: 'Heart failure guideline', expectedDocIds: ['heart-failure.md'] },
  { id: 'tb', query: 'tumour board guideline', expectedDocIds: ['tumour-board.md'] },
  { id: 'none', query: 'dermatology', expectedDocIds: ['eczema.md'] },
];

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('rankByQueryWords', () => {
  it('ranks like _search in kb_refresh.py: most query words first (repeats count), ties by name', () => {
    // The same case as test_search_ranks_like_the_worker_evaluation in dags/tests/examples/test_kb_refresh.py.
    const index = new Map(Object.entries({ heart: ['b.md', 'a.md'], failure: ['b.md', 'c.md'], guideline: ['c.md'] }));
    expect(rankByQueryWords(index, 'Heart FAILURE guideline, heart')).toEqual(['b.md', 'a.md', 'c.md']);
    expect(rankByQueryWords(index, 'nothing matches')).toEqual([]);
  });

  it('finds no document for words that are Object.prototype keys', () => {
    expect(rankByQueryWords(new Map(), 'constructor tostring')).toEqual([]);
  });
});

describe('publishedIndexRetrievals', () => {
  it('answers each golden query against every partition the refresh published for the version', async () => {
    publish('cardiology.json', cardiology);
    publish('oncology.json', oncology);
    publish('.oncology.json.4242.tmp', 'half a fil'); // a write in progress is not an index
    const retrieved = await publishedIndexRetrievals(root).retrieve(alias, version, golden);
    expect(retrieved).toEqual({
      hf: ['heart-failure.md', 'tumour-board.md'],
      tb: ['tumour-board.md', 'heart-failure.md'],
      none: [],
    });
  });

  it('prefers the retrievals.json a refresh with its own retriever wrote', async () => {
    publish('cardiology.json', cardiology);
    publish('retrievals.json', { hf: ['atrial-fibrillation.md'] });
    expect(await publishedIndexRetrievals(root).retrieve(alias, version, golden)).toEqual({ hf: ['atrial-fibrillation.md'] });
  });

  it('a version the refresh published nothing for fails non-retryably, saying where it looked', async () => {
    const failure = await failureOf(publishedIndexRetrievals(root).retrieve(alias, 'v9', golden));
    expect(failure).toMatchObject({ type: activityErrorTypes.evaluation.retrievalsMissing, nonRetryable: true });
    expect(failure.message).toContain(path.join(root, 'kb_clinical-ai_tandem__kb-eval', 'v9'));
    expect(failure.message).toContain('skip its partitions');
  });

  it('an index that is not JSON or not a keyword index fails non-retryably with the file', async () => {
    publish('cardiology.json', '{"index": ');
    let failure = await failureOf(publishedIndexRetrievals(root).retrieve(alias, version, golden));
    expect(failure).toMatchObject({ type: activityErrorTypes.evaluation.retrievalsMissing, nonRetryable: true });
    expect(failure.message).toContain(path.join(root, versionDirName, 'cardiology.json'));

    publish('cardiology.json', { index: { heart: 'heart-failure.md' } });
    failure = await failureOf(publishedIndexRetrievals(root).retrieve(alias, version, golden));
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/cardiology\.json is not a keyword index .*index\.heart/);
  });
});
