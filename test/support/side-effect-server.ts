/**
 * A stand-in for a third-party webhook (tandem's notification receiver) on 127.0.0.1:<free
 * port>, for fault tests: it records every delivery with its `Idempotency-Key`, and counts a side
 * effect once per key — the way a real receiver deduplicates at-least-once deliveries. A second
 * *key* for the same logical event (a duplicate workflow run) shows up as a second effect.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Delivery {
  idempotencyKey: string;
  body: Record<string, unknown>;
  at: number;
}

export interface SideEffectServer {
  url: string;
  deliveries: Delivery[];
  /** Idempotency key → how many times it was delivered. */
  effects(filter?: (d: Delivery) => boolean): Map<string, number>;
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export async function startSideEffectServer(): Promise<SideEffectServer> {
  const deliveries: Delivery[] = [];
  const server = createServer(async (req, res) => {
    const body = await readJson(req);
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || !key) {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"Idempotency-Key required"}');
      return;
    }
    deliveries.push({ idempotencyKey: key, body, at: Date.now() });
    res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/notify`,
    deliveries,
    effects(filter = () => true) {
      const counts = new Map<string, number>();
      for (const d of deliveries.filter(filter)) counts.set(d.idempotencyKey, (counts.get(d.idempotencyKey) ?? 0) + 1);
      return counts;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
