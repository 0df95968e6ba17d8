/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the `webhook-id`,
 * `webhook-timestamp` and `webhook-signature` headers, the signature an HMAC-SHA256 over
 * `${id}.${timestamp}.${body}` with the subscription's `whsec_` secret — computed by the spec's
 * own `standardwebhooks` package, so receivers verify with any Standard Webhooks library.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A new signing secret: `whsec_` and 24 random bytes in base64, as the spec's libraries expect. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export interface SignedWebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** The three headers for one attempt: the id is the event's (stable), the timestamp the attempt's. */
export function signWebhook(secret: string, eventId: string, body: string, at: Date): SignedWebhookHeaders {
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(eventId, at, body),
  };
}
