/**
 * Leadership of a job that one process of the deployment runs at a time (the hand-off
 * reconciler): every replica asks `holds()` before each run, and the one holding it runs. On
 * PostgreSQL it is a session advisory lock on a connection of its own, so it ends with the
 * process (or its connection): when the holder dies, another replica's next ask takes it — within
 * one tick of the schedule. Pure: types only.
 */

/** Jobs that run on one replica at a time; each is one lock key (postgres/sql.ts). */
export type SingletonJob = 'handoff-reconciler';

export interface Leadership {
  /** Whether this process holds it now, taking it when it is free. Never rejects: trouble is `false`. */
  holds(): Promise<boolean>;
  /** Lets another process take it. Idempotent; the store's close releases it too. */
  release(): Promise<void>;
}
