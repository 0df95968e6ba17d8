/**
 * The worker's probes, for a kubelet (deploy/k8s): the worker has no other port, and a probe
 * that spawns a Temporal client every few seconds would cost more than the worker idling.
 *
 *   GET /healthz  200 while the process answers at all (restart me if not)
 *   GET /readyz   200 while the worker is RUNNING — polling its task queue — else 503 with the
 *                 state (starting, draining, stopping …), so a rollout waits for a worker that
 *                 takes work and a shutting-down one stops counting as available
 *
 * Served only when `worker.healthPort` (TANDEM_WORKER_HEALTH_PORT) is set; the local stack's
 * launcher asks Temporal for the worker's pollers instead (deploy/dev/worker.ts).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { State } from '@temporalio/worker';

/** Before Worker.create has returned there is no worker state to report. */
export type WorkerHealthState = State | 'STARTING';

export interface WorkerHealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startWorkerHealthServer(options: {
  host: string;
  port: number;
  state: () => WorkerHealthState;
}): Promise<WorkerHealthServer> {
  const server = createServer((req, res) => {
    const send = (status: number, body: Record<string, string>) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'only GET' });
    if (path === '/healthz') return send(200, { status: 'ok' });
    if (path === '/readyz') {
      const state = options.state();
      return state === 'RUNNING' ? send(200, { status: 'ready', state }) : send(503, { status: 'not_ready', state });
    }
    return send(404, { error: `no ${path} here; /healthz or /readyz` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
