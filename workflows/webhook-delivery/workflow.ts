/**
 * Delivers one webhook event to one subscription, at least once. The attempt is one activity
 * call; Temporal's retry policy (the `webhookDelivery` preset: 10 s doubling to 10 min, for up to
 * 3 days) is the backoff, so a receiver that is down for an hour gets the event when it is back,
 * with the same `webhook-id`. Each attempt writes the delivery log (status code, latency, next
 * try). When the policy gives up, the delivery is marked failed; `POST …/redeliver` starts this
 * flow again for it.
 */
import { ActivityFailure, proxyActivities } from '@temporalio/workflow';
import type { WebhookActivities } from '../../services/worker/activities/webhooks.ts';
import { local, webhookDelivery } from '../activity-options.ts';
import type { WebhookDeliveryInput, WebhookDeliveryResult } from './messages.ts';

const { deliverWebhook } = proxyActivities<WebhookActivities>(webhookDelivery);
const { markWebhookDeliveryFailed } = proxyActivities<WebhookActivities>(local);

export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<WebhookDeliveryResult> {
  try {
    const status = await deliverWebhook({ deliveryId: input.deliveryId });
    return { deliveryId: input.deliveryId, status };
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    await markWebhookDeliveryFailed({ deliveryId: input.deliveryId });
    return { deliveryId: input.deliveryId, status: 'failed' };
  }
}
