/**
 * A real app on a real SQLite store in a temp dir, with fake Temporal and Airflow, for tests that
 * use `app.inject()`. One key per role is created so authorisation can be tested for all of them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { loadConfig, statePaths, type TandemConfig } from '../../shared/config.ts';
import { newApiKey } from '../../shared/credentials.ts';
import { roles, type Role } from '../../shared/contracts/roles.ts';
import { hashApiKey } from '../../shared/store/api-key-hash.ts';
import { openSqliteStore, type SqliteStore } from '../../shared/store/sqlite-store.ts';
import { buildApp, type BuildAppOptions } from '../../services/api/app.ts';
import type { AirflowClient } from '../../services/airflow/client.ts';
import type { AirflowReadinessProbe } from '../../services/api/plugins/app/airflow.ts';
import type { TemporalGateway } from '../../services/api/plugins/app/temporal.ts';
import type { RegionClient } from '../../services/flows/regional-temporal.ts';
import { localRegion } from '../../shared/regions.ts';
import type { TenantCluster } from '../../services/tenants/cluster.ts';

export interface FakeDependency {
  /** Replace to make the next pings fail or hang. */
  ping: (signal: AbortSignal) => Promise<void>;
  closed: boolean;
}

export interface AppFixture {
  app: FastifyInstance;
  store: SqliteStore;
  config: TandemConfig;
  temporal: FakeDependency;
  airflow: FakeDependency;
  /** Plaintext key per role, each with department `*`. */
  keys: Record<Role, string>;
  keyIds: Record<Role, string>;
  headers(role: Role): { authorization: string };
  close(): Promise<void>;
}

export interface AppFixtureOptions extends BuildAppOptions {
  env?: Record<string, string>;
  logger?: FastifyBaseLogger;
  readinessTimeoutMs?: number;
  /** A real SDK client (e.g. a test environment's) for routes that talk to workflows. */
  temporalClient?: Client;
  /** A (fake) Airflow REST client for routes that deploy pipelines or trigger runs. */
  airflowClient?: AirflowClient;
  /** The Temporal client's namespace has the TandemDepartment search attribute (a dev server that registered it). */
  departmentSearchAttribute?: boolean;
  /** Data-residency regions besides `local` (whose client is `temporalClient`), each with its own client. */
  regions?: RegionClient[];
  /** The Kubernetes cluster tenants are applied to (a real one in the kubernetes tier). */
  tenantCluster?: TenantCluster;
  /** Reuse this state dir (its store survives `close()`), e.g. to restart the API over the same store. */
  stateDir?: string;
}

/** A region the API serves, for tests that store tenants in it but start no workflow there. */
export function regionWithoutTemporal(region: string): RegionClient {
  return { region, client: {} as Client, departmentSearchAttribute: false };
}

export async function appFixture(options: AppFixtureOptions = {}): Promise<AppFixture> {
  const dir = options.stateDir ?? mkdtempSync(path.join(tmpdir(), 'tandem-api-'));
  // The hand-off reconciler runs only when a test asks (a tick, or a schedule in `env`).
  const env = { TANDEM_STATE_DIR: dir, TANDEM_LOG_LEVEL: 'silent', TANDEM_HANDOFF_RECONCILE_SCHEDULE: 'off', ...options.env };
  const config = loadConfig({ cwd: dir, env });
  const store = openSqliteStore(statePaths(dir).store);

  const keys = {} as Record<Role, string>;
  const keyIds = {} as Record<Role, string>;
  for (const role of roles) {
    keys[role] = newApiKey('key');
    const record = await store.createApiKey({ name: `test-${role}`, role, department: '*', keyHash: hashApiKey(keys[role]) });
    keyIds[role] = record.id;
  }

  const temporal: FakeDependency = { ping: async () => {}, closed: false };
  const airflow: FakeDependency = { ping: async () => {}, closed: false };
  const temporalGateway: TemporalGateway = {
    regions: [
      // Routes that reach the SDK get a real client only when the test passes one.
      { region: localRegion, client: options.temporalClient ?? ({} as Client), departmentSearchAttribute: options.departmentSearchAttribute ?? false },
      ...(options.regions ?? []),
    ],
    taskQueue: 'tandem-test',
    ping: (signal) => temporal.ping(signal),
    close: async () => {
      temporal.closed = true;
    },
  };
  const airflowProbe: AirflowReadinessProbe = { ping: (signal) => airflow.ping(signal) };

  const app = await buildApp(
    {
      config,
      store,
      temporal: temporalGateway,
      airflowProbe,
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.readinessTimeoutMs ? { readinessTimeoutMs: options.readinessTimeoutMs } : {}),
      ...(options.airflowClient ? { airflowClient: options.airflowClient } : {}),
      ...(options.tenantCluster ? { tenantCluster: options.tenantCluster } : {}),
    },
    options,
  );
  return {
    app,
    store,
    config,
    temporal,
    airflow,
    keys,
    keyIds,
    headers: (role) => ({ authorization: `Bearer ${keys[role]}` }),
    async close() {
      await app.close();
      if (!options.stateDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
