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
      expiresAt: null,
      lastUsedAt: null,
      rotatedTo: null,
      key: expect.stringMatching(/^tdm_key_/),
    });

    const asNewKey = await f.app.inject({ method: 'GET', url: '/v1/version', headers: { authorization: `Bearer ${body.key}` } });
    expect(asNewKey.statusCode).toBe(200);

    const listed = await f.app.inject({ method: 'GET', url: '/v1/api-keys', headers: f.headers('admin') });
    expect(listed.statusCode).toBe(200);
    const item = listed.json().items.find((k: { id: string }) => k.id === body.id);
    // The key has been used once since (GET /v1/version), and says so.
    expect(item).toEqual({ ...body, key: undefined, lastUsedAt: expect.stringMatching(/:00\.000Z$/) });
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

  it('refuses an expired key at once; a lifetime must be positive', async () => {
    f = await appFixture();
    const none = await f.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: f.headers('admin'),
      payload: { name: 'x', role: 'service', department: 'cardiology', expiresInSeconds: 0 },
    });
    expect(none.statusCode).toBe(422);
    expect(none.json().errors[0].path).toBe('body.expiresInSeconds');

    const before = Date.now();
    const created = (
      await f.app.inject({ method: 'POST', url: '/v1/api-keys', headers: f.headers('admin'), payload: { name: 'short', role: 'service', department: 'cardiology', expiresInSeconds: 2 } })
    ).json();
    expect(Date.parse(created.expiresAt) - before).toBeGreaterThanOrEqual(2_000);
    expect(Date.parse(created.expiresAt) - before).toBeLessThan(3_000);
    const use = () => f.app.inject({ method: 'GET', url: '/v1/version', headers: { authorization: `Bearer ${created.key}` } });
    expect((await use()).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, Date.parse(created.expiresAt) - Date.now() + 100));
    const refused = await use();
    expect(refused.statusCode).toBe(401);
    expect(refused.json().detail).toContain('expired');
  });

  it('shows one key by id, with its last use; 404 for an unknown id', async () => {
    f = await appFixture();
    const one = await f.app.inject({ method: 'GET', url: `/v1/api-keys/${f.keyIds.admin}`, headers: f.headers('admin') });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id: f.keyIds.admin, role: 'admin', lastUsedAt: expect.any(String) });
    expect(one.body).not.toMatch(/hash/i);
    expect((await f.app.inject({ method: 'GET', url: '/v1/api-keys/nope', headers: f.headers('admin') })).statusCode).toBe(404);
    expect((await f.app.inject({ method: 'GET', url: `/v1/api-keys/${f.keyIds.admin}`, headers: f.headers('service') })).statusCode).toBe(403);
  });

  it('rotates without downtime: both keys work during the overlap, the old one stops at its end or when revoked', async () => {
    f = await appFixture();
    const original = (
      await f.app.inject({ method: 'POST', url: '/v1/api-keys', headers: f.headers('admin'), payload: { name: 'airflow-prod', role: 'service', department: 'cardiology' } })
    ).json();
    const rotate = (id: string, overlapHours: number) =>
      f.app.inject({ method: 'POST', url: `/v1/api-keys/${id}/rotate`, headers: f.headers('admin'), payload: { overlapHours } });
    const use = (key: string) => f.app.inject({ method: 'GET', url: '/v1/version', headers: { authorization: `Bearer ${key}` } });

    const rotated = await rotate(original.id, 1);
    expect(rotated.statusCode).toBe(201);
    const { key: replacement, replaced } = rotated.json();
    expect(replacement).toMatchObject({ name: 'airflow-prod', role: 'service', department: 'cardiology', key: expect.stringMatching(/^tdm_key_/) });
    expect(replacement.id).not.toBe(original.id);
    expect(replaced).toMatchObject({ id: original.id, rotatedTo: replacement.id });
    expect(Date.parse(replaced.expiresAt) - Date.now()).toBeGreaterThan(59 * 60_000);
    expect((await use(original.key)).statusCode).toBe(200);
    expect((await use(replacement.key)).statusCode).toBe(200);

    // Revoking the old key ends the overlap at once; the new one carries on.
    expect((await f.app.inject({ method: 'DELETE', url: `/v1/api-keys/${original.id}`, headers: f.headers('admin') })).statusCode).toBe(204);
    expect((await use(original.key)).statusCode).toBe(401);
    expect((await use(replacement.key)).statusCode).toBe(200);
    // A revoked key cannot be rotated again.
    expect((await rotate(original.id, 1)).statusCode).toBe(404);

    // No overlap: the rotated key stops at once.
    const again = (await rotate(replacement.id, 0)).json();
    const refused = await use(replacement.key);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().detail).toContain('rotated');
    expect((await use(again.key.key)).statusCode).toBe(200);
  });
});
