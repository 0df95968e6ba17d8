import { afterEach, describe, expect, it } from 'vitest';
import { appFixture, type AppFixture } from '../../../../../test/support/app-fixture.ts';

let f: AppFixture;
afterEach(() => f?.close());

describe('/v1/api-keys', () => {
  it('creates a key, shows the plaintext once, and the key works at once', async () => {
    f = await appFixture();
    const created = await f.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: f.headers('admin'),
      payload: { name: 'cardiology reviewers', role: 'reviewer', department: 'cardiology' },
    });
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body).toEqual({
      id: expect.any(String),
      name: 'cardiology reviewers',
      role: 'reviewer',
      department: 'cardiology',
      createdAt: expect.any(String),
      revokedAt: null,
      key: expect.stringMatching(/^tdm_key_/),
    });

    const asNewKey = await f.app.inject({ method: 'GET', url: '/v1/version', headers: { authorization: `Bearer ${body.key}` } });
    expect(asNewKey.statusCode).toBe(200);

    const listed = await f.app.inject({ method: 'GET', url: '/v1/api-keys', headers: f.headers('admin') });
    expect(listed.statusCode).toBe(200);
    const item = listed.json().items.find((k: { id: string }) => k.id === body.id);
    expect(item).toEqual({ ...body, key: undefined });
    expect(listed.body).not.toContain(body.key);
    expect(listed.body).not.toMatch(/hash/i);
  });

  it('revokes a key, which then stops working but stays listed', async () => {
    f = await appFixture();
    const revoke = await f.app.inject({ method: 'DELETE', url: `/v1/api-keys/${f.keyIds.reviewer}`, headers: f.headers('admin') });
    expect(revoke.statusCode).toBe(204);
    expect(revoke.body).toBe('');
    expect((await f.app.inject({ method: 'GET', url: '/v1/version', headers: f.headers('reviewer') })).statusCode).toBe(401);

    const again = await f.app.inject({ method: 'DELETE', url: `/v1/api-keys/${f.keyIds.reviewer}`, headers: f.headers('admin') });
    expect(again.statusCode).toBe(204);

    const { items } = (await f.app.inject({ method: 'GET', url: '/v1/api-keys', headers: f.headers('admin') })).json();
    expect(items.find((k: { id: string }) => k.id === f.keyIds.reviewer).revokedAt).toEqual(expect.any(String));
  });

  it('404 for an unknown id', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'DELETE', url: '/v1/api-keys/no-such-key', headers: f.headers('admin') });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ type: 'urn:tandem:problem:not-found', detail: 'no API key with id no-such-key' });
  });

  it('409 when a key would revoke itself (locking the admin out)', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'DELETE', url: `/v1/api-keys/${f.keyIds.admin}`, headers: f.headers('admin') });
    expect(res.statusCode).toBe(409);
    expect(res.json().type).toBe('urn:tandem:problem:conflict');
    expect((await f.app.inject({ method: 'GET', url: '/v1/api-keys', headers: f.headers('admin') })).statusCode).toBe(200);
  });

  it('requires an explicit department scope', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'POST', url: '/v1/api-keys', headers: f.headers('admin'), payload: { name: 'x', role: 'service' } });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([{ path: 'body.department', message: expect.any(String) }]);
  });
});
