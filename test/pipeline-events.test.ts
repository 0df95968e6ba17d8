// Pipeline events end to end on the real stack: a pipeline whose one partition fails, run by
// Airflow; the failing task's on_failure_callback and the DAG's run-end callback report to the
// API through the `tandem_default` connection, and a subscriber of the pipeline's department
// receives signed `partition.failed` and `pipeline.run.finished` (through the delivery workflow
// and the worker); a subscriber of another department receives nothing.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { exampleSpec, writeExampleDocuments } from '../deploy/dev/example-pipeline.ts';
import { api, eventually } from './support/api-client.ts';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

const stack = inject('stack');
const key = stack.adminKey;
const id = 'kb-events';

interface Event {
  type: string;
  timestamp: string;
  data: Record<string, any>;
}

let ours: WebhookReceiver;
let theirs: WebhookReceiver;
let secret: string;

beforeAll(async () => {
  [ours, theirs] = await Promise.all([startWebhookReceiver(), startWebhookReceiver()]);
});
afterAll(async () => {
  await Promise.all([ours?.close(), theirs?.close()]);
});

const subscribe = async (department: string, url: string) => {
  const res = await api<any>(stack.apiUrl, 'POST', '/v1/subscriptions', { key, body: { department, url, eventTypes: ['partition.failed', 'pipeline.run.finished'] } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
};

describe('pipeline events', () => {
  it('a run whose one partition fails delivers partition.failed and pipeline.run.finished, signed, to the pipeline’s department only', async () => {
    // Its own copy of the example's documents (the pipelines test owns the shared one), without
    // the nightly schedule, and a marker that makes oncology's build_index fail.
    const dataDir = writeExampleDocuments(path.join(stack.stateDir, 'pipeline-events'));
    const { schedule: _schedule, ...example } = exampleSpec(dataDir);
    const spec = { ...example, id };
    const department = example.department as string;
    mkdirSync(path.join(dataDir, '_fail'), { recursive: true });
    writeFileSync(path.join(dataDir, '_fail', 'oncology'), 'fail build_index on purpose\n');

    secret = (await subscribe(department, ours.url)).secret;
    await subscribe('cardiology', theirs.url);

    const applied = await api<any>(stack.apiUrl, 'POST', '/v1/pipelines', { key, body: spec });
    expect(applied.status, JSON.stringify(applied.body)).toBe(201);
    const triggered = await api<any>(stack.apiUrl, 'POST', `/v1/pipelines/${id}/runs`, { key, body: {} });
    expect(triggered.status, JSON.stringify(triggered.body)).toBe(201);
    const runId: string = triggered.body.runs[0].runId;

    const received = await eventually(
      async () => {
        const events = ours.accepted().map((r) => ({ r, event: JSON.parse(r.body) as Event }));
        const failed = events.find((e) => e.event.type === 'partition.failed' && e.event.data.runId === runId);
        const finished = events.find((e) => e.event.type === 'pipeline.run.finished' && e.event.data.runId === runId);
        return failed && finished ? { failed, finished } : undefined;
      },
      240_000,
      `partition.failed and pipeline.run.finished of run ${runId}`,
      500,
    );

    // Signed per Standard Webhooks with the subscription's secret; the id is the event's.
    const wh = new Webhook(secret);
    const failed = wh.verify(received.failed.r.body, received.failed.r.headers as Record<string, string>) as Event;
    const finished = wh.verify(received.finished.r.body, received.finished.r.headers as Record<string, string>) as Event;
    expect(received.failed.r.headers['webhook-id']).toMatch(/^evt_/);

    expect(failed.data).toEqual({
      department,
      pipelineId: id,
      dagId: `tandem__${id}`,
      runId,
      partition: 'oncology',
      taskId: 'oncology.build_index',
      tryNumber: expect.any(Number),
      error: { type: expect.any(String), summary: expect.stringContaining('task oncology.build_index failed') },
      failedAt: expect.any(String),
    });
    // Reported by the task itself (its exception's type), not found afterwards at the run's end.
    expect(failed.data.error.type).not.toBe('unknown');
    expect(finished.data).toEqual({
      department,
      pipelineId: id,
      dagId: `tandem__${id}`,
      runId,
      state: 'failed',
      logicalDate: null,
      endDate: expect.any(String),
      partitions: { succeeded: ['cardiology', 'radiology'], failed: ['oncology'], skipped: [] },
    });

    // Recorded when it happened: the partition's last run says so, with the reason.
    const partitions = await api<any>(stack.apiUrl, 'GET', `/v1/pipelines/${id}/partitions`, { key });
    const oncology = partitions.body.partitions.find((p: any) => p.partition === 'oncology');
    expect(oncology.lastRun).toMatchObject({ runId, outcome: 'failed', reason: expect.stringContaining('oncology.build_index') });

    // One delivery per event (at-least-once, and here exactly once), none to another department.
    await new Promise((r) => setTimeout(r, 2000));
    const ofRun = ours.received.filter((r) => (JSON.parse(r.body) as Event).data.runId === runId);
    expect(ofRun.map((r) => (JSON.parse(r.body) as Event).type).sort()).toEqual(['partition.failed', 'pipeline.run.finished']);
    expect(theirs.received).toEqual([]);
  }, 400_000);
});
