/**
 * The webhooks family: one delivery attempt (sign, POST, log), and marking a delivery failed
 * once its retries are spent. Also the worker's side of emission: `workerWebhookEmitter` turns
 * appended audit entries into events (services/webhooks/events.ts) and starts their delivery
 * workflows through the worker's own client, so in the namespace (region) of the workflow that
 * audited them.
 */
import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { webhookRetryDelayMs } from '../../../shared/contracts/webhook-retry.ts';
import type { AuditEntry } from '../../../shared/store/audit-log.ts';
import type { WebhookStore } from '../../../shared/store/webhooks.ts';
import { emitEventsOfAuditEntry, eventsOfAuditEntry, startWebhookDeliveryWith } from '../../webhooks/events.ts';
import { signWebhook } from '../../webhooks/signature.ts';

export interface WebhookActivityOptions {
  store: WebhookStore;
  timeoutMs?: number;
}

export function createWebhookActivities({ store, timeoutMs = 15_000 }: WebhookActivityOptions) {
  return {
    /** One attempt; throws (retryable) unless the receiver answers 2xx. */
    async deliverWebhook({ deliveryId }: { deliveryId: string }): Promise<'delivered' | 'cancelled'> {
      const delivery = await store.getDelivery(deliveryId);
      if (!delivery) throw ApplicationFailure.create({ type: 'WebhookDeliveryNotFound', nonRetryable: true, message: `no webhook delivery ${deliveryId}` });
      const subscription = await store.getSubscription(delivery.subscriptionId);
      if (!subscription || subscription.deletedAt) {
        await store.setDeliveryStatus(deliveryId, 'cancelled');
        return 'cancelled';
      }
      const attempt = Context.current().info.attempt;
      const at = new Date();
      const started = performance.now();
      let statusCode: number | null = null;
      let error: string | null = null;
      try {
        const res = await fetch(subscription.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...signWebhook(subscription.secret, delivery.eventId, delivery.payload, at) },
          body: delivery.payload,
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'manual',
        });
        await res.body?.cancel();
        statusCode = res.status;
        if (!res.ok) error = `receiver answered ${res.status}`;
      } catch (err) {
        error = (err as Error).message;
      }
      const latencyMs = Math.round(performance.now() - started);
      const delivered = error === null;
      await store.recordAttempt(
        deliveryId,
        { attempt, at: at.toISOString(), statusCode, latencyMs, error },
        delivered
          ? { status: 'delivered', nextAttemptAt: null }
          : { status: 'retrying', nextAttemptAt: new Date(Date.now() + webhookRetryDelayMs(attempt)).toISOString() },
      );
      if (!delivered) throw new Error(`webhook delivery ${deliveryId} (event ${delivery.eventId}) to subscription ${subscription.id}: ${error}`);
      return 'delivered';
    },

    async markWebhookDeliveryFailed({ deliveryId }: { deliveryId: string }): Promise<void> {
      await store.setDeliveryStatus(deliveryId, 'failed');
    },
  };
}
export type WebhookActivities = ReturnType<typeof createWebhookActivities>;

/**
 * Called by `appendAudit` after each append (a deduplicated one too, so a retry after a crash
 * still emits): records the deliveries of the entry's events and starts their workflows on this
 * worker's task queue.
 */
export function workerWebhookEmitter(store: WebhookStore): (entry: AuditEntry) => Promise<void> {
  return async (entry) => {
    if (eventsOfAuditEntry(entry).length === 0) return;
    const { client, info } = Context.current();
    for (const emitted of await emitEventsOfAuditEntry(store, startWebhookDeliveryWith(async () => client, info.taskQueue), entry)) {
      if (emitted.subscribers > 0) log.info('webhook event emitted', { ...emitted });
    }
  };
}
