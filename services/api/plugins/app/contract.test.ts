import { afterEach, describe, expect, it } from 'vitest';
import { appFixture, type AppFixture } from '../../../../test/support/app-fixture.ts';

let f: AppFixture;
afterEach(() => f?.close());

interface Operation {
  requestBody?: unknown;
  parameters?: { in: string }[];
  responses: Record<string, { content?: Record<string, unknown> }>;
}

describe('the OpenAPI document', () => {
  it('declares the standard problems on every operation, as problem+json', async () => {
    f = await appFixture();
    const doc = (await f.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, Operation>> };
    let operations = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        operations++;
        const declared = Object.keys(op.responses);
        const expected = ['400', '415'];
        if (path.startsWith('/v1')) expected.push('401', '403', '429');
        if (op.parameters?.some((p) => p.in === 'path')) expected.push('404', '422');
        if (op.requestBody) expected.push('413', '422');
        for (const status of expected) {
          expect(declared, `${method.toUpperCase()} ${path} declares ${status}`).toContain(status);
          expect(Object.keys(op.responses[status]!.content ?? {}), `${method.toUpperCase()} ${path} ${status}`).toEqual(['application/problem+json']);
        }
      }
    }
    expect(operations).toBeGreaterThan(10);
  });
});

describe('an unsupported method on a known path', () => {
  it('is 405 problem+json with Allow, after authentication', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'PUT', url: '/v1/pipelines/kb/runs', headers: f.headers('admin') });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, POST');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ type: 'urn:tandem:problem:method-not-allowed', status: 405, instance: '/v1/pipelines/kb/runs' });
    const query = await f.app.inject({ method: 'QUERY' as 'GET', url: '/v1/version', headers: f.headers('admin') });
    expect(query.statusCode).toBe(405);
    expect((await f.app.inject({ method: 'PUT', url: '/v1/pipelines/kb/runs' })).statusCode).toBe(401);
    expect((await f.app.inject({ method: 'DELETE', url: '/healthz' })).headers.allow).toBe('GET, HEAD');
    // The static route wins over `GET /v1/handoffs/:id`, as in the document.
    expect((await f.app.inject({ method: 'PUT', url: '/v1/handoffs/reconcile', headers: f.headers('admin') })).headers.allow).toBe('POST');
  });

  it('leaves unknown paths 404', async () => {
    f = await appFixture();
    expect((await f.app.inject({ method: 'PUT', url: '/v1/nothing/here', headers: f.headers('admin') })).statusCode).toBe(404);
  });
});

describe('an operation without a body', () => {
  it('refuses one with 415 and accepts an empty request', async () => {
    f = await appFixture();
    const withBody = await f.app.inject({ method: 'GET', url: '/v1/version', headers: { ...f.headers('admin'), 'content-type': 'application/json' }, payload: '{}' });
    expect(withBody.statusCode).toBe(415);
    expect(withBody.json()).toMatchObject({ type: 'urn:tandem:problem:unsupported-media-type', detail: 'GET /v1/version takes no request body' });
    const text = await f.app.inject({ method: 'POST', url: '/v1/handoffs/reconcile', headers: { ...f.headers('admin'), 'content-type': 'text/plain' }, payload: 'x' });
    expect(text.statusCode).toBe(415);
    expect((await f.app.inject({ method: 'GET', url: '/v1/version', headers: f.headers('admin') })).statusCode).toBe(200);
  });

  it('still needs a key first', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'GET', url: '/v1/version', headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(res.statusCode).toBe(401);
  });
});
