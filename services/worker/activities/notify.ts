/**
 * The notify family: review reminders and escalations. With `notify.webhookUrl`
 * (TANDEM_NOTIFY_WEBHOOK_URL) each notification is POSTed there as JSON; without it, it is only
 * logged (the review workflow audits `notified` either way, so nothing is lost). Delivery is
 * at-least-once: the body and the `Idempotency-Key` header carry a key receivers deduplicate on.
 */
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { activityErrorTypes } from '../../../shared/contracts/activity-errors.ts';

export interface ReviewNotification {
  kind: 'review-reminder' | 'review-escalated' | 'review-expired';
  reviewId: string;
  department: string;
  title: string;
  artifactVersion: string;
  /** Key names (or a group) to notify. */
  recipients: string[];
  /** Stable per step of one workflow run: `<reviewId>:<runId>:<step>` (`<reviewId>:<step>` in runs from before run-scoped keys). */
  idempotencyKey: string;
}

export interface NotificationDelivery {
  channel: 'webhook' | 'log';
  status?: number;
}

export interface NotifyOptions {
  webhookUrl?: string | undefined;
  timeoutMs?: number;
}

export function createNotifyActivities({ webhookUrl, timeoutMs = 10_000 }: NotifyOptions) {
  return {
    async sendReviewNotification(notification: ReviewNotification): Promise<NotificationDelivery> {
      if (!webhookUrl) {
        log.info('review notification (no webhook configured)', { ...notification });
        return { channel: 'log' };
      }
      const res = await fetch(webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': notification.idempotencyKey },
        body: JSON.stringify(notification),
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body?.cancel();
      if (res.ok) return { channel: 'webhook', status: res.status };
      const message = `notification webhook answered ${res.status} for ${notification.kind} of ${notification.reviewId}`;
      // A 4xx other than timeout/rate limit means the receiver refuses this request; retrying will not help.
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        throw ApplicationFailure.create({ type: activityErrorTypes.notify.recipientRejected, nonRetryable: true, message });
      }
      throw new Error(message);
    },
  };
}
export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
