/** Console sessions in PostgreSQL (see ../console-sessions.ts): every API replica sees every session. */
import type pg from 'pg';
import type { ConsoleSession, ConsoleSessionStore } from '../console-sessions.ts';

interface SessionRow {
  id_hash: string;
  key_id: string;
  csrf_secret: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

export class PostgresConsoleSessions implements ConsoleSessionStore {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async create(s: ConsoleSession): Promise<void> {
    await this.#pool.query(
      `INSERT INTO console_sessions (id_hash, key_id, csrf_secret, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      [s.idHash, s.keyId, s.csrfSecret, s.createdAt, s.lastSeenAt, s.expiresAt],
    );
  }

  async get(idHash: string): Promise<ConsoleSession | undefined> {
    const { rows } = await this.#pool.query<SessionRow>('SELECT * FROM console_sessions WHERE id_hash = $1', [idHash]);
    const row = rows[0];
    return row
      ? {
          idHash: row.id_hash,
          keyId: row.key_id,
          csrfSecret: row.csrf_secret,
          createdAt: row.created_at,
          lastSeenAt: row.last_seen_at,
          expiresAt: row.expires_at,
        }
      : undefined;
  }

  async touch(idHash: string, at: string): Promise<void> {
    await this.#pool.query('UPDATE console_sessions SET last_seen_at = $2 WHERE id_hash = $1', [idHash, at]);
  }

  async remove(idHash: string): Promise<void> {
    await this.#pool.query('DELETE FROM console_sessions WHERE id_hash = $1', [idHash]);
  }

  async removeExpired(now: string, idleBefore: string): Promise<number> {
    const result = await this.#pool.query('DELETE FROM console_sessions WHERE expires_at < $1 OR last_seen_at < $2', [now, idleBefore]);
    return result.rowCount ?? 0;
  }

  async useForm(idHash: string, formId: string): Promise<boolean> {
    const result = await this.#pool.query(
      'INSERT INTO console_form_uses (session_hash, form_id, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [idHash, formId, this.#now().toISOString()],
    );
    return result.rowCount === 1;
  }
}
