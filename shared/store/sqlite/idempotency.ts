import type { DatabaseSync } from 'node:sqlite';
import type { IdempotencyClaim, IdempotencyClaimRequest, IdempotencyStore } from '../idempotency.ts';

interface IdempotencyRow {
  fingerprint: string;
  state: 'in-flight' | 'done';
  status: number | null;
  content_type: string | null;
  body: string | null;
  created_at: string;
  expires_at: string;
}

export class SqliteIdempotencyStore implements IdempotencyStore {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  async claim(request: IdempotencyClaimRequest): Promise<IdempotencyClaim> {
    const now = this.#now();
    // One write transaction, so two API processes claiming the same key cannot both win.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const row = this.#db
        .prepare('SELECT * FROM idempotency_keys WHERE key_id = ? AND idempotency_key = ?')
        .get(request.keyId, request.idempotencyKey) as IdempotencyRow | undefined;
      const expired = row !== undefined && Date.parse(row.expires_at) <= now.getTime();
      const abandoned = row?.state === 'in-flight' && now.getTime() - Date.parse(row.created_at) > request.inFlightTimeoutMs;
      let claim: IdempotencyClaim;
      if (row && !expired && !abandoned) {
        if (row.fingerprint !== request.fingerprint) claim = { kind: 'mismatch' };
        else if (row.state === 'in-flight') claim = { kind: 'in-flight' };
        else claim = { kind: 'replay', status: row.status!, contentType: row.content_type, body: row.body ?? '' };
      } else {
        this.#db
          .prepare(
            `INSERT INTO idempotency_keys (key_id, idempotency_key, fingerprint, state, created_at, expires_at)
             VALUES (?, ?, ?, 'in-flight', ?, ?)
             ON CONFLICT (key_id, idempotency_key) DO UPDATE SET
               fingerprint = excluded.fingerprint, state = 'in-flight', status = NULL, content_type = NULL,
               body = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at`,
          )
          .run(request.keyId, request.idempotencyKey, request.fingerprint, now.toISOString(), new Date(now.getTime() + request.ttlMs).toISOString());
        claim = { kind: 'claimed' };
      }
      this.#db.exec('COMMIT');
      return claim;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async complete(keyId: string, idempotencyKey: string, response: { status: number; contentType: string | null; body: string }): Promise<void> {
    this.#db
      .prepare(
        `UPDATE idempotency_keys SET state = 'done', status = ?, content_type = ?, body = ?
         WHERE key_id = ? AND idempotency_key = ? AND state = 'in-flight'`,
      )
      .run(response.status, response.contentType, response.body, keyId, idempotencyKey);
  }

  async release(keyId: string, idempotencyKey: string): Promise<void> {
    this.#db.prepare(`DELETE FROM idempotency_keys WHERE key_id = ? AND idempotency_key = ? AND state = 'in-flight'`).run(keyId, idempotencyKey);
  }

  async purgeExpired(): Promise<number> {
    const result = this.#db.prepare('DELETE FROM idempotency_keys WHERE expires_at <= ?').run(this.#now().toISOString());
    return Number(result.changes);
  }
}
