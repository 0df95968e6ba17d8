// Input checking happens before anything reaches Temporal, so the fixture's fake client is never
// touched here; the round trip through the real worker is in test/smoke.test.ts.
import type { Client } from '@temporalio/client';
import { afterEach, describe, expect, it } from 'vitest';
import { tenantSpecSchema } from '../../../../../shared/contracts/tenants.ts';
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

  it('refuses work for a department whose region has no Temporal here: 409 naming the region and TANDEM_REGIONS, nothing started or audited', async () => {
    const starts: unknown[] = [];
    const client = {
      workflow: {
        start: async (...args: unknown[]) => {
          starts.push(args);
          return { firstExecutionRunId: 'run-1' };
        },
      },
    } as unknown as Client;
    f = await appFixture({ temporalClient: client });
    // Created by an API that serves us-east (tenants are shared through the store); this one serves local only.
    await f.store.tenants.put({
      department: 'cardiology',
      namespace: 'tandem-cardiology',
      spec: tenantSpecSchema.parse({ region: 'us-east' }),
      updatedBy: 'other-api',
      cluster: { state: 'no-cluster', at: null, message: null },
    });
    const review = { department: 'cardiology', reviewType: 'discharge-summary', title: 't', artifact: { uri: 's3://a', version: 'v1' }, assignee: 'dr-a', escalationContact: 'chief' };
    const res = await f.app.inject({ method: 'POST', url: '/v1/workflows', headers: f.headers('ai-engineer'), payload: { type: 'review.request', input: review } });
    expect(res.statusCode, res.body).toBe(409);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.json()).toMatchObject({
      type: 'urn:tandem:problem:region-not-configured',
      detail: 'department cardiology is in region us-east, which has no Temporal configured here (regions served: local); add us-east=host:port/namespace to TANDEM_REGIONS, or move the tenant to a served region',
    });
    expect(starts).toEqual([]);
    expect((await f.store.audit.list({ limit: 100 })).filter((e) => e.event === 'workflow-started')).toEqual([]);
    // Another department (no tenant: local) still starts, through the local client.
    const other = await f.app.inject({ method: 'POST', url: '/v1/workflows', headers: f.headers('ai-engineer'), payload: { type: 'review.request', input: { ...review, department: 'oncology' } } });
    expect(other.statusCode, other.body).toBe(201);
    expect(starts).toHaveLength(1);
  });

  it('does not let a reviewer start workflows', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'POST', url: '/v1/workflows', headers: f.headers('reviewer'), payload: { type: 'smoke.echo', input: { message: 'x' } } });
    expect(res.statusCode).toBe(403);
  });
});
