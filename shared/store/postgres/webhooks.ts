/** Webhook subscriptions and deliveries in PostgreSQL (see ../webhooks.ts). */
import type pg from 'pg';
import type { WebhookEventType } from '../../contracts/webhooks.ts';
import type {
  NewWebhookSubscription,
  WebhookDelivery,
  WebhookDeliveryAttempt,
  WebhookDeliveryStatus,
  WebhookStore,
  WebhookSubscription,
} from '../webhooks.ts';
import { inTransaction } from './sql.ts';

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

export class PostgresWebhooks implements WebhookStore {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async createSubscription(s: NewWebhookSubscription): Promise<WebhookSubscription> {
    const createdAt = this.#now().toISOString();
    await this.#pool.query(
      `INSERT INTO webhook_subscriptions (id, department, url, event_types, description, secret, created_at, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [s.id, s.department, s.url, JSON.stringify(s.eventTypes), s.description, s.secret, createdAt, s.createdBy],
    );
    return { ...s, createdAt, deletedAt: null };
  }

  async getSubscription(id: string): Promise<WebhookSubscription | undefined> {
    const { rows } = await this.#pool.query<SubscriptionRow>('SELECT * FROM webhook_subscriptions WHERE id = $1', [id]);
    return rows[0] && subscriptionOf(rows[0]);
  }

  async listSubscriptions(q: { department?: string; after?: { createdAt: string; id: string }; limit: number }): Promise<WebhookSubscription[]> {
    const { rows } = await this.#pool.query<SubscriptionRow>(
      `SELECT * FROM webhook_subscriptions
       WHERE deleted_at IS NULL AND ($1::text IS NULL OR department = $1)
         AND ($2::text IS NULL OR (created_at, id) > ($2, $3::text))
       ORDER BY created_at, id LIMIT $4`,
      [q.department ?? null, q.after?.createdAt ?? null, q.after?.id ?? null, q.limit],
    );
    return rows.map(subscriptionOf);
  }

  async subscribersOf(department: string, eventType: WebhookEventType): Promise<WebhookSubscription[]> {
    const { rows } = await this.#pool.query<SubscriptionRow>(
      `SELECT * FROM webhook_subscriptions
       WHERE deleted_at IS NULL AND department = $1 AND event_types::jsonb ? $2
       ORDER BY created_at, id`,
      [department, eventType],
    );
    return rows.map(subscriptionOf);
  }

  async deleteSubscription(id: string): Promise<boolean> {
    const result = await this.#pool.query('UPDATE webhook_subscriptions SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL', [
      id,
      this.#now().toISOString(),
    ]);
    return result.rowCount === 1;
  }

  async recordDelivery(d: Pick<WebhookDelivery, 'id' | 'subscriptionId' | 'department' | 'eventId' | 'eventType' | 'payload'>): Promise<WebhookDelivery> {
    await this.#pool.query(
      `INSERT INTO webhook_deliveries (id, subscription_id, department, event_id, event_type, payload, status, attempts, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7) ON CONFLICT DO NOTHING`,
      [d.id, d.subscriptionId, d.department, d.eventId, d.eventType, d.payload, this.#now().toISOString()],
    );
    return (await this.getDelivery(d.id))!;
  }

  async getDelivery(id: string): Promise<WebhookDelivery | undefined> {
    const { rows } = await this.#pool.query<DeliveryRow>('SELECT * FROM webhook_deliveries WHERE id = $1', [id]);
    return rows[0] && deliveryOf(rows[0]);
  }

  async deliveryCounts(): Promise<{ department: string; status: WebhookDeliveryStatus; deliveries: number; failedAttempts: number }[]> {
    // An attempt failed when the receiver did not answer 2xx (or did not answer at all).
    const { rows } = await this.#pool.query<{ department: string; status: WebhookDeliveryStatus; deliveries: string; failed_attempts: string }>(
      `SELECT d.department AS department, d.status AS status, COUNT(DISTINCT d.id) AS deliveries,
              COUNT(a.delivery_id) AS failed_attempts
       FROM webhook_deliveries d
       LEFT JOIN webhook_delivery_attempts a
         ON a.delivery_id = d.id AND (a.status_code IS NULL OR a.status_code < 200 OR a.status_code >= 300)
       GROUP BY d.department, d.status`,
    );
    return rows.map((r) => ({ department: r.department, status: r.status, deliveries: Number(r.deliveries), failedAttempts: Number(r.failed_attempts) }));
  }

  async listDeliveries(q: { subscriptionId: string; before?: { createdAt: string; id: string }; limit: number }): Promise<WebhookDelivery[]> {
    const { rows } = await this.#pool.query<DeliveryRow>(
      `SELECT * FROM webhook_deliveries
       WHERE subscription_id = $1 AND ($2::text IS NULL OR (created_at, id) < ($2, $3::text))
       ORDER BY created_at DESC, id DESC LIMIT $4`,
      [q.subscriptionId, q.before?.createdAt ?? null, q.before?.id ?? null, q.limit],
    );
    return rows.map(deliveryOf);
  }

  async recordAttempt(
    deliveryId: string,
    a: WebhookDeliveryAttempt,
    outcome: { status: WebhookDeliveryStatus; nextAttemptAt: string | null },
  ): Promise<void> {
    await inTransaction(this.#pool, async (db) => {
      await db.query('INSERT INTO webhook_delivery_attempts (delivery_id, attempt, at, status_code, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6)', [
        deliveryId,
        a.attempt,
        a.at,
        a.statusCode,
        a.latencyMs,
        a.error,
      ]);
      await db.query(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, status = $2, last_status_code = $3, last_latency_ms = $4, next_attempt_at = $5,
           delivered_at = CASE WHEN $2 = 'delivered' THEN $6 ELSE delivered_at END
         WHERE id = $1`,
        [deliveryId, outcome.status, a.statusCode, a.latencyMs, outcome.nextAttemptAt, a.at],
      );
    });
  }

  async setDeliveryStatus(deliveryId: string, status: WebhookDeliveryStatus): Promise<void> {
    await this.#pool.query('UPDATE webhook_deliveries SET status = $2, next_attempt_at = NULL WHERE id = $1', [deliveryId, status]);
  }

  async attemptsOf(deliveryId: string): Promise<WebhookDeliveryAttempt[]> {
    const { rows } = await this.#pool.query<AttemptRow>(
      'SELECT attempt, at, status_code, latency_ms, error FROM webhook_delivery_attempts WHERE delivery_id = $1 ORDER BY seq',
      [deliveryId],
    );
    return rows.map((r) => ({ attempt: r.attempt, at: r.at, statusCode: r.status_code, latencyMs: r.latency_ms, error: r.error }));
  }
}
