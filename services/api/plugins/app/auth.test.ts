import Fastify, { type HTTPMethods, type RouteOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { roles, type Role } from '../../../../shared/contracts/roles.ts';
import type { Store } from '../../../../shared/store/store.ts';
import { problemErrorHandler } from '../../problem-details.ts';
import { appFixture, type AppFixture } from '../../../../test/support/app-fixture.ts';
import authPlugin, { presentedApiKey } from './auth.ts';
import storePlugin from './store.ts';

let f: AppFixture;
afterEach(() => f?.close());

/** Routes that answer without a key. Anything else outside /v1 is a mistake this list catches. */
const publicRoutes = [/^\/healthz$/, /^\/readyz$/, /^\/metrics$/, /^\/openapi\.json$/, /^\/docs(\/.*)?$/, /^\/console(\/|\/login|\/assets\/console\.css)?$/];

/** `/v1/api-keys/:id` → `/v1/api-keys/some-id`, so the request reaches the route. */
const concrete = (url: string) => url.replace(/:(\w+)/g, 'some-$1').replace(/\*/g, 'x');

describe('every registered route', () => {
  it('is public by design, or needs a key and the right role', async () => {
    const routes: RouteOptions[] = [];
    f = await appFixture({ onRoute: (route) => routes.push(route) });
    let forbiddenChecks = 0;

    for (const route of routes) {
      const methods = ([] as HTTPMethods[]).concat(route.method);
      if (route.url.startsWith('/console/') && !publicRoutes.some((pattern) => pattern.test(route.url))) {
        // The web console authenticates by its session cookie (services/api/console/sessions.ts):
        // without one, a page sends the visitor to sign in and a post is refused.
        for (const method of methods) {
          const res = await f.app.inject({ method, url: concrete(route.url) });
          expect(res.statusCode, `${method} ${route.url} without a console session`).toBe(method === 'POST' ? 401 : 303);
        }
        continue;
      }
      if (!route.url.startsWith('/v1')) {
        expect(publicRoutes.some((pattern) => pattern.test(route.url)), `${methods} ${route.url} is public`).toBe(true);
        continue;
      }
      const allowed = route.config?.roles ?? [];
      for (const method of methods) {
        const url = concrete(route.url);
        const anonymous = await f.app.inject({ method, url });
        expect(anonymous.statusCode, `${method} ${url} without a key`).toBe(401);

        const revoked = await f.app.inject({ method, url, headers: { authorization: 'Bearer tdm_key_never-issued' } });
        expect(revoked.statusCode, `${method} ${url} with an unknown key`).toBe(401);

        const outsider = roles.find((role) => !allowed.includes(role));
        if (!outsider) continue; // open to every role, e.g. /v1/version
        const wrongRole = await f.app.inject({ method, url, headers: f.headers(outsider) });
        expect(wrongRole.statusCode, `${method} ${url} as ${outsider}`).toBe(403);
        expect(wrongRole.headers['content-type']).toMatch(/^application\/problem\+json/);
        forbiddenChecks++;
      }
    }
    expect(routes.filter((r) => r.url.startsWith('/v1')).length).toBeGreaterThan(0);
    expect(forbiddenChecks).toBeGreaterThan(0);
  });
});

describe('authentication', () => {
  it('answers 401 problem+json with a Bearer challenge when the key is missing', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'GET', url: '/v1/version' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="tandem"');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ type: 'urn:tandem:problem:unauthorized', status: 401, detail: expect.stringMatching(/missing API key/) });
  });

  it('accepts the key as a bearer token or in X-API-Key', async () => {
    f = await appFixture();
    for (const headers of [{ authorization: `Bearer ${f.keys.reviewer}` }, { authorization: `bearer ${f.keys.reviewer}` }, { 'x-api-key': f.keys.reviewer }]) {
      expect((await f.app.inject({ method: 'GET', url: '/v1/version', headers })).statusCode).toBe(200);
    }
  });

  it('rejects a revoked key the same way as an unknown one', async () => {
    f = await appFixture();
    await f.store.revokeApiKey(f.keyIds.reviewer);
    const revoked = await f.app.inject({ method: 'GET', url: '/v1/version', headers: f.headers('reviewer') });
    const unknown = await f.app.inject({ method: 'GET', url: '/v1/version', headers: { authorization: 'Bearer tdm_key_nope' } });
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().detail).toBe(unknown.json().detail);
  });

  it('needs a key even for unknown /v1 paths, then answers an honest 404', async () => {
    f = await appFixture();
    expect((await f.app.inject({ method: 'GET', url: '/v1/no-such-thing' })).statusCode).toBe(401);
    expect((await f.app.inject({ method: 'GET', url: '/v1/no-such-thing', headers: f.headers('reviewer') })).statusCode).toBe(404);
  });

  it('does not parse a body before the caller is authenticated', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'POST', url: '/v1/api-keys', headers: { 'content-type': 'application/json' }, payload: '{broken' });
    expect(res.statusCode).toBe(401);
  });

  it('reads keys from the headers', () => {
    expect(presentedApiKey({ authorization: 'Bearer abc' })).toBe('abc');
    expect(presentedApiKey({ authorization: 'Basic abc' })).toBeUndefined();
    expect(presentedApiKey({ 'x-api-key': ' abc ' })).toBe('abc');
    expect(presentedApiKey({})).toBeUndefined();
  });
});

describe('a /v1 route that declares no roles', () => {
  const nullStore = {} as Store;
  const appWith = (config: { roles?: readonly Role[] }) => {
    const app = Fastify();
    app.setErrorHandler(problemErrorHandler);
    app.register(storePlugin, { store: { ...nullStore, close: async () => {} } });
    app.register(authPlugin);
    app.register(async (v1) => {
      v1.get('/v1/forgotten', { config }, async () => 'open?');
    });
    return app;
  };

  it('stops the app from booting (fails closed instead of shipping an open route)', async () => {
    await expect(appWith({}).ready()).rejects.toThrow('GET /v1/forgotten declares no config.roles');
    await expect(appWith({ roles: [] }).ready()).rejects.toThrow(/declares no config.roles/);
  });
});
