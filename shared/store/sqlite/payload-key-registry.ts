/** The payload key registry in SQLite (see ../payload-key-registry.ts). */
import type { DatabaseSync } from 'node:sqlite';
import type { PayloadKeyFingerprint, PayloadKeyRegistry } from '../payload-key-registry.ts';

export class SqlitePayloadKeyRegistry implements PayloadKeyRegistry {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  async fingerprints(): Promise<Map<string, string>> {
    const rows = this.#db.prepare('SELECT key_id, fingerprint FROM payload_key_fingerprints').all() as { key_id: string; fingerprint: string }[];
    return new Map(rows.map((r) => [r.key_id, r.fingerprint]));
  }

  async register(keys: readonly PayloadKeyFingerprint[]): Promise<void> {
    const insert = this.#db.prepare('INSERT INTO payload_key_fingerprints (key_id, fingerprint, registered_at) VALUES (?, ?, ?) ON CONFLICT (key_id) DO NOTHING');
    const at = this.#now().toISOString();
    for (const k of keys) insert.run(k.keyId, k.fingerprint, at);
  }
}
