import { afterEach, describe, expect, it } from 'vitest';
import { startWorkerHealthServer, type WorkerHealthServer, type WorkerHealthState } from './health.ts';

describe('worker health server', () => {
  let server: WorkerHealthServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function get(path: string, method = 'GET') {
    const res = await fetch(`http://127.0.0.1:${server!.port}${path}`, { method });
    return { status: res.status, body: method === 'HEAD' ? undefined : await res.json() };
  }

  it('is live from the start, and ready only while the worker is RUNNING', async () => {
    let state: WorkerHealthState = 'STARTING';
    server = await startWorkerHealthServer({ host: '127.0.0.1', port: 0, state: () => state });

    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await get('/readyz')).toEqual({ status: 503, body: { status: 'not_ready', state: 'STARTING' } });

    state = 'RUNNING';
    expect(await get('/readyz')).toEqual({ status: 200, body: { status: 'ready', state: 'RUNNING' } });
    expect((await get('/readyz?verbose=1')).status).toBe(200);

    // Shutting down: no longer counted as available, still alive until it exits.
    for (const s of ['DRAINING', 'STOPPING', 'FAILED'] as const) {
      state = s;
      expect(await get('/readyz')).toEqual({ status: 503, body: { status: 'not_ready', state: s } });
      expect((await get('/healthz')).status).toBe(200);
    }
  });

  it('answers only its two paths, and only to reads', async () => {
    server = await startWorkerHealthServer({ host: '127.0.0.1', port: 0, state: () => 'RUNNING' });
    expect((await get('/metrics')).status).toBe(404);
    expect((await get('/healthz', 'POST')).status).toBe(405);
    expect((await get('/healthz', 'HEAD')).status).toBe(200);
  });

  it('releases its port on close', async () => {
    server = await startWorkerHealthServer({ host: '127.0.0.1', port: 0, state: () => 'RUNNING' });
    const { port } = server;
    await server.close();
    server = undefined;
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    // The same port can be taken again at once.
    server = await startWorkerHealthServer({ host: '127.0.0.1', port, state: () => 'RUNNING' });
    expect(server.port).toBe(port);
  });

  it('refuses a port that is taken, instead of starting without probes', async () => {
    server = await startWorkerHealthServer({ host: '127.0.0.1', port: 0, state: () => 'RUNNING' });
    await expect(startWorkerHealthServer({ host: '127.0.0.1', port: server.port, state: () => 'RUNNING' })).rejects.toThrow(/EADDRINUSE/);
  });
});
