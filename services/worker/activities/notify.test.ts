import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { activityErrorTypes } from '../../../shared/contracts/activity-errors.ts';
import { createNotifyActivities, type ReviewNotification } from './notify.ts';

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function webhook(status: number): Promise<{ url: string; seen: { key: string | undefined; body: ReviewNotification }[] }> {
  const seen: { key: string | undefined; body: ReviewNotification }[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ key: req.headers['idempotency-key'] as string | undefined, body: JSON.parse(body) as ReviewNotification });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, seen };
}

const note: ReviewNotification = {
  kind: 'review-reminder',
  reviewId: 'r1',
  department: 'cardiology',
  title: 't',
  artifactVersion: 'v1',
  recipients: ['dr-a'],
  idempotencyKey: 'r1:notified:1',
};

describe('sendReviewNotification', () => {
  it('posts to the webhook with the idempotency key', async () => {
    const { url, seen } = await webhook(202);
    const { sendReviewNotification } = createNotifyActivities({ webhookUrl: url });
    await expect(new MockActivityEnvironment().run(sendReviewNotification, note)).resolves.toEqual({ channel: 'webhook', status: 202 });
    expect(seen).toEqual([{ key: 'r1:notified:1', body: note }]);
  });

  it('only logs without a webhook', async () => {
    const { sendReviewNotification } = createNotifyActivities({});
    await expect(new MockActivityEnvironment().run(sendReviewNotification, note)).resolves.toEqual({ channel: 'log' });
  });

  it('fails non-retryably on a 4xx refusal and retryably on a 5xx', async () => {
    const refused = await webhook(410);
    const err = await new MockActivityEnvironment().run(createNotifyActivities({ webhookUrl: refused.url }).sendReviewNotification, note).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: activityErrorTypes.notify.recipientRejected, nonRetryable: true });
    await new Promise<void>((r) => server!.close(() => r()));
    const broken = await webhook(503);
    const transient = await new MockActivityEnvironment().run(createNotifyActivities({ webhookUrl: broken.url }).sendReviewNotification, note).catch((e: unknown) => e);
    expect(transient).not.toBeInstanceOf(ApplicationFailure);
    expect((transient as Error).message).toMatch(/503/);
  });
});
