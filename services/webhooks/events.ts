/**
 * Where webhook events come from: entries of the audit log. The points that matter to other
 * services are already audited — a workflow's end (workflows/audit-interceptors.ts), a review's
 * decision and escalation (workflows/review/workflow.ts) — so an event is derived from the audit
 * entry as it is appended, in the `appendAudit` activity, not from new workflow code: recorded
 * histories replay unchanged, and the append's retries (forever, deduplicated) make emission
 * at-least-once. The event id is derived from the entry's dedupe key, so a retried append emits
 * the same event, and each subscription gets one delivery row and one delivery workflow for it.
 *
 * Payloads carry ids, types, statuses and departments only: never inputs, artifact text, comments
 * or failure messages (which may carry patient data).
 */
import { createHash } from 'node:crypto';
import type { WebhookEventType } from '../../shared/contracts/webhooks.ts';
import { workflowTypes } from '../../shared/contracts/workflow-types.ts';
import type { AuditEntry } from '../../shared/store/audit-log.ts';
import type { WebhookStore } from '../../shared/store/webhooks.ts';

export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  department: string;
  /** ISO 8601: when it happened (the audit entry's time). */
  timestamp: string;
  data: Record<string, unknown>;
}

/** The delivery workflow's own end is not an event (it would deliver forever). */
export const webhookDeliveryWorkflowName = 'webhookDeliveryWorkflow';

function hashId(prefix: string, ...parts: string[]): string {
  return `${prefix}_${createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 26)}`;
}

export function webhookDeliveryId(subscriptionId: string, eventId: string): string {
  return hashId('whd', subscriptionId, eventId);
}

export function webhookDeliveryWorkflowId(deliveryId: string): string {
  return `webhook-delivery:${deliveryId}`;
}

function publicTypeOf(workflowName: unknown): string | null {
  for (const [type, def] of Object.entries(workflowTypes)) if (def.workflowName === workflowName) return type;
  return null;
}

/** The events an audit entry stands for (usually none). */
export function eventsOfAuditEntry(entry: AuditEntry): WebhookEvent[] {
  if (!entry.dedupeKey || entry.department === '*') return [];
  const d = entry.details;
  const event = (type: WebhookEventType, data: Record<string, unknown>): WebhookEvent => ({
    id: hashId('evt', type, entry.dedupeKey!),
    type,
    department: entry.department,
    timestamp: entry.at,
    data: { department: entry.department, ...data },
  });
  switch (entry.event) {
    case 'decided':
      return [
        event('review.decided', {
          reviewId: entry.workflowId,
          outcome: d.outcome ?? null,
          artifactVersion: entry.artifactVersion,
          escalationLevel: d.escalationLevel ?? 0,
          decidedAt: d.decidedAt ?? entry.at,
        }),
      ];
    case 'escalated':
      return [event('review.escalated', { reviewId: entry.workflowId, level: d.level ?? null, escalatedAt: d.at ?? entry.at })];
    case 'workflow-finished': {
      if (d.type === webhookDeliveryWorkflowName || (d.outcome !== 'completed' && d.outcome !== 'failed')) return [];
      const common = {
        workflowId: entry.workflowId,
        runId: d.runId ?? null,
        type: publicTypeOf(d.type),
        workflowType: d.type ?? null,
        status: d.outcome,
        ...(d.failureType ? { failureType: d.failureType } : {}),
      };
      const events = [event(d.outcome === 'completed' ? 'workflow.completed' : 'workflow.failed', common)];
      if (d.type === workflowTypes['pipeline.run'].workflowName) events.push(event('pipeline.run.finished', common));
      return events;
    }
    default:
      return [];
  }
}

/** Starts the delivery workflow of one delivery; a start of one already started is no error. */
export type StartWebhookDelivery = (delivery: { deliveryId: string; department: string }) => Promise<void>;

/**
 * Records one delivery per subscriber of the event and starts its delivery workflow. Idempotent:
 * the delivery id is derived from subscription and event, and the workflow id from the delivery.
 */
export async function emitWebhookEvent(store: WebhookStore, start: StartWebhookDelivery, event: WebhookEvent): Promise<number> {
  const subscribers = await store.subscribersOf(event.department, event.type);
  const payload = JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data });
  for (const s of subscribers) {
    const delivery = await store.recordDelivery({
      id: webhookDeliveryId(s.id, event.id),
      subscriptionId: s.id,
      department: event.department,
      eventId: event.id,
      eventType: event.type,
      payload,
    });
    await start({ deliveryId: delivery.id, department: event.department });
  }
  return subscribers.length;
}
