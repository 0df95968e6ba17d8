// /metrics beyond HTTP, and the one log line per request with the engine ids it touched.
import { afterEach, describe, expect, it } from 'vitest';
import { capturingLogger } from '../../../../test/support/capturing-logger.ts';
import type { AirflowClient } from '../../../airflow/client.ts';
import { airflowApiError } from '../../../airflow/errors.ts';
import { appFixture, type AppFixture } from '../../../../test/support/app-fixture.ts';

let f: AppFixture;
afterEach(() => f?.close());

const pipeline = (id: string) => ({ id, department: 'cardiology', spec: { id, stages: [] }, specHash: 'h', dagId: `tandem__${id}`, fileName: `tandem__${id}.py`, status: 'deployed' as const, deployedAt: null, lastError: null });
const review = (id: string, department: string) => ({
  id, department, reviewType: 'discharge-summary', title: 't', artifactUri: 'file:///a', artifactVersion: 'v1', assignee: 'dr-a', escalationContact: 'dr-chief', dueAt: new Date(Date.now() + 3_600_000).toISOString(),
});
const metric = (text: string, line: string) => text.split('\n').find((l) => l.startsWith(line));

describe('operator metrics', () => {
  it('counts pending and escalated reviews per department', async () => {
    f = await appFixture();
    await f.store.reviews.create(review('r1', 'cardiology'));
    await f.store.reviews.create(review('r2', 'cardiology'));
    await f.store.reviews.create(review('r3', 'oncology'));
    await f.store.reviews.reassign('r2', 'dr-chief', 1);
    const text = (await f.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metric(text, 'tandem_reviews_pending{department="cardiology"}')).toMatch(/ 2$/);
    expect(metric(text, 'tandem_reviews_pending{department="oncology"}')).toMatch(/ 1$/);
    expect(metric(text, 'tandem_reviews_escalated{department="cardiology"}')).toMatch(/ 1$/);
    expect(metric(text, 'tandem_reviews_escalated{department="oncology"}')).toBeUndefined();
  });

  it('counts webhook deliveries by status and the attempts receivers did not acknowledge', async () => {
    f = await appFixture();
    await f.store.webhooks.createSubscription({ id: 'whs_m', department: 'cardiology', url: 'http://127.0.0.1:9/h', eventTypes: ['review.decided'], description: null, secret: 'whsec_x', createdBy: 't' });
    for (const id of ['whd_1', 'whd_2']) await f.store.webhooks.recordDelivery({ id, subscriptionId: 'whs_m', department: 'cardiology', eventId: id, eventType: 'review.decided', payload: '{}' });
    const at = new Date().toISOString();
    await f.store.webhooks.recordAttempt('whd_1', { attempt: 1, at, statusCode: 503, latencyMs: 3, error: null }, { status: 'retrying', nextAttemptAt: at });
    await f.store.webhooks.recordAttempt('whd_1', { attempt: 2, at, statusCode: null, latencyMs: 3, error: 'ECONNREFUSED' }, { status: 'retrying', nextAttemptAt: at });
    await f.store.webhooks.recordAttempt('whd_2', { attempt: 1, at, statusCode: 204, latencyMs: 2, error: null }, { status: 'delivered', nextAttemptAt: null });
    const text = (await f.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metric(text, 'tandem_webhook_deliveries{department="cardiology",status="retrying"}')).toMatch(/ 1$/);
    expect(metric(text, 'tandem_webhook_deliveries{department="cardiology",status="delivered"}')).toMatch(/ 1$/);
    expect(metric(text, 'tandem_webhook_failed_attempts{department="cardiology"}')).toMatch(/ 2$/);
  });

  it('counts requests that failed because an engine did, by engine', async () => {
    const failingAirflow = {
      pauseDag: async () => {
        throw airflowApiError({ status: 500, detail: 'Database error', method: 'PATCH', path: '/api/v2/dags/tandem__kb' });
      },
    } as unknown as AirflowClient;
    f = await appFixture({ airflowClient: failingAirflow });
    await f.store.pipelines.save(pipeline('kb'));
    const before = metric((await f.app.inject({ method: 'GET', url: '/metrics' })).body, 'tandem_engine_errors_total{engine="airflow"}');
    expect(before).toMatch(/ 0$/);
    const res = await f.app.inject({ method: 'POST', url: '/v1/pipelines/kb/pause', headers: f.headers('admin') });
    expect(res.statusCode).toBeGreaterThanOrEqual(500);
    const after = metric((await f.app.inject({ method: 'GET', url: '/metrics' })).body, 'tandem_engine_errors_total{engine="airflow"}');
    expect(after).toMatch(/ 1$/);
  });
});

describe('request log', () => {
  it('writes one line per request with the route, status, key and the ids it touched', async () => {
    const { logger, lines } = capturingLogger();
    f = await appFixture({ logger });
    await f.store.pipelines.save(pipeline('kb'));
    const res = await f.app.inject({ method: 'GET', url: '/v1/pipelines/kb', headers: { ...f.headers('data-engineer'), 'x-request-id': 'req-42' } });
    expect(res.statusCode).toBe(200);
    const mine = lines.filter((l) => l.reqId === 'req-42');
    const answered = mine.filter((l) => l.msg === 'request answered');
    expect(answered).toHaveLength(1);
    expect(answered[0]).toMatchObject({ route: '/v1/pipelines/:id', statusCode: 200, pipelineId: 'kb', keyId: f.keyIds['data-engineer'] });
    // Fastify's own "incoming request" / "request completed" pair is off: this is the one line.
    expect(mine.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toEqual([]);
  });

  it('names the Airflow task instance of a hand-off start', async () => {
    const { logger, lines } = capturingLogger();
    f = await appFixture({ logger });
    const airflow = { dagId: 'tandem__notes', runId: 'manual__1', taskId: 'cardiology.review', mapIndex: -1, tryNumber: 1 };
    await f.app.inject({
      method: 'POST',
      url: '/v1/handoffs',
      headers: { ...f.headers('service'), 'x-request-id': 'req-h' },
      payload: { workflowType: 'nope.unknown', input: {}, department: 'cardiology', airflow },
    });
    const answered = lines.find((l) => l.reqId === 'req-h' && l.msg === 'request answered');
    expect(answered).toMatchObject({ route: '/v1/handoffs', statusCode: 400, dagId: 'tandem__notes', dagRunId: 'manual__1', taskId: 'cardiology.review', mapIndex: -1 });
  });
});
