/** The payload key registry in PostgreSQL (see ../payload-key-registry.ts). */
import type pg from 'pg';
import type { PayloadKeyFingerprint, PayloadKeyRegistry } from '../payload-key-registry.ts';

export class PostgresPayloadKeyRegistry implements PayloadKeyRegistry {
  readonly #pool: pg.Pool;
  readonly #now: () => Date;

  constructor(pool: pg.Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async fingerprints(): Promise<Map<string, string>> {
    const { rows } = await this.#pool.query<{ key_id: string; fingerprint: string }>('SELECT key_id, fingerprint FROM payload_key_fingerprints');
    return new Map(rows.map((r) => [r.key_id, r.fingerprint]));
  }

  async register(keys: readonly PayloadKeyFingerprint[]): Promise<void> {
    if (keys.length === 0) return;
    // One statement: two replicas starting together both succeed, and the first fingerprint stays.
    await this.#pool.query(
      `INSERT INTO payload_key_fingerprints (key_id, fingerprint, registered_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT (key_id) DO NOTHING`,
      [keys.map((k) => k.keyId), keys.map((k) => k.fingerprint), keys.map(() => this.#now().toISOString())],
    );
  }
}
