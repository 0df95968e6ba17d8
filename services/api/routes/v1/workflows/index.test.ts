// Input checking happens before anything reaches Temporal, so the fixture's fake client is never
// touched here; the round trip through the real worker is in test/smoke.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
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

  it('does not let a reviewer start workflows', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'POST', url: '/v1/workflows', headers: f.headers('reviewer'), payload: { type: 'smoke.echo', input: { message: 'x' } } });
    expect(res.statusCode).toBe(403);
  });
});
