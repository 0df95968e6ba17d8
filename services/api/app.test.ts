import { afterEach, describe, expect, it } from 'vitest';
import { webhookEventTypes } from '../../shared/contracts/webhooks.ts';
import { appFixture, type AppFixture } from '../../test/support/app-fixture.ts';

let f: AppFixture;
afterEach(() => f?.close());

describe('the app', () => {
  it('publishes an OpenAPI 3.1 document built from the zod contracts', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes).toHaveProperty('bearerAuth');
    expect(doc.paths['/v1/api-keys'].post.requestBody.content['application/json'].schema.$ref).toBe(
      '#/components/schemas/CreateApiKeyRequestInput',
    );
    expect(doc.paths['/v1/api-keys'].get.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }]);
    expect(doc.paths['/v1/api-keys'].get.responses['401'].content).toHaveProperty(['application/problem+json']);
    expect(doc.paths['/healthz'].get.security).toBeUndefined();
    expect(Object.keys(doc.paths).some((p) => p.startsWith('/docs'))).toBe(false);
    // Every event type a subscription takes is a webhook of the document, its data a component.
    expect(Object.keys(doc.webhooks).sort()).toEqual([...webhookEventTypes].sort());
    for (const [type, item] of Object.entries<any>(doc.webhooks)) {
      const body = item.post.requestBody.content['application/json'].schema;
      expect(body.properties.type.enum, type).toEqual([type]);
      const ref = body.properties.data.$ref.replace('#/components/schemas/', '');
      expect(doc.components.schemas[ref], type).toMatchObject({ type: 'object', properties: { department: expect.any(Object) } });
      expect(item.post.parameters.map((p: { name: string }) => p.name), type).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    }
    expect(doc.components.schemas.PartitionFailedEventData.required).toEqual(expect.arrayContaining(['pipelineId', 'runId', 'partition', 'taskId', 'error']));
  });

  it('serves Swagger UI at /docs', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'GET', url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
  });

  it('exposes Prometheus metrics labelled by route pattern', async () => {
    f = await appFixture();
    await f.app.inject({ method: 'GET', url: '/v1/version', headers: f.headers('reviewer') });
    await f.app.inject({ method: 'DELETE', url: '/v1/api-keys/abc', headers: f.headers('admin') });
    const res = await f.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toContain('http_requests_total{method="GET",route="/v1/version",status_code="200"} 1');
    expect(res.body).toContain('route="/v1/api-keys/:id",status_code="404"');
    expect(res.body).toContain('http_request_duration_seconds_bucket');
    expect(res.body).toContain('process_cpu_seconds_total');
  });

  it('GET /v1/version answers any role with tandem and Node versions', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'GET', url: '/v1/version', headers: f.headers('service') });
    expect(res.json()).toEqual({ name: 'tandem', version: expect.stringMatching(/^\d+\.\d+\.\d+/), node: process.version });
  });

  it('closes the store and the Temporal connection when it closes', async () => {
    f = await appFixture();
    await f.app.close();
    expect(f.temporal.closed).toBe(true);
    await expect(f.store.ping()).rejects.toThrow();
  });
});
