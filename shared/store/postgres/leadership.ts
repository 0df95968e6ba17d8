/**
 * Leadership on PostgreSQL (see ../leadership.ts): `pg_try_advisory_lock` on a dedicated client,
 * held for as long as that session lives. Each `holds()` checks the session with a query, so a
 * holder whose connection broke learns it lost the lock (the server released it when the session
 * ended) instead of running beside the new holder.
 */
import pg from 'pg';
import type { Leadership, SingletonJob } from '../leadership.ts';
import { lockKeys, lockSpace } from './sql.ts';

const jobKeys: Record<SingletonJob, number> = { 'handoff-reconciler': lockKeys.handoffReconciler };

export class PostgresLeadership implements Leadership {
  readonly #url: string;
  readonly #key: number;
  #client: pg.Client | undefined;
  #held = false;
  #released = false;

  constructor(url: string, job: SingletonJob) {
    this.#url = url;
    this.#key = jobKeys[job];
  }

  async holds(): Promise<boolean> {
    if (this.#released) return false;
    try {
      const client = await this.#session();
      if (this.#held) {
        // Still our session (a broken one throws here): the lock is still ours.
        await client.query('SELECT 1');
        return true;
      }
      const { rows } = await client.query<{ taken: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS taken', [lockSpace, this.#key]);
      this.#held = rows[0]!.taken;
      return this.#held;
    } catch {
      await this.#drop();
      return false;
    }
  }

  async release(): Promise<void> {
    this.#released = true;
    await this.#drop();
  }

  async #session(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 5000 });
    // A dropped connection is an 'error' event; the next holds() finds it out by its query.
    client.on('error', () => {});
    client.on('end', () => {
      if (this.#client === client) {
        this.#client = undefined;
        this.#held = false;
      }
    });
    await client.connect();
    this.#client = client;
    return client;
  }

  async #drop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#held = false;
    // Ending the session releases a session advisory lock with it.
    await client?.end().catch(() => {});
  }
}
