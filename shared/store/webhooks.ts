/**
 * Webhook subscriptions and the delivery log (see shared/contracts/webhooks.ts). A subscription's
 * signing secret is kept in the store because every delivery needs it (unlike an API key, which
 * only needs to be recognised); it leaves the store only in the create response and in the
 * signature. A deleted subscription is kept (marked deleted) so its delivery log still resolves.
 * A delivery is one event for one subscription; its id is derived from both, so emitting the same
 * event twice records one delivery. Pure: types only.
 */
import type { WebhookEventType } from '../contracts/webhooks.ts';

export interface WebhookSubscription {
  id: string;
  department: string;
  url: string;
  eventTypes: WebhookEventType[];
  description: string | null;
  secret: string;
  createdAt: string;
  createdBy: string;
  deletedAt: string | null;
}

export type NewWebhookSubscription = Omit<WebhookSubscription, 'createdAt' | 'deletedAt'>;

export type WebhookDeliveryStatus = 'pending' | 'retrying' | 'delivered' | 'failed' | 'cancelled';

export interface WebhookDelivery {
  id: string;
  subscriptionId: string;
  department: string;
  eventId: string;
  eventType: WebhookEventType;
  /** The exact JSON body sent on every attempt. */
  payload: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  lastStatusCode: number | null;
  lastLatencyMs: number | null;
  nextAttemptAt: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

export interface WebhookDeliveryAttempt {
  attempt: number;
  at: string;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

export interface WebhookStore {
  createSubscription(s: NewWebhookSubscription): Promise<WebhookSubscription>;
  /** Deleted ones too (callers check `deletedAt`). */
  getSubscription(id: string): Promise<WebhookSubscription | undefined>;
  /** Live subscriptions, oldest first; `department` filters (a department-scoped caller passes its own). */
  listSubscriptions(q: { department?: string; after?: { createdAt: string; id: string }; limit: number }): Promise<WebhookSubscription[]>;
  /** Live subscriptions of `department` that want `eventType`. */
  subscribersOf(department: string, eventType: WebhookEventType): Promise<WebhookSubscription[]>;
  /** Marks it deleted; true when it was live. */
  deleteSubscription(id: string): Promise<boolean>;

  /** Idempotent by `id`: a second record of the same delivery returns the first. */
  recordDelivery(d: Pick<WebhookDelivery, 'id' | 'subscriptionId' | 'department' | 'eventId' | 'eventType' | 'payload'>): Promise<WebhookDelivery>;
  getDelivery(id: string): Promise<WebhookDelivery | undefined>;
  /** Newest first. */
  listDeliveries(q: { subscriptionId: string; before?: { createdAt: string; id: string }; limit: number }): Promise<WebhookDelivery[]>;
  /** One attempt: appended to the attempt log, and the delivery's status moved. */
  recordAttempt(
    deliveryId: string,
    attempt: WebhookDeliveryAttempt,
    outcome: { status: WebhookDeliveryStatus; nextAttemptAt: string | null },
  ): Promise<void>;
  setDeliveryStatus(deliveryId: string, status: WebhookDeliveryStatus): Promise<void>;
  attemptsOf(deliveryId: string): Promise<WebhookDeliveryAttempt[]>;
  /** Deliveries by department and status, and attempts that failed, for `/metrics`. */
  deliveryCounts(): Promise<{ department: string; status: WebhookDeliveryStatus; deliveries: number; failedAttempts: number }[]>;
}
