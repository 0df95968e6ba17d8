/** Webhook subscriptions and deliveries in SQLite (see ../webhooks.ts). */
import type { DatabaseSync } from 'node:sqlite';
import type { WebhookEventType } from '../../contracts/webhooks.ts';
import type {
  NewWebhookSubscription,
  WebhookDelivery,
  WebhookDeliveryAttempt,
  WebhookDeliveryStatus,
  WebhookStore,
  WebhookSubscription,
} from '../webhooks.ts';

interface SubscriptionRow {
  id: string;
  department: string;
  url: string;
  event_types: string;
  description: string | null;
  secret: string;
  created_at: string;
  created_by: string;
  deleted_at: string | null;
}

interface DeliveryRow {
  id: string;
  subscription_id: string;
  department: string;
  event_id: string;
  event_type: string;
  payload: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_latency_ms: number | null;
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
}

interface AttemptRow {
  attempt: number;
  at: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
}

function subscriptionOf(r: SubscriptionRow): WebhookSubscription {
  return {
    id: r.id,
    department: r.department,
    url: r.url,
    eventTypes: JSON.parse(r.event_types) as WebhookEventType[],
    description: r.description,
    secret: r.secret,
    createdAt: r.created_at,
    createdBy: r.created_by,
    deletedAt: r.deleted_at,
  };
}

function deliveryOf(r: DeliveryRow): WebhookDelivery {
  return {
    id: r.id,
    subscriptionId: r.subscription_id,
    department: r.department,
    eventId: r.event_id,
    eventType: r.event_type as WebhookEventType,
    payload: r.payload,
    status: r.status as WebhookDeliveryStatus,
    attempts: r.attempts,
    lastStatusCode: r.last_status_code,
    lastLatencyMs: r.last_latency_ms,
    nextAttemptAt: r.next_attempt_at,
    createdAt: r.created_at,
    deliveredAt: r.delivered_at,
  };
}

export class SqliteWebhooks implements WebhookStore {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  async createSubscription(s: NewWebhookSubscription): Promise<WebhookSubscription> {
    const createdAt = this.#now().toISOString();
    this.#db
      .prepare(
        `INSERT INTO webhook_subscriptions (id, department, url, event_types, description, secret, created_at, created_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(s.id, s.department, s.url, JSON.stringify(s.eventTypes), s.description, s.secret, createdAt, s.createdBy);
    return { ...s, createdAt, deletedAt: null };
  }

  async getSubscription(id: string): Promise<WebhookSubscription | undefined> {
    const row = this.#db.prepare('SELECT * FROM webhook_subscriptions WHERE id = ?').get(id) as SubscriptionRow | undefined;
    return row ? subscriptionOf(row) : undefined;
  }

  async listSubscriptions(q: { department?: string; after?: { createdAt: string; id: string }; limit: number }): Promise<WebhookSubscription[]> {
    const rows = this.#db
      .prepare(
        `SELECT * FROM webhook_subscriptions
         WHERE deleted_at IS NULL AND (:department IS NULL OR department = :department)
           AND (:afterAt IS NULL OR (created_at, id) > (:afterAt, :afterId))
         ORDER BY created_at, id LIMIT :limit`,
      )
      .all({ department: q.department ?? null, afterAt: q.after?.createdAt ?? null, afterId: q.after?.id ?? null, limit: q.limit }) as unknown as SubscriptionRow[];
    return rows.map(subscriptionOf);
  }

  async subscribersOf(department: string, eventType: WebhookEventType): Promise<WebhookSubscription[]> {
    const rows = this.#db
      .prepare(
        `SELECT * FROM webhook_subscriptions
         WHERE deleted_at IS NULL AND department = ? AND EXISTS (SELECT 1 FROM json_each(event_types) WHERE value = ?)
         ORDER BY created_at, id`,
      )
      .all(department, eventType) as unknown as SubscriptionRow[];
    return rows.map(subscriptionOf);
  }

  async deleteSubscription(id: string): Promise<boolean> {
    const result = this.#db.prepare('UPDATE webhook_subscriptions SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL').run(this.#now().toISOString(), id);
    return Number(result.changes) === 1;
  }

  async recordDelivery(d: Pick<WebhookDelivery, 'id' | 'subscriptionId' | 'department' | 'eventId' | 'eventType' | 'payload'>): Promise<WebhookDelivery> {
    this.#db
      .prepare(
        `INSERT OR IGNORE INTO webhook_deliveries (id, subscription_id, department, event_id, event_type, payload, status, attempts, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?)`,
      )
      .run(d.id, d.subscriptionId, d.department, d.eventId, d.eventType, d.payload, this.#now().toISOString());
    return (await this.getDelivery(d.id))!;
  }

  async getDelivery(id: string): Promise<WebhookDelivery | undefined> {
    const row = this.#db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?').get(id) as DeliveryRow | undefined;
    return row ? deliveryOf(row) : undefined;
  }

  async deliveryCounts(): Promise<{ department: string; status: WebhookDeliveryStatus; deliveries: number; failedAttempts: number }[]> {
    // An attempt failed when the receiver did not answer 2xx (or did not answer at all).
    const rows = this.#db
      .prepare(
        `SELECT d.department AS department, d.status AS status, COUNT(DISTINCT d.id) AS deliveries,
                COUNT(a.delivery_id) AS failedAttempts
         FROM webhook_deliveries d
         LEFT JOIN webhook_delivery_attempts a
           ON a.delivery_id = d.id AND (a.status_code IS NULL OR a.status_code < 200 OR a.status_code >= 300)
         GROUP BY d.department, d.status`,
      )
      .all() as { department: string; status: WebhookDeliveryStatus; deliveries: number; failedAttempts: number }[];
    return rows.map((r) => ({ ...r, deliveries: Number(r.deliveries), failedAttempts: Number(r.failedAttempts) }));
  }

  async listDeliveries(q: { subscriptionId: string; before?: { createdAt: string; id: string }; limit: number }): Promise<WebhookDelivery[]> {
    const rows = this.#db
      .prepare(
        `SELECT * FROM webhook_deliveries
         WHERE subscription_id = :sub AND (:beforeAt IS NULL OR (created_at, id) < (:beforeAt, :beforeId))
         ORDER BY created_at DESC, id DESC LIMIT :limit`,
      )
      .all({ sub: q.subscriptionId, beforeAt: q.before?.createdAt ?? null, beforeId: q.before?.id ?? null, limit: q.limit }) as unknown as DeliveryRow[];
    return rows.map(deliveryOf);
  }

  async recordAttempt(
    deliveryId: string,
    a: WebhookDeliveryAttempt,
    outcome: { status: WebhookDeliveryStatus; nextAttemptAt: string | null },
  ): Promise<void> {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      this.#db
        .prepare('INSERT INTO webhook_delivery_attempts (delivery_id, attempt, at, status_code, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?)')
        .run(deliveryId, a.attempt, a.at, a.statusCode, a.latencyMs, a.error);
      this.#db
        .prepare(
          `UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?, last_status_code = ?, last_latency_ms = ?, next_attempt_at = ?,
             delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END
           WHERE id = ?`,
        )
        .run(outcome.status, a.statusCode, a.latencyMs, outcome.nextAttemptAt, outcome.status, a.at, deliveryId);
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async setDeliveryStatus(deliveryId: string, status: WebhookDeliveryStatus): Promise<void> {
    this.#db.prepare('UPDATE webhook_deliveries SET status = ?, next_attempt_at = NULL WHERE id = ?').run(status, deliveryId);
  }

  async attemptsOf(deliveryId: string): Promise<WebhookDeliveryAttempt[]> {
    const rows = this.#db
      .prepare('SELECT attempt, at, status_code, latency_ms, error FROM webhook_delivery_attempts WHERE delivery_id = ? ORDER BY seq')
      .all(deliveryId) as unknown as AttemptRow[];
    return rows.map((r) => ({ attempt: r.attempt, at: r.at, statusCode: r.status_code, latencyMs: r.latency_ms, error: r.error }));
  }
}
