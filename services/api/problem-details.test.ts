import { afterEach, describe, expect, it } from 'vitest';
import { capturingLogger } from '../../test/support/capturing-logger.ts';
import { appFixture, type AppFixture } from '../../test/support/app-fixture.ts';

let f: AppFixture;
afterEach(() => f?.close());

const problemFields = { type: expect.any(String), title: expect.any(String), status: expect.any(Number), requestId: expect.any(String) };

describe('problem+json errors', () => {
  it('404 for an unknown route', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'GET', url: '/nope?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toEqual({ ...problemFields, type: 'about:blank', status: 404, title: 'Not Found', detail: 'no route for GET /nope', instance: '/nope' });
  });

  it('422 with every validation issue and where it is', async () => {
    f = await appFixture();
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: f.headers('admin'),
      payload: { name: '', role: 'boss', department: 'Not A Label', colour: 'blue' },
    });
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body).toMatchObject({ ...problemFields, type: 'urn:tandem:problem:validation', status: 422 });
    expect(body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['body', 'body.department', 'body.name', 'body.role']);
    for (const issue of body.errors) expect(issue.message).toEqual(expect.any(String));
    expect(body.errors.find((e: { path: string }) => e.path === 'body').message).toMatch(/colour/);
  });

  it('400 for malformed JSON', async () => {
    f = await appFixture();
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: { ...f.headers('admin'), 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ ...problemFields, type: 'about:blank', title: 'Bad Request', detail: expect.stringMatching(/JSON/) });
  });

  it('413 for a body over the configured limit', async () => {
    f = await appFixture({ env: { TANDEM_API_BODY_LIMIT_BYTES: '200' } });
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: f.headers('admin'),
      payload: { name: 'x'.repeat(500), role: 'admin', department: '*' },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ ...problemFields, status: 413 });
  });

  it('429 with Retry-After once the rate limit is spent; probes stay exempt', async () => {
    f = await appFixture({ env: { TANDEM_API_RATE_LIMIT_PER_MINUTE: '2' } });
    const call = () => f.app.inject({ method: 'GET', url: '/v1/version', headers: f.headers('reviewer') });
    expect((await call()).statusCode).toBe(200);
    expect((await call()).statusCode).toBe(200);
    const limited = await call();
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBeDefined();
    expect(limited.json()).toMatchObject({ ...problemFields, type: 'urn:tandem:problem:rate-limited', status: 429 });
    for (let i = 0; i < 3; i++) expect((await f.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('500 never leaks the thrown message; the log has it, under the same request id', async () => {
    const { logger, lines } = capturingLogger();
    f = await appFixture({ logger });
    // The store failing under the auth lookup is a realistic internal error with a revealing message.
    f.store.findApiKeyByHash = async () => {
      throw new Error('SQLITE_IOERR: disk I/O error at /srv/secret/tandem.db');
    };
    const res = await f.app.inject({ method: 'GET', url: '/v1/version', headers: f.headers('admin') });
    expect(res.statusCode).toBe(500);
    const body = res.json();
    expect(body).toEqual({
      ...problemFields,
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: `The server failed to handle this request. Quote request id ${body.requestId} when reporting it.`,
      instance: '/v1/version',
    });
    expect(res.body).not.toMatch(/SQLITE|secret|stack/i);
    const logged = lines.find((line) => line.reqId === body.requestId && line.level === 50);
    expect(JSON.stringify(logged)).toContain('SQLITE_IOERR: disk I/O error at /srv/secret/tandem.db');
  });
});

describe('request ids', () => {
  it('echoes a sane incoming x-request-id and uses it in problems', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'GET', url: '/v1/version', headers: { 'x-request-id': 'airflow:run-42.try_1' } });
    expect(res.headers['x-request-id']).toBe('airflow:run-42.try_1');
    expect(res.json().requestId).toBe('airflow:run-42.try_1');
  });

  it('replaces an unsafe or oversized one with a fresh id', async () => {
    f = await appFixture();
    for (const incoming of ['a b\nforged-log-line', 'x'.repeat(200)]) {
      const res = await f.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': incoming } });
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});
