// kb.refresh and model.promote on the time-skipping test server: the real airflow activities
// against a fake Airflow HTTP server, the real evaluation activities on a temp SQLite store
// reading retrievals files, and the real review.request child (decided through its update).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { AirflowClient } from '../../services/airflow/client.ts';
import { createAirflowActivities } from '../../services/worker/activities/airflow.ts';
import { createDeployActivities, type DeployModelInput } from '../../services/worker/activities/deploy.ts';
import { createEvaluationActivities, jsonFileRetrievals } from '../../services/worker/activities/evaluation.ts';
import { createActivities } from '../../services/worker/activities/index.ts';
import { prebuildWorkflowBundle } from '../../services/worker/bundle.ts';
import { historyToJsonValue } from '../../services/worker/history-json.ts';
import { historiesDir, historyFileName } from '../../services/worker/record-history.ts';
import { kbAliasOf, modelAliasOf } from '../../shared/contracts/aliases.ts';
import { kbRefreshInputSchema, modelPromotionInputSchema, type KbRefreshInput, type ModelPromotionInput } from '../../shared/contracts/index-promotion.ts';
import type { Principal } from '../../shared/contracts/principal.ts';
import { openSqliteStore, type SqliteStore } from '../../shared/store/sqlite-store.ts';
import { startFakeAirflow, type FakeAirflow } from '../../test/support/fake-airflow.ts';
import { createTimeSkippingEnv } from '../../test/support/temporal-test-env.ts';
import { activityErrorTypes } from '../../shared/contracts/activity-errors.ts';
import { decideUpdate } from '../review/messages.ts';
import { modelPromotionWorkflow } from '../model-promotion/workflow.ts';
import { dagRunIdOf, kbRefreshWorkflow } from './workflow.ts';

let env: TestWorkflowEnvironment;
let dir: string;
let store: SqliteStore;
let airflow: FakeAirflow;
let worker: Worker;
let running: Promise<void>;
const deploys: DeployModelInput[] = [];
const taskQueue = `kb-refresh-test-${randomUUID()}`;

const reviewer: Principal = { keyId: 'k-rev', name: 'dr-rev', role: 'reviewer', department: 'cardiology' };
const goldenSet = [
  { id: 'q1', query: 'dose of X', expectedDocIds: ['d1'] },
  { id: 'q2', query: 'contraindications of Y', expectedDocIds: ['d2', 'd3'] },
];
// recall@2 = 1, MRR = 1
const good = { q1: ['d1', 'x'], q2: ['d2', 'd3'] };
// recall@2 = (1 + 1/2) / 2 = 0.75, MRR = (1/2 + 1) / 2 = 0.75
const worse = { q1: ['x', 'd1'], q2: ['d2', 'y'] };

function writeRetrievals(alias: string, version: string, retrievals: Record<string, string[]>): void {
  const d = path.join(dir, 'kb-index', alias.replace(/[^A-Za-z0-9._-]/g, '_'), version);
  mkdirSync(d, { recursive: true });
  writeFileSync(path.join(d, 'retrievals.json'), JSON.stringify(retrievals));
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tandem-kb-refresh-'));
  store = openSqliteStore(path.join(dir, 'tandem.db'));
  airflow = await startFakeAirflow();
  let codePath: string;
  [env, { codePath }] = await Promise.all([createTimeSkippingEnv(), prebuildWorkflowBundle()]);
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath },
    activities: {
      ...createActivities({ store, config: { notify: {} } }),
      ...createAirflowActivities({ client: () => new AirflowClient({ baseUrl: airflow.url, username: 'u', password: 'p' }) }),
      ...createEvaluationActivities({ aliases: store.indexAliases, retrievals: jsonFileRetrievals(path.join(dir, 'kb-index')) }),
      ...createDeployActivities(async (input) => {
        deploys.push(input);
        if (input.model === 'broken') {
          throw ApplicationFailure.create({ type: activityErrorTypes.deploy.failed, message: 'serving rejected the model', nonRetryable: true });
        }
      }),
    },
  });
  running = worker.run();
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await airflow?.close();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const thresholds = { k: 2, minRecallAtK: 0.5, minMrr: 0.5, regressionTolerance: 0.01 };

function kbInput(dagId: string, newVersion: string): KbRefreshInput {
  return kbRefreshInputSchema.parse({
    department: 'cardiology',
    dagId,
    partitions: ['2026-11-01'],
    newVersion,
    goldenSet,
    thresholds,
    review: { assignee: 'dr-rev', escalationContact: 'dr-chief' },
  });
}

/** The alias already serves v1 with perfect metrics; v2 is worse. */
async function seedRegression(alias: string): Promise<void> {
  await store.indexAliases.switchTo(alias, 'v1', { reason: 'seed', actor: 'test' });
  await store.indexAliases.recordMetrics(alias, 'v1', { 'recall@2': 1, mrr: 1 });
  writeRetrievals(alias, 'v2', worse);
}

/**
 * `TANDEM_RECORD_HISTORIES=1 vitest run workflows/kb-refresh/workflow.temporal.test.ts` (re)records the
 * replay fixtures of these flows from this test's executions (no codec here: plaintext already).
 */
async function recordIfAsked(family: string, workflowId: string): Promise<void> {
  if (process.env.TANDEM_RECORD_HISTORIES !== '1') return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  mkdirSync(path.join(historiesDir, family), { recursive: true });
  writeFileSync(path.join(historiesDir, family, historyFileName(workflowId)), `${JSON.stringify(historyToJsonValue(history), null, 2)}\n`);
}

async function decideChild(parentId: string, decision: 'approve' | 'reject', version = 'v2') {
  const childId = `${parentId}/review`;
  for (let i = 0; i < 400 && !(await store.reviews.get(childId)); i++) await new Promise((r) => setTimeout(r, 25));
  expect(await store.reviews.get(childId)).toMatchObject({ reviewType: expect.any(String), artifactVersion: version, status: 'pending' });
  await env.client.workflow
    .getHandle(childId)
    .executeUpdate(decideUpdate, {
      args: [decision === 'reject' ? { decision, artifactVersion: version, principal: reviewer, comment: 'recall dropped' } : { decision, artifactVersion: version, principal: reviewer }],
    });
}

describe('kbRefreshWorkflow', () => {
  it('pass: triggers the DAG run with a deterministic run id, evaluates, promotes', async () => {
    const dagId = `kb-pass-${randomUUID().slice(0, 8)}`;
    const alias = kbAliasOf('cardiology', dagId);
    writeRetrievals(alias, 'v1', good);
    const workflowId = `kb-${randomUUID()}`;
    const result = await env.client.workflow.execute(kbRefreshWorkflow, { taskQueue, workflowId, args: [kbInput(dagId, 'v1')] });
    expect(result).toMatchObject({ outcome: 'promoted', alias, aliasVersion: 'v1', dagRunId: dagRunIdOf(workflowId), review: null });
    expect(result.evaluation).toMatchObject({ passed: true, metrics: { 'recall@2': 1, mrr: 1 }, previousVersion: null });
    expect(airflow.runs.get(`${dagId}/${dagRunIdOf(workflowId)}`)).toMatchObject({ newVersion: 'v1', partitions: ['2026-11-01'], force: true });
    expect(await store.indexAliases.get(alias)).toMatchObject({ version: 'v1' });
    expect(await store.indexAliases.history(alias)).toEqual([expect.objectContaining({ version: 'v1', previousVersion: null, actor: workflowId })]);
    expect(await store.reviews.get(`${workflowId}/review`)).toBeUndefined();
  });

  it('regression, review rejected: not promoted, the alias keeps the old version', async () => {
    const dagId = `kb-rej-${randomUUID().slice(0, 8)}`;
    const alias = kbAliasOf('cardiology', dagId);
    await seedRegression(alias);
    const workflowId = `kb-${randomUUID()}`;
    const handle = await env.client.workflow.start(kbRefreshWorkflow, { taskQueue, workflowId, args: [kbInput(dagId, 'v2')] });
    await decideChild(workflowId, 'reject');
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'not-promoted', aliasVersion: 'v1', review: { outcome: 'rejected', decidedBy: 'dr-rev' } });
    expect(result.evaluation).toMatchObject({ passed: false, previousVersion: 'v1', metrics: { 'recall@2': 0.75, mrr: 0.75 } });
    expect(result.evaluation.failures).toHaveLength(2);
    expect(await store.indexAliases.get(alias)).toMatchObject({ version: 'v1' });
    const task = await store.reviews.get(`${workflowId}/review`);
    expect(task).toMatchObject({ reviewType: 'kb-regression', status: 'rejected' });
  });

  it('regression, review approved: promoted', async () => {
    const dagId = `kb-app-${randomUUID().slice(0, 8)}`;
    const alias = kbAliasOf('cardiology', dagId);
    await seedRegression(alias);
    const workflowId = `kb-refresh-regression-approved-${randomUUID().slice(0, 8)}`;
    const handle = await env.client.workflow.start(kbRefreshWorkflow, { taskQueue, workflowId, args: [kbInput(dagId, 'v2')] });
    await decideChild(workflowId, 'approve');
    expect(await handle.result()).toMatchObject({ outcome: 'promoted', aliasVersion: 'v2', review: { outcome: 'approved' } });
    await recordIfAsked('kb', workflowId);
    expect((await store.indexAliases.history(alias)).map((h) => [h.previousVersion, h.version])).toEqual([
      [null, 'v1'],
      ['v1', 'v2'],
    ]);
  });

  it('Airflow run failed: the workflow fails with the failed task log excerpt, nothing promoted', async () => {
    const dagId = `kb-fail-${randomUUID().slice(0, 8)}`;
    airflow.outcomes[dagId] = { state: 'failed', failedTask: 'embed_chunks', log: ['Traceback (most recent call last):', 'ValueError: chunk 17 has no text'] };
    const workflowId = `kb-${randomUUID()}`;
    const err = await env.client.workflow
      .execute(kbRefreshWorkflow, { taskQueue, workflowId, args: [kbInput(dagId, 'v1')] })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const failure = (err as WorkflowFailedError).cause?.cause as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe(activityErrorTypes.airflow.dagRunFailed);
    expect(failure.message).toContain('embed_chunks');
    expect(failure.message).toContain('ValueError: chunk 17 has no text');
    expect(await store.indexAliases.get(kbAliasOf('cardiology', dagId))).toBeUndefined();
  });
});

describe('modelPromotionWorkflow', () => {
  function modelInput(model: string): ModelPromotionInput {
    return modelPromotionInputSchema.parse({
      department: 'cardiology',
      model,
      newVersion: 'v2',
      goldenSet,
      thresholds,
      review: { assignee: 'dr-rev', escalationContact: 'dr-chief' },
    });
  }

  it('approved and deployed: the alias serves the new version', async () => {
    const alias = modelAliasOf('cardiology', 'ranker');
    await store.indexAliases.switchTo(alias, 'v1', { reason: 'seed', actor: 'test' });
    writeRetrievals(alias, 'v2', good);
    const workflowId = `model-${randomUUID()}`;
    const handle = await env.client.workflow.start(modelPromotionWorkflow, { taskQueue, workflowId, args: [modelInput('ranker')] });
    await decideChild(workflowId, 'approve');
    expect(await handle.result()).toMatchObject({ outcome: 'deployed', aliasVersion: 'v2', deployError: null });
    expect(deploys).toContainEqual({ department: 'cardiology', model: 'ranker', alias, version: 'v2' });
    expect(await store.indexAliases.get(alias)).toMatchObject({ version: 'v2' });
  });

  it('deploy fails: the alias is rolled back to the previous version', async () => {
    const alias = modelAliasOf('cardiology', 'broken');
    await store.indexAliases.switchTo(alias, 'v1', { reason: 'seed', actor: 'test' });
    writeRetrievals(alias, 'v2', good);
    const workflowId = `model-promote-rolled-back-${randomUUID().slice(0, 8)}`;
    const handle = await env.client.workflow.start(modelPromotionWorkflow, { taskQueue, workflowId, args: [modelInput('broken')] });
    await decideChild(workflowId, 'approve');
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'rolled-back', aliasVersion: 'v1', deployError: 'serving rejected the model' });
    await recordIfAsked('model', workflowId);
    expect(await store.indexAliases.get(alias)).toMatchObject({ version: 'v1' });
    expect((await store.indexAliases.history(alias)).map((h) => [h.previousVersion, h.version])).toEqual([
      [null, 'v1'],
      ['v1', 'v2'],
      ['v2', 'v1'],
    ]);
  });

  it('rejected: never promoted nor deployed', async () => {
    const alias = modelAliasOf('cardiology', 'ranker-b');
    writeRetrievals(alias, 'v2', good);
    const workflowId = `model-${randomUUID()}`;
    const handle = await env.client.workflow.start(modelPromotionWorkflow, { taskQueue, workflowId, args: [modelInput('ranker-b')] });
    await decideChild(workflowId, 'reject');
    expect(await handle.result()).toMatchObject({ outcome: 'not-promoted', aliasVersion: null });
    expect(await store.indexAliases.get(alias)).toBeUndefined();
    expect(deploys.map((d) => d.model)).not.toContain('ranker-b');
  });
});
