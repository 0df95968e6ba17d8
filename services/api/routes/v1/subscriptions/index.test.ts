import { afterEach, describe, expect, it } from 'vitest';
import { newApiKey } from '../../../../../shared/credentials.ts';
import type { Role } from '../../../../../shared/contracts/roles.ts';
import { hashApiKey } from '../../../../../shared/store/api-key-hash.ts';
import { appFixture, type AppFixture } from '../../../../../test/support/app-fixture.ts';

let f: AppFixture;
afterEach(() => f?.close());

async function keyOf(role: Role, department: string): Promise<{ authorization: string }> {
  const key = newApiKey('key');
  await f.store.createApiKey({ name: `${role}-${department}`, role, department, keyHash: hashApiKey(key) });
  return { authorization: `Bearer ${key}` };
}

const body = { department: 'cardiology', url: 'http://127.0.0.1:9/hook', eventTypes: ['review.decided', 'workflow.failed'] };

describe('/v1/subscriptions', () => {
  it('creates a subscription with its secret once; lists, gets and deletes it within the department', async () => {
    f = await appFixture();
    const cardio = await keyOf('service', 'cardiology');
    const created = await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: cardio, payload: body });
    expect(created.statusCode).toBe(201);
    const sub = created.json();
    expect(sub).toEqual({
      id: expect.stringMatching(/^whs_/),
      department: 'cardiology',
      url: body.url,
      eventTypes: body.eventTypes,
      description: null,
      createdAt: expect.any(String),
      createdBy: 'service-cardiology',
      secret: expect.stringMatching(/^whsec_/),
    });

    const got = await f.app.inject({ method: 'GET', url: `/v1/subscriptions/${sub.id}`, headers: cardio });
    expect(got.json()).toEqual({ ...sub, secret: undefined });
    expect(got.body).not.toContain(sub.secret);
    const listed = await f.app.inject({ method: 'GET', url: '/v1/subscriptions', headers: cardio });
    expect(listed.json()).toEqual({ items: [{ ...sub, secret: undefined }], next: null });
    expect(listed.body).not.toContain(sub.secret);

    expect((await f.app.inject({ method: 'DELETE', url: `/v1/subscriptions/${sub.id}`, headers: cardio })).statusCode).toBe(204);
    expect((await f.app.inject({ method: 'GET', url: `/v1/subscriptions/${sub.id}`, headers: cardio })).statusCode).toBe(404);
    expect((await f.app.inject({ method: 'GET', url: '/v1/subscriptions', headers: cardio })).json().items).toEqual([]);
  });

  it('keeps departments apart: 403 to subscribe another department, 404 for its subscriptions; admins of * see all', async () => {
    f = await appFixture();
    const cardio = await keyOf('service', 'cardiology');
    const onco = await keyOf('admin', 'oncology');
    expect((await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: onco, payload: body })).statusCode).toBe(403);
    const sub = (await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: cardio, payload: body })).json();
    for (const [method, url] of [
      ['GET', `/v1/subscriptions/${sub.id}`],
      ['DELETE', `/v1/subscriptions/${sub.id}`],
      ['GET', `/v1/subscriptions/${sub.id}/deliveries`],
      ['GET', `/v1/subscriptions/${sub.id}/deliveries/whd_x`],
      ['POST', `/v1/subscriptions/${sub.id}/deliveries/whd_x/redeliver`],
    ] as const) {
      expect((await f.app.inject({ method, url, headers: onco })).statusCode, `${method} ${url}`).toBe(404);
    }
    expect((await f.app.inject({ method: 'GET', url: '/v1/subscriptions', headers: onco })).json().items).toEqual([]);
    expect((await f.app.inject({ method: 'GET', url: '/v1/subscriptions', headers: f.headers('admin') })).json().items).toHaveLength(1);
  });

  it('refuses other roles, unknown event types and non-http URLs', async () => {
    f = await appFixture();
    for (const role of ['reviewer', 'data-engineer', 'ai-engineer'] as const) {
      expect((await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: f.headers(role), payload: body })).statusCode).toBe(403);
      expect((await f.app.inject({ method: 'GET', url: '/v1/subscriptions', headers: f.headers(role) })).statusCode).toBe(403);
    }
    const admin = f.headers('admin');
    expect((await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: admin, payload: { ...body, eventTypes: ['review.nope'] } })).statusCode).toBe(422);
    expect((await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: admin, payload: { ...body, eventTypes: [] } })).statusCode).toBe(422);
    expect((await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: admin, payload: { ...body, url: 'file:///etc/passwd' } })).statusCode).toBe(422);
  });

  it('pages the list with a cursor', async () => {
    f = await appFixture();
    const admin = f.headers('admin');
    for (let i = 0; i < 3; i++) await f.app.inject({ method: 'POST', url: '/v1/subscriptions', headers: admin, payload: body });
    const first = (await f.app.inject({ method: 'GET', url: '/v1/subscriptions?limit=2', headers: admin })).json();
    expect(first.items).toHaveLength(2);
    const second = (await f.app.inject({ method: 'GET', url: first.next, headers: admin })).json();
    expect(second).toEqual({ items: [expect.objectContaining({ id: expect.any(String) })], next: null });
    expect(new Set([...first.items, ...second.items].map((s: { id: string }) => s.id)).size).toBe(3);
  });
});
