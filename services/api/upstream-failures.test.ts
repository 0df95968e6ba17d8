/**
 * Airflow failing is not a tandem bug: the client retries idempotent calls on 5xx (Airflow's
 * embedded SQLite answers a lock timeout as 500 "Database error"), and what still fails leaves as
 * 503 problem+json with Retry-After, as the OpenAPI document declares.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AirflowClient } from '../airflow/client.ts';
import { appFixture, type AppFixture } from '../../test/support/app-fixture.ts';

let fx: AppFixture;
let server: Server;
/** Calls of the DAG endpoint; the first `failures` answer 500 "Database error". */
let dagCalls = 0;
let failures = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/auth/token') return json(201, { access_token: 't' });
    dagCalls += 1;
    if (dagCalls <= failures) return json(500, { detail: 'Database error' });
    json(200, { dag_id: 'tandem__kb', is_paused: req.method === 'PATCH', file_token: 't' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const airflowClient = new AirflowClient({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    username: 'admin',
    password: 'x',
    retries: 3,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 20,
  });
  fx = await appFixture({ airflowClient });
  await fx.store.pipelines.save({
    id: 'kb', department: 'cardiology', spec: {}, specHash: 'h', dagId: 'tandem__kb', fileName: 'tandem__kb.py', status: 'deployed', deployedAt: null, lastError: null,
  });
});
afterAll(async () => {
  await fx.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('Airflow answering 500 "Database error"', () => {
  it('is retried: a lock wait that passes is not seen by the caller', async () => {
    dagCalls = 0;
    failures = 2;
    const res = await fx.app.inject({ method: 'POST', url: '/v1/pipelines/kb/pause', headers: fx.headers('admin') });
    expect(res.statusCode).toBe(200);
    expect(dagCalls).toBe(3);
  });

  it('that does not pass is a 503 problem with Retry-After, not a 500', async () => {
    dagCalls = 0;
    failures = 100;
    const res = await fx.app.inject({ method: 'POST', url: '/v1/pipelines/kb/pause', headers: fx.headers('admin') });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ type: 'urn:tandem:problem:upstream-unavailable', status: 503 });
    expect(JSON.stringify(res.json())).not.toContain('Database error');
    expect(dagCalls).toBe(4);
  });

  it('is declared in the OpenAPI document', async () => {
    const doc = (await fx.app.inject({ url: '/openapi.json' })).json();
    const pause = doc.paths['/v1/pipelines/{id}/pause'].post;
    expect(Object.keys(pause.responses)).toEqual(expect.arrayContaining(['502', '503']));
    expect(pause.responses['503'].headers['retry-after']).toBeDefined();
  });
});
