/**
 * Databases on the `postgres` tier's server (test/support/postgres-setup.ts): each test takes a
 * fresh one, so tests never see each other's rows and may run in parallel files.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createDatabase } from '../../deploy/dev/postgres.ts';

/** The URL of a new, empty database. */
export function freshPostgresDatabase(): Promise<string> {
  return createDatabase(inject('postgresAdminUrl'), `t_${randomBytes(6).toString('hex')}`);
}
