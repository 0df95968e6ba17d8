/**
 * Global setup of the `postgres` tier: one throwaway PostgreSQL server per run
 * (deploy/dev/postgres.ts: initdb in a temporary dir, loopback, an unprivileged user), stopped
 * with `pg_ctl stop` at the end. Test files get its superuser URL as `inject('postgresAdminUrl')`
 * and create a database of their own per test (test/support/postgres.ts).
 */
import type { TestProject } from 'vitest/node';
import { startPostgres, type RunningPostgres } from '../../deploy/dev/postgres.ts';

let server: RunningPostgres | undefined;

export async function setup(project: TestProject): Promise<void> {
  const t0 = performance.now();
  server = await startPostgres();
  console.log(`[postgres] server ready on 127.0.0.1:${server.port} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  project.provide('postgresAdminUrl', server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
  }
}
