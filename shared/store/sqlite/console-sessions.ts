/** Console sessions in SQLite (see ../console-sessions.ts). */
import type { DatabaseSync } from 'node:sqlite';
import type { ConsoleSession, ConsoleSessionStore } from '../console-sessions.ts';

interface SessionRow {
  id_hash: string;
  key_id: string;
  csrf_secret: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

export class SqliteConsoleSessions implements ConsoleSessionStore {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  async create(s: ConsoleSession): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO console_sessions (id_hash, key_id, csrf_secret, created_at, last_seen_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(s.idHash, s.keyId, s.csrfSecret, s.createdAt, s.lastSeenAt, s.expiresAt);
  }

  async get(idHash: string): Promise<ConsoleSession | undefined> {
    const row = this.#db.prepare('SELECT * FROM console_sessions WHERE id_hash = ?').get(idHash) as SessionRow | undefined;
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
    this.#db.prepare('UPDATE console_sessions SET last_seen_at = ? WHERE id_hash = ?').run(at, idHash);
  }

  async remove(idHash: string): Promise<void> {
    this.#db.prepare('DELETE FROM console_sessions WHERE id_hash = ?').run(idHash);
  }

  async removeExpired(now: string, idleBefore: string): Promise<number> {
    const result = this.#db.prepare('DELETE FROM console_sessions WHERE expires_at < ? OR last_seen_at < ?').run(now, idleBefore);
    return Number(result.changes);
  }

  async useForm(idHash: string, formId: string): Promise<boolean> {
    const result = this.#db
      .prepare('INSERT OR IGNORE INTO console_form_uses (session_hash, form_id, used_at) VALUES (?, ?, ?)')
      .run(idHash, formId, this.#now().toISOString());
    return Number(result.changes) === 1;
  }
}
