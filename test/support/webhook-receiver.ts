/**
 * A webhook receiver on 127.0.0.1:<free port>, as another service runs one: it records every
 * delivery (headers and raw body, for Standard Webhooks verification) and answers 204 — or 503
 * while `state.down`, to play a receiver that is away.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  state: { down: boolean };
  /** Deliveries it acknowledged (2xx). */
  accepted(): ReceivedWebhook[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const state = { down: false };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const answered = state.down ? 503 : 204;
    received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered });
    res.writeHead(answered).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return {
    url,
    received,
    state,
    accepted: () => received.filter((r) => r.answered < 300),
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
