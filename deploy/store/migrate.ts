/**
 * Brings the store the config names up to date, and says where it stands:
 *
 *   TANDEM_DATABASE_URL=postgres://… node deploy/store/migrate.ts
 *
 * The API and the worker refuse a PostgreSQL schema older than their code instead of migrating it
 * themselves (replicas of two versions may be running); this is the one step that moves it. The
 * launcher runs it before it starts them. Without TANDEM_DATABASE_URL it migrates the SQLite file
 * of the state dir, which the processes would also do on open. Exit 0 when the schema is current,
 * 1 with one line saying why when it cannot be, 2 for a bad configuration.
 */
import { ConfigError, loadConfig } from '../../shared/config.ts';
import { migrations } from '../../shared/store/migrations.ts';
import { openStore } from '../../shared/store/open-store.ts';
import { describeDatabaseUrl } from '../../shared/store/postgres-store.ts';

if (import.meta.main) {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`[store] error: ${err.message}`);
    process.exit(2);
  }
  try {
    const store = await openStore(config, { migrate: true });
    await store.close();
    const where = config.database.url ? `PostgreSQL ${describeDatabaseUrl(config.database.url)}` : `SQLite ${config.stateDir}/tandem.db`;
    console.log(`[store] ${where} is at schema version ${migrations.length} (${migrations.at(-1)!.name})`);
  } catch (err) {
    console.error(`[store] error: ${(err as Error).message}`);
    process.exit(1);
  }
}
