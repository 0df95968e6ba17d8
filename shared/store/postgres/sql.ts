/**
 * What every PostgreSQL table class shares: the pool, transactions, and the advisory lock keys
 * that serialise what SQLite serialises with its single writer.
 */
import type pg from 'pg';

/** A pool or one client of it (inside a transaction). */
export type Queryable = Pick<pg.Pool, 'query'>;

/**
 * Advisory lock keys, in the two-int form (`pg_advisory_xact_lock(space, key)`): `space` marks them
 * as tandem's, so they cannot meet another application's locks on the same database, and the
 * one-bigint key space does not overlap this one.
 */
export const lockSpace = 0x74616e64; // "tand"
export const lockKeys = {
  /** Migrations: replicas starting together migrate one at a time. */
  migrations: 1,
  /** The audit chain head: one append at a time across every process, so the chain stays one. */
  auditChain: 2,
  /** Session lock of the replica whose hand-off reconciler runs. */
  handoffReconciler: 3,
} as const;

/** Per-row locks where no row exists yet to lock (`space`, `hashtext(name)`): fingerprints of a partition, an alias. */
export const rowLockSpaces = {
  fingerprints: lockSpace + 1,
  indexAlias: lockSpace + 2,
} as const;

/** Runs `work` in one transaction on one client: committed when it resolves, rolled back when it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** SQLSTATE of a unique constraint violation. */
export const uniqueViolation = '23505';

export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
