import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../sqlite-store.ts';

let dir: string;
let store: SqliteStore;

afterEach(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function open() {
  dir = mkdtempSync(path.join(tmpdir(), 'tandem-webhooks-'));
  store = openSqliteStore(path.join(dir, 'tandem.db'));
  return store.webhooks;
}

const subscription = (id: string, department: string, eventTypes: ('review.decided' | 'workflow.failed')[]) => ({
  id,
  department,
  url: 'http://127.0.0.1:9/hooks',
  eventTypes,
  description: null,
  secret: 'whsec_x',
  createdBy: 'svc',
});

describe('SqliteWebhooks', () => {
  it('finds the live subscribers of a department and event type', async () => {
    const hooks = open();
    await hooks.createSubscription(subscription('a', 'cardiology', ['review.decided']));
    await hooks.createSubscription(subscription('b', 'cardiology', ['workflow.failed']));
    await hooks.createSubscription(subscription('c', 'oncology', ['review.decided']));
    await hooks.createSubscription(subscription('d', 'cardiology', ['review.decided', 'workflow.failed']));
    expect((await hooks.subscribersOf('cardiology', 'review.decided')).map((s) => s.id)).toEqual(['a', 'd']);
    expect(await hooks.deleteSubscription('d')).toBe(true);
    expect(await hooks.deleteSubscription('d')).toBe(false);
    expect((await hooks.subscribersOf('cardiology', 'review.decided')).map((s) => s.id)).toEqual(['a']);
    expect((await hooks.getSubscription('d'))?.deletedAt).toEqual(expect.any(String));
    expect((await hooks.listSubscriptions({ department: 'cardiology', limit: 10 })).map((s) => s.id)).toEqual(['a', 'b']);
  });

  it('records a delivery once, and its attempts in order', async () => {
    const hooks = open();
    await hooks.createSubscription(subscription('a', 'cardiology', ['review.decided']));
    const d = { id: 'whd_1', subscriptionId: 'a', department: 'cardiology', eventId: 'evt_1', eventType: 'review.decided' as const, payload: '{}' };
    const first = await hooks.recordDelivery(d);
    expect(await hooks.recordDelivery({ ...d, payload: '{"other":1}' })).toEqual(first);
    await hooks.recordAttempt('whd_1', { attempt: 1, at: '2030-01-01T00:00:00.000Z', statusCode: 503, latencyMs: 3, error: 'receiver answered 503' }, { status: 'retrying', nextAttemptAt: '2030-01-01T00:00:10.000Z' });
    await hooks.recordAttempt('whd_1', { attempt: 2, at: '2030-01-01T00:00:10.000Z', statusCode: 200, latencyMs: 2, error: null }, { status: 'delivered', nextAttemptAt: null });
    expect(await hooks.getDelivery('whd_1')).toMatchObject({ status: 'delivered', attempts: 2, lastStatusCode: 200, lastLatencyMs: 2, nextAttemptAt: null, deliveredAt: '2030-01-01T00:00:10.000Z', payload: '{}' });
    expect((await hooks.attemptsOf('whd_1')).map((a) => a.statusCode)).toEqual([503, 200]);
  });
});
