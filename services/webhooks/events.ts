/**
 * Where webhook events come from: entries of the audit log. The points that matter to other
 * services are already audited — a workflow's end (workflows/audit-interceptors.ts), a review's
 * decision and escalation (workflows/review/workflow.ts) — so an event is derived from the audit
 * entry as it is appended, in the `appendAudit` activity, not from new workflow code: recorded
 * histories replay unchanged, and the append's retries (forever, deduplicated) make emission
 * at-least-once. The event id is derived from the entry's dedupe key, so a retried append emits
 * the same event, and each subscription gets one delivery row and one delivery workflow for it.
 *
 * Airflow's side is audited by the API: a partition's failure and a DAG run's end, reported by
 * the generated DAG's callbacks (services/pipelines/run-outcomes.ts). There the callback's retries
 * make emission at-least-once: a report that finds its entry already written emits again.
 *
 * Payloads carry ids, types, statuses and departments only: never inputs, artifact text, comments
 * or failure messages (which may carry patient data).
 */
import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
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
      // A `pipeline.run` flow's DAG run is `pipeline.run.finished` when Airflow ends it (below).
      return [event(d.outcome === 'completed' ? 'workflow.completed' : 'workflow.failed', common)];
    }
    case 'pipeline-run-finished':
      return [
        event('pipeline.run.finished', {
          pipelineId: d.pipelineId,
          dagId: d.dagId,
          runId: d.runId,
          state: d.state,
          logicalDate: d.logicalDate ?? null,
          endDate: d.endDate ?? null,
          partitions: d.partitions,
        }),
      ];
    case 'partition-failed':
      return [
        event('partition.failed', {
          pipelineId: d.pipelineId,
          dagId: d.dagId,
          runId: d.runId,
          partition: d.partition,
          taskId: d.taskId,
          tryNumber: d.tryNumber ?? null,
          error: d.error,
          failedAt: d.failedAt ?? entry.at,
        }),
      ];
    default:
      return [];
  }
}

/** Starts the delivery workflow of one delivery; a start of one already started is no error. */
export type StartWebhookDelivery = (delivery: { deliveryId: string; department: string }) => Promise<void>;

/**
 * The one way a delivery workflow starts for an event, from the worker or the API, through the
 * client of the department's region (the worker's own: the emitting workflow runs in that region).
 */
export function startWebhookDeliveryWith(clientFor: (department: string) => Promise<Client>, taskQueue: string): StartWebhookDelivery {
  return async ({ deliveryId, department }) => {
    const client = await clientFor(department);
    try {
      await client.workflow.start(webhookDeliveryWorkflowName, {
        workflowId: webhookDeliveryWorkflowId(deliveryId),
        taskQueue,
        args: [{ deliveryId, department }],
        memo: { department },
        // A delivery that ran already is not run again by a re-emitted event; redelivery is the API's.
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  };
}

export interface EmittedEvent {
  eventId: string;
  eventType: WebhookEventType;
  department: string;
  subscribers: number;
}

/** Emits every event an appended audit entry stands for; what was emitted, for the caller's log. */
export async function emitEventsOfAuditEntry(store: WebhookStore, start: StartWebhookDelivery, entry: AuditEntry): Promise<EmittedEvent[]> {
  const emitted: EmittedEvent[] = [];
  for (const event of eventsOfAuditEntry(entry)) {
    const subscribers = await emitWebhookEvent(store, start, event);
    emitted.push({ eventId: event.id, eventType: event.type, department: event.department, subscribers });
  }
  return emitted;
}

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
