// Webhook events end to end: a review decision in the app with a real worker on the time-skipping
// test server, delivered to receivers on 127.0.0.1 (signed per Standard Webhooks), a receiver down
// for an hour of skipped time, redelivery through the API, and department isolation.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestReview } from '../../test/support/reviews.ts';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { newApiKey } from '../../shared/credentials.ts';
import type { Role } from '../../shared/contracts/roles.ts';
import { hashApiKey } from '../../shared/store/api-key-hash.ts';
import type { AppFixture } from '../../test/support/app-fixture.ts';
import { appWithWorker, type AppWithWorker } from '../../test/support/app-with-worker.ts';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../../test/support/webhook-receiver.ts';
import type { AirflowClient } from '../airflow/client.ts';
import { webhookDeliveryWorkflowId } from './events.ts';

/** Airflow with one ended run of `tandem__kb`: cardiology ran, oncology failed. */
const endedRunAirflow = {
  getDagRun: async (_dagId: string, runId: string) => ({ dag_run_id: runId, logical_date: null, run_after: '2026-11-25T00:00:00Z', end_date: '2026-11-25T00:05:00Z', state: 'failed' }),
  listTaskInstances: async () => ({
    task_instances: [
      { task_id: 'cardiology.check_sources', state: 'success' },
      { task_id: 'cardiology.build', state: 'success' },
      { task_id: 'cardiology.commit_fingerprints', state: 'success' },
      { task_id: 'oncology.check_sources', state: 'success' },
      { task_id: 'oncology.build', state: 'failed', try_number: 1 },
      { task_id: 'oncology.commit_fingerprints', state: 'upstream_failed' },
    ],
    total_entries: 6,
  }),
} as unknown as AirflowClient;

let env: TestWorkflowEnvironment;
let f: AppFixture;
let stack: AppWithWorker;
let cardioReceiver: WebhookReceiver;
let oncReceiver: WebhookReceiver;
const keys: Record<string, string> = {};
const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });
let cardioSub: { id: string; secret: string };

async function addKey(name: string, role: Role, department: string) {
  keys[name] = newApiKey('key');
  await f.store.createApiKey({ name, role, department, keyHash: hashApiKey(keys[name]) });
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  stack = await appWithWorker('time-skipping', { airflowClient: endedRunAirflow });
  ({ env, f } = stack);
  [cardioReceiver, oncReceiver] = await Promise.all([startWebhookReceiver(), startWebhookReceiver()]);
  await addKey('dr-a', 'reviewer', 'cardiology');
  await addKey('cardio-svc', 'service', 'cardiology');
  await addKey('onc-svc', 'service', 'oncology');
  const subscribe = async (who: string, department: string, url: string) => {
    const res = await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: as(who), payload: { department, url, eventTypes: ['review.decided', 'review.escalated'] } });
    expect(res.statusCode).toBe(201);
    return res.json();
  };
  cardioSub = await subscribe('cardio-svc', 'cardiology', cardioReceiver.url);
  await subscribe('onc-svc', 'oncology', oncReceiver.url);
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await cardioReceiver?.close();
  await oncReceiver?.close();
});

/** Starts a cardiology review and approves it; resolves when the review workflow has ended. */
async function decidedReview(): Promise<string> {
  const id = await startTestReview(f);
  await until('the inbox task', () => f.store.reviews.get(id));
  const decision = await f.app.inject({ method: 'POST', url: `/v1/reviews/${id}/decision`, headers: as('dr-a'), payload: { decision: 'approve', artifactVersion: 'v2' } });
  expect(decision.statusCode).toBe(200);
  await env.client.workflow.getHandle(id).result();
  return id;
}

const deliveriesOf = async (subscriptionId: string) =>
  (await f.app.inject({ method: 'GET', url: `/v1/subscriptions/${subscriptionId}/deliveries`, headers: as('cardio-svc') })).json().items as {
    id: string;
    eventId: string;
    eventType: string;
    status: string;
    attempts: number;
  }[];

const bodyFor = (reviewId: string) => (r: ReceivedWebhook) => (JSON.parse(r.body) as { data: { reviewId: string } }).data.reviewId === reviewId;

describe('webhook events', () => {
  it('a review decision delivers a signed review.decided to its department’s subscriber only', async () => {
    const reviewId = await decidedReview();
    const got = await until('the delivery', () => cardioReceiver.accepted().find(bodyFor(reviewId)));
    const payload = new Webhook(cardioSub.secret).verify(got.body, got.headers as Record<string, string>) as Record<string, unknown>;
    expect(payload).toEqual({
      type: 'review.decided',
      timestamp: expect.any(String),
      data: { department: 'cardiology', reviewId, outcome: 'approved', artifactVersion: 'v2', escalationLevel: 0, decidedAt: expect.any(String) },
    });
    expect(got.headers['webhook-id']).toMatch(/^evt_/);
    const [delivery] = await until('the delivery log', async () => (await deliveriesOf(cardioSub.id)).filter((d) => d.eventId === got.headers['webhook-id'] && d.status === 'delivered'));
    expect(delivery).toMatchObject({ eventType: 'review.decided', status: 'delivered', attempts: 1 });
    expect(oncReceiver.received).toEqual([]);
  });

  it('a receiver down for an hour gets the event when it is back, with the same event id; then redelivery sends it again', async () => {
    cardioReceiver.state.down = true;
    const downSince = await env.currentTimeMs();
    const reviewId = await decidedReview();
    const first = await until('the first attempt', () => cardioReceiver.received.find(bodyFor(reviewId)));
    const eventId = first.headers['webhook-id'] as string;
    const [delivery] = (await deliveriesOf(cardioSub.id)).filter((d) => d.eventId === eventId);
    expect(delivery).toBeDefined();
    // Skip time while every attempt fails, until the receiver has been down for over an hour.
    while ((await env.currentTimeMs()) - downSince < 65 * 60_000) await env.sleep('5 minutes');
    expect(cardioReceiver.accepted().filter(bodyFor(reviewId))).toEqual([]);
    cardioReceiver.state.down = false;
    await env.client.workflow.getHandle(webhookDeliveryWorkflowId(delivery!.id)).result();

    const attempts = cardioReceiver.received.filter(bodyFor(reviewId));
    expect(attempts.length).toBeGreaterThan(5);
    expect(new Set(attempts.map((a) => a.headers['webhook-id']))).toEqual(new Set([eventId]));
    expect(new Set(attempts.map((a) => a.body)).size).toBe(1);
    const accepted = cardioReceiver.accepted().filter(bodyFor(reviewId));
    expect(accepted).toHaveLength(1);
    new Webhook(cardioSub.secret).verify(accepted[0]!.body, accepted[0]!.headers as Record<string, string>);

    const detail = (await f.app.inject({ url: `/v1/subscriptions/${cardioSub.id}/deliveries/${delivery!.id}`, headers: as('cardio-svc') })).json();
    expect(detail).toMatchObject({ status: 'delivered', attempts: attempts.length, lastStatusCode: 204, nextAttemptAt: null });
    expect(detail.attemptLog.map((a: { statusCode: number }) => a.statusCode)).toEqual([...attempts.slice(0, -1).map(() => 503), 204]);

    // Redelivery through the API: the same event id and body once more.
    const redeliver = await f.app.inject({ method: 'POST', url: `/v1/subscriptions/${cardioSub.id}/deliveries/${delivery!.id}/redeliver`, headers: as('cardio-svc') });
    expect(redeliver.statusCode).toBe(202);
    expect(redeliver.json()).toEqual({ deliveryId: delivery!.id, eventId, workflowId: webhookDeliveryWorkflowId(delivery!.id) });
    await until('the redelivery', () => cardioReceiver.accepted().filter(bodyFor(reviewId)).length === 2 || undefined);
    const again = cardioReceiver.accepted().filter(bodyFor(reviewId))[1]!;
    expect(again.headers['webhook-id']).toBe(eventId);
    expect(again.body).toBe(accepted[0]!.body);
    new Webhook(cardioSub.secret).verify(again.body, again.headers as Record<string, string>);
    // Another department cannot redeliver it (or see it).
    const foreign = await f.app.inject({ method: 'POST', url: `/v1/subscriptions/${cardioSub.id}/deliveries/${delivery!.id}/redeliver`, headers: as('onc-svc') });
    expect(foreign.statusCode).toBe(404);
    expect(oncReceiver.received).toEqual([]);
  }, 120_000);

  it('an escalation delivers review.escalated', async () => {
    const reviewId = await startTestReview(f, { policy: { notifyAfterHours: 1, escalateAfterHours: 2, deadlineHours: 3 } });
    await env.client.workflow.getHandle(reviewId).result();
    const got = await until('review.escalated', () =>
      cardioReceiver.accepted().find((r) => bodyFor(reviewId)(r) && (JSON.parse(r.body) as { type: string }).type === 'review.escalated'),
    );
    expect((new Webhook(cardioSub.secret).verify(got.body, got.headers as Record<string, string>) as { data: unknown }).data).toEqual({
      department: 'cardiology',
      reviewId,
      level: 1,
      escalatedAt: expect.any(String),
    });
    // Expired, not decided: no review.decided for it.
    expect(cardioReceiver.received.filter(bodyFor(reviewId)).map((r) => (JSON.parse(r.body) as { type: string }).type)).toEqual(['review.escalated']);
  });

  it('a workflow’s end delivers workflow.completed (ids and types only), never to a subscriber not asking for it', async () => {
    const receiver = await startWebhookReceiver();
    try {
      await addKey('cardio-ai', 'ai-engineer', 'cardiology');
      const sub = (
        await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: as('cardio-svc'), payload: { department: 'cardiology', url: receiver.url, eventTypes: ['workflow.completed', 'workflow.failed'] } })
      ).json();
      const start = await f.app.inject({ method: 'POST', url: '/v1/workflows', headers: as('cardio-ai'), payload: { type: 'smoke.echo', input: { message: 'secret text' } } });
      expect(start.statusCode).toBe(201);
      const workflowId = start.json().workflowId as string;
      await env.client.workflow.getHandle(workflowId).result();
      const got = await until('workflow.completed', () => receiver.accepted()[0]);
      expect(new Webhook(sub.secret).verify(got.body, got.headers as Record<string, string>)).toEqual({
        type: 'workflow.completed',
        timestamp: expect.any(String),
        data: { department: 'cardiology', workflowId, runId: expect.any(String), type: 'smoke.echo', workflowType: 'echoWorkflow', status: 'completed' },
      });
      expect(got.body).not.toContain('secret text');
      // Its delivery workflow's own end is no event, and the review subscriber did not ask for workflow ends.
      await new Promise((r) => setTimeout(r, 500));
      expect(receiver.received).toHaveLength(1);
      expect(cardioReceiver.received.filter((r) => r.body.includes(workflowId))).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('what Airflow reports of a pipeline reaches the pipeline’s department only: partition.failed and pipeline.run.finished', async () => {
    const [cardio, onc] = await Promise.all([startWebhookReceiver(), startWebhookReceiver()]);
    try {
      // A cardiology pipeline, reported on by a `*`-scoped service key (Airflow's): the events are cardiology's.
      await f.store.pipelines.save({
        id: 'kb',
        department: 'cardiology',
        spec: { partitions: { keys: ['cardiology', 'oncology'] } },
        specHash: 'h',
        dagId: 'tandem__kb',
        fileName: 'tandem__kb.py',
        status: 'deployed',
        deployedAt: null,
        lastError: null,
      });
      const eventTypes = ['partition.failed', 'pipeline.run.finished'];
      const sub = (await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: as('cardio-svc'), payload: { department: 'cardiology', url: cardio.url, eventTypes } })).json();
      await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: as('onc-svc'), payload: { department: 'oncology', url: onc.url, eventTypes } });

      const failed = await f.app.inject({
        method: 'POST',
        url: '/v1/fingerprints/fail',
        headers: f.headers('service'),
        payload: { pipelineId: 'kb', partition: 'oncology', runId: 'manual__1', taskId: 'oncology.build', tryNumber: 1, error: { type: 'ValueError', message: 'patient 123 has no MRN' } },
      });
      expect(failed.statusCode, failed.body).toBe(200);
      const ended = await f.app.inject({ method: 'POST', url: '/v1/pipelines/kb/runs/manual__1/finished', headers: f.headers('service') });
      expect(ended.statusCode, ended.body).toBe(200);

      await until('both events', () => (cardio.accepted().length >= 2 ? true : undefined));
      const payloads = cardio.accepted().map((r) => new Webhook(sub.secret).verify(r.body, r.headers as Record<string, string>) as { type: string; data: Record<string, unknown> });
      expect(payloads.map((p) => p.type).sort()).toEqual(['partition.failed', 'pipeline.run.finished']);
      expect(payloads.find((p) => p.type === 'partition.failed')!.data).toEqual({
        department: 'cardiology',
        pipelineId: 'kb',
        dagId: 'tandem__kb',
        runId: 'manual__1',
        partition: 'oncology',
        taskId: 'oncology.build',
        tryNumber: 1,
        error: { type: 'ValueError', summary: 'task oncology.build failed on try 1 with ValueError' },
        failedAt: expect.any(String),
      });
      expect(payloads.find((p) => p.type === 'pipeline.run.finished')!.data).toEqual({
        department: 'cardiology',
        pipelineId: 'kb',
        dagId: 'tandem__kb',
        runId: 'manual__1',
        state: 'failed',
        logicalDate: null,
        endDate: '2026-11-25T00:05:00Z',
        partitions: { succeeded: ['cardiology'], failed: ['oncology'], skipped: [] },
      });
      expect(cardio.received.map((r) => r.body).join('')).not.toContain('MRN');
      // A retried report is the same event: no second delivery.
      await f.app.inject({ method: 'POST', url: '/v1/pipelines/kb/runs/manual__1/finished', headers: f.headers('service') });
      await new Promise((r) => setTimeout(r, 500));
      expect(cardio.received).toHaveLength(2);
      expect(onc.received).toEqual([]);
    } finally {
      await Promise.all([cardio.close(), onc.close()]);
    }
  });
});
