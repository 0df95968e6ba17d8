import { afterEach, describe, expect, it } from 'vitest';
import { appFixture, type AppFixture } from '../../../../test/support/app-fixture.ts';

let f: AppFixture;
afterEach(() => f?.close());

describe('GET /healthz', () => {
  it('answers 200 without a key, even when dependencies are down', async () => {
    f = await appFixture();
    f.temporal.ping = async () => {
      throw new Error('down');
    };
    const res = await f.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });
});

describe('GET /readyz', () => {
  it('is ready when the store, Temporal and Airflow all answer', async () => {
    f = await appFixture();
    const res = await f.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.status).toBe('ready');
    for (const name of ['store', 'temporal', 'airflow']) {
      expect(body.checks[name]).toEqual({ ok: true, latencyMs: expect.any(Number) });
    }
  });

  it('reports Temporal down on its own, with its error', async () => {
    f = await appFixture();
    f.temporal.ping = async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:7233');
    };
    const res = await f.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({
      status: 'not_ready',
      checks: {
        store: { ok: true },
        temporal: { ok: false, error: 'connect ECONNREFUSED 127.0.0.1:7233' },
        airflow: { ok: true },
      },
    });
  });

  it('reports Airflow down on its own, with its error', async () => {
    f = await appFixture();
    f.airflow.ping = async () => {
      throw new Error('Airflow triggerer is unhealthy');
    };
    const res = await f.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json().checks).toMatchObject({
      store: { ok: true },
      temporal: { ok: true },
      airflow: { ok: false, error: 'Airflow triggerer is unhealthy' },
    });
  });

  it('reports every failing dependency, not only the first', async () => {
    f = await appFixture();
    f.temporal.ping = async () => {
      throw new Error('temporal down');
    };
    f.airflow.ping = async () => {
      throw new Error('airflow down');
    };
    await f.store.close();
    const { checks } = (await f.app.inject({ method: 'GET', url: '/readyz' })).json();
    expect(checks.store).toMatchObject({ ok: false, error: expect.any(String) });
    expect(checks.temporal).toMatchObject({ ok: false, error: 'temporal down' });
    expect(checks.airflow).toMatchObject({ ok: false, error: 'airflow down' });
  });

  it('does not wait for a dependency that hangs, and cancels its probe', async () => {
    f = await appFixture({ readinessTimeoutMs: 50 });
    let aborted = false;
    f.airflow.ping = (signal) =>
      new Promise(() => {
        signal.addEventListener('abort', () => (aborted = true));
      });
    const started = Date.now();
    const res = await f.app.inject({ method: 'GET', url: '/readyz' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(res.statusCode).toBe(503);
    expect(res.json().checks.airflow).toMatchObject({ ok: false, error: 'no answer within 50 ms' });
    expect(res.json().checks.temporal.ok).toBe(true);
    expect(aborted).toBe(true);
  });

  it('checks dependencies in parallel', async () => {
    f = await appFixture({ readinessTimeoutMs: 1000 });
    const slow = () => new Promise<void>((resolve) => setTimeout(resolve, 150));
    f.temporal.ping = slow;
    f.airflow.ping = slow;
    const started = Date.now();
    expect((await f.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(290);
  });
});
