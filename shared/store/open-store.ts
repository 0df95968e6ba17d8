/**
 * The one way a process opens the store its config names: PostgreSQL when `database.url` is set
 * (`TANDEM_DATABASE_URL`), else the SQLite file in the state dir. The SQLite file migrates itself
 * on open, as it always has (one machine, one version of the code); PostgreSQL migrates only when
 * asked (`migrate`), see postgres-store.ts.
 */
import { statePaths, type TandemConfig } from '../config.ts';
import { openPostgresStore } from './postgres-store.ts';
import { openSqliteStore } from './sqlite-store.ts';
import type { Store } from './store.ts';

export interface OpenStoreOptions {
  /** Bring a PostgreSQL schema up to date (the migrate command); the API and the worker pass false. */
  migrate: boolean;
  now?: () => Date;
}

export async function openStore(config: Pick<TandemConfig, 'stateDir' | 'database'>, options: OpenStoreOptions): Promise<Store> {
  if (config.database.url) return openPostgresStore(config.database.url, { migrate: options.migrate, now: options.now });
  return openSqliteStore(statePaths(config.stateDir).store, { now: options.now });
}
