import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApiKey } from '../../../../shared/credentials.ts';
import { hashApiKey } from '../../../../shared/store/api-key-hash.ts';
import { appFixture, type AppFixture } from '../../../../test/support/app-fixture.ts';
import { requestFingerprint } from './idempotency.ts';

let fx: AppFixture;
beforeAll(async () => {
  fx = await appFixture();
});
afterAll(async () => {
  await fx.close();
});

const createKey = (body: object, idempotencyKey?: string, headers = fx.headers('admin'), app = fx.app) =>
  app.inject({
    method: 'POST',
    url: '/v1/api-keys',
    headers: { ...headers, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
    payload: body,
  });
const keyCount = async () => (await fx.store.listApiKeys()).length;

describe('Idempotency-Key', () => {
  it('replays the original status and body for the same key and request, and does the work once', async () => {
    const before = await keyCount();
    const first = await createKey({ name: 'ci-bot', role: 'service', department: 'cardiology' }, 'create-ci-bot-1');
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotency-replayed']).toBeUndefined();
    // Key order in the body does not make it another request.
    const again = await createKey({ department: 'cardiology', role: 'service', name: 'ci-bot' }, 'create-ci-bot-1');
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotency-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect(await keyCount()).toBe(before + 1);
  });

  it('refuses the same key for a different request with 422, doing nothing', async () => {
    await createKey({ name: 'a', role: 'service', department: 'cardiology' }, 'reused-key');
    const before = await keyCount();
    const other = await createKey({ name: 'b', role: 'service', department: 'cardiology' }, 'reused-key');
    expect(other.statusCode).toBe(422);
    expect(other.json().errors).toEqual([{ path: 'headers.idempotency-key', message: expect.stringContaining('already used') }]);
    expect(await keyCount()).toBe(before);
  });

  it('answers 409 while the first request with the key is still in flight', async () => {
    const body = { name: 'slow', role: 'service', department: 'cardiology' };
    // The first request claimed the key and has not answered yet.
    await fx.store.idempotency.claim({
      keyId: fx.keyIds.admin,
      idempotencyKey: 'in-flight-key',
      fingerprint: requestFingerprint('POST', '/v1/api-keys', {}, body),
      ttlMs: 60_000,
      inFlightTimeoutMs: 60_000,
    });
    const before = await keyCount();
    const retry = await createKey(body, 'in-flight-key');
    expect(retry.statusCode).toBe(409);
    expect(await keyCount()).toBe(before);
  });

  it('is scoped to the API key: another key with the same Idempotency-Key does its own work', async () => {
    const body = { name: 'per-key', role: 'service', department: 'cardiology' };
    const mine = await createKey(body, 'shared-value');
    const plain = newApiKey('key');
    await fx.store.createApiKey({ name: 'admin-2', role: 'admin', department: '*', keyHash: hashApiKey(plain) });
    const theirs = await createKey(body, 'shared-value', { authorization: `Bearer ${plain}` });
    expect(theirs.statusCode).toBe(201);
    expect(theirs.headers['idempotency-replayed']).toBeUndefined();
    expect(theirs.json().id).not.toBe(mine.json().id);
  });

  it('survives an API restart: the replay comes from the store', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tandem-idem-'));
    try {
      const a = await appFixture({ stateDir: dir });
      const body = { name: 'restart', role: 'service', department: 'cardiology' };
      const first = await createKey(body, 'across-restart', a.headers('admin'), a.app);
      const adminKey = a.keys.admin;
      await a.close();
      const b = await appFixture({ stateDir: dir });
      try {
        const again = await createKey(body, 'across-restart', { authorization: `Bearer ${adminKey}` }, b.app);
        expect(again.headers['idempotency-replayed']).toBe('true');
        expect(again.json()).toEqual(first.json());
      } finally {
        await b.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps no 5xx: a retry after a failure does the work', async () => {
    // Without an Airflow client applying a pipeline is a 503.
    const spec = { apiVersion: 'tandem.dev/v1', id: 'idem', department: 'cardiology', sources: [], stages: [{ id: 'a', kind: 'python', callable: 'p.m:f' }] };
    const post = () => fx.app.inject({ method: 'POST', url: '/v1/pipelines', headers: { ...fx.headers('admin'), 'idempotency-key': 'after-503' }, payload: spec });
    expect((await post()).statusCode).toBe(503);
    const retry = await post();
    expect(retry.statusCode).toBe(503);
    expect(retry.headers['idempotency-replayed']).toBeUndefined();
  });

  it('refuses a malformed key with 422', async () => {
    const res = await createKey({ name: 'x', role: 'service', department: 'cardiology' }, 'has spaces in it');
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].path).toBe('headers.idempotency-key');
  });

  it('is documented on the routes that honour it', async () => {
    const doc = (await fx.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const [route, method] of [['/v1/workflows', 'post'], ['/v1/pipelines', 'post'], ['/v1/pipelines/{id}/runs', 'post'], ['/v1/api-keys', 'post'], ['/v1/handoffs', 'post'], ['/v1/reviews/{id}/decision', 'post']]) {
      const operation = doc.paths[route!][method!];
      expect(operation.description, route).toContain('Idempotency-Key');
      expect(Object.keys(operation.responses), route).toEqual(expect.arrayContaining(['409', '422']));
    }
    expect(doc.paths['/v1/pipelines/{id}/pause'].post.description ?? '').not.toContain('Idempotency-Key');
  });
});
