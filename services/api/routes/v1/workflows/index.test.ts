// Input checking happens before anything reaches Temporal, so the fixture's fake client is never
// touched here; the round trip through the real worker is in test/smoke.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { newApiKey } from '../../../../../shared/credentials.ts';
import { hashApiKey } from '../../../../../shared/store/api-key-hash.ts';
import { appFixture, type AppFixture } from '../../../../../test/support/app-fixture.ts';

let f: AppFixture;
afterEach(() => f?.close());

describe('POST /v1/workflows', () => {
  it('rejects an unknown workflow type with 400, naming the known ones', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'POST', url: '/v1/workflows', headers: f.headers('ai-engineer'), payload: { type: 'nope', input: {} } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.json().detail).toMatch(/unknown workflow type "nope"; known: smoke\.echo/);
  });

  it('rejects an input that fails the type schema with 422 and the path of each issue', async () => {
    f = await appFixture();
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: f.headers('ai-engineer'),
      payload: { type: 'smoke.echo', input: { message: '', extra: 1 } },
    });
    expect(res.statusCode).toBe(422);
    const paths = res.json().errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['input.message', 'input']));
  });

  it('refuses a gpu.batch at peak time with 409 when the department’s tenant refuses GPU batch work then', async () => {
    f = await appFixture();
    // A window that is never now: it closes a minute after it opens, a minute from now.
    const soon = new Date(Date.now() + 2 * 60_000).toISOString().slice(11, 16);
    const later = new Date(Date.now() + 3 * 60_000).toISOString().slice(11, 16);
    const tenant = await f.app.inject({
      method: 'PUT',
      url: '/v1/tenants/radiology',
      headers: f.headers('admin'),
      payload: { gpuPeakPolicy: 'refuse', offPeak: { start: soon, end: later, timezone: 'UTC' } },
    });
    expect(tenant.statusCode, tenant.body).toBe(201);
    const key = newApiKey('key');
    await f.store.createApiKey({ name: 'radiology-ai', role: 'ai-engineer', department: 'radiology', keyHash: hashApiKey(key) });
    const input = { name: 'embed', command: ['embed'], resources: { requests: { 'nvidia.com/gpu': 1 }, limits: { 'nvidia.com/gpu': 1 } } };
    const res = await f.app.inject({ method: 'POST', url: '/v1/workflows', headers: { authorization: `Bearer ${key}` }, payload: { type: 'gpu.batch', input } });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ type: 'urn:tandem:problem:outside-off-peak-window', detail: expect.stringContaining(`${soon}–${later} UTC`) });
    expect(res.json().detail).toMatch(/gpuPeakPolicy: refuse/);
  });

  it('does not let a reviewer start workflows', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'POST', url: '/v1/workflows', headers: f.headers('reviewer'), payload: { type: 'smoke.echo', input: { message: 'x' } } });
    expect(res.statusCode).toBe(403);
  });
});
