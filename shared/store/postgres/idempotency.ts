/**
 * Idempotency-Key records in PostgreSQL (see ../idempotency.ts). A claim is one transaction: the
 * insert either creates the row (claimed) or — when a replica holds or held the key — waits for
 * that replica's insert to commit and does nothing; the row is then read FOR UPDATE, so of two
 * replicas racing for one key exactly one is told `claimed`.
 */
import type pg from 'pg';
import type { IdempotencyClaim, IdempotencyClaimRequest, IdempotencyStore } from '../idempotency.ts';
import { inTransaction } from './sql.ts';

interface IdempotencyRow {
  fingerprint: string;
  state: 'in-flight' | 'done';
  status: number | null;
  content_type: string | null;
  body: string | null;
  created_at: string;
  expires_at: string;
}

export class PostgresIdempotencyStore implements IdempotencyStore {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async claim(request: IdempotencyClaimRequest): Promise<IdempotencyClaim> {
    const now = this.#now();
    const createdAt = now.toISOString();
    const expiresAt = new Date(now.getTime() + request.ttlMs).toISOString();
    return inTransaction(this.#pool, async (db) => {
      const inserted = await db.query(
        `INSERT INTO idempotency_keys (key_id, idempotency_key, fingerprint, state, created_at, expires_at)
         VALUES ($1, $2, $3, 'in-flight', $4, $5) ON CONFLICT (key_id, idempotency_key) DO NOTHING`,
        [request.keyId, request.idempotencyKey, request.fingerprint, createdAt, expiresAt],
      );
      if (inserted.rowCount === 1) return { kind: 'claimed' };
      const row = (
        await db.query<IdempotencyRow>('SELECT * FROM idempotency_keys WHERE key_id = $1 AND idempotency_key = $2 FOR UPDATE', [
          request.keyId,
          request.idempotencyKey,
        ])
      ).rows[0]!;
      const expired = Date.parse(row.expires_at) <= now.getTime();
      const abandoned = row.state === 'in-flight' && now.getTime() - Date.parse(row.created_at) > request.inFlightTimeoutMs;
      if (!expired && !abandoned) {
        if (row.fingerprint !== request.fingerprint) return { kind: 'mismatch' };
        if (row.state === 'in-flight') return { kind: 'in-flight' };
        return { kind: 'replay', status: row.status!, contentType: row.content_type, body: row.body ?? '' };
      }
      await db.query(
        `UPDATE idempotency_keys SET fingerprint = $3, state = 'in-flight', status = NULL, content_type = NULL, body = NULL,
           created_at = $4, expires_at = $5
         WHERE key_id = $1 AND idempotency_key = $2`,
        [request.keyId, request.idempotencyKey, request.fingerprint, createdAt, expiresAt],
      );
      return { kind: 'claimed' };
    });
  }

  async complete(keyId: string, idempotencyKey: string, response: { status: number; contentType: string | null; body: string }): Promise<void> {
    await this.#pool.query(
      `UPDATE idempotency_keys SET state = 'done', status = $3, content_type = $4, body = $5
       WHERE key_id = $1 AND idempotency_key = $2 AND state = 'in-flight'`,
      [keyId, idempotencyKey, response.status, response.contentType, response.body],
    );
  }

  async release(keyId: string, idempotencyKey: string): Promise<void> {
    await this.#pool.query(`DELETE FROM idempotency_keys WHERE key_id = $1 AND idempotency_key = $2 AND state = 'in-flight'`, [keyId, idempotencyKey]);
  }

  async purgeExpired(): Promise<number> {
    const result = await this.#pool.query('DELETE FROM idempotency_keys WHERE expires_at <= $1', [this.#now().toISOString()]);
    return result.rowCount ?? 0;
  }
}
