// The embedded stack as a user meets it after `npm start`: every URL answers, readiness covers
// each engine, auth guards /v1, and the credentials file is private.
import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { api } from './support/api-client.ts';

const stack = inject('stack');

describe('embedded stack', () => {
  it('reports store, Temporal and Airflow ready, each separately', async () => {
    const res = await api<any>(stack.apiUrl, 'GET', '/readyz');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ready');
    for (const check of ['store', 'temporal', 'airflow']) expect(res.body.checks[check].ok).toBe(true);
  });

  it('guards /v1 with API keys and answers with the admin key from the credentials file', async () => {
    expect((await api(stack.apiUrl, 'GET', '/v1/version')).status).toBe(401);
    const wrong = await api<any>(stack.apiUrl, 'GET', '/v1/version', { key: 'tdm_key_not-a-real-key-at-all' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const ok = await api<any>(stack.apiUrl, 'GET', '/v1/version', { key: stack.adminKey });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ name: 'tandem', node: expect.stringMatching(/^v24\./) });
    // The service key works too, but may not administer keys.
    expect((await api(stack.apiUrl, 'GET', '/v1/api-keys', { key: stack.serviceKey })).status).toBe(403);
  });

  it('serves the OpenAPI 3.1 document and the docs UI', async () => {
    const doc = await api<any>(stack.apiUrl, 'GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\.1/);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/version', '/v1/workflows', '/readyz']));
    const docs = await fetch(`${stack.apiUrl}/docs`, { redirect: 'follow' });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger/i);
  });

  it('exposes the Airflow UI and the Temporal UI', async () => {
    const airflow = await fetch(`${stack.airflowUrl}/api/v2/monitor/health`);
    expect(airflow.status).toBe(200);
    const health = (await airflow.json()) as Record<string, { status: string }>;
    for (const component of ['metadatabase', 'scheduler', 'triggerer', 'dag_processor']) {
      expect(health[component]?.status, component).toBe('healthy');
    }
  });

  it('keeps the credentials file private (mode 0600)', () => {
    const mode = statSync(path.join(stack.stateDir, 'credentials.json')).mode & 0o777;
    expect(mode).toBe(0o600);
  });
});
