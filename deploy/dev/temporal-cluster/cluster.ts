/**
 * The Temporal cluster of the `cluster` profile: temporal-server v1.32.2 built from
 * go.temporal.io/server (build.sh, cached outside the repository), on PostgreSQL (the profile's
 * server, `postgres12` plugin) with 4 history shards, as four supervised processes — frontend,
 * history, matching and worker — each with its own gRPC and membership port on 127.0.0.1, found by
 * each other through the membership ring the server keeps in the `temporal` database.
 *
 * What a start does, in order:
 * 1. creates the `temporal` and `temporal_visibility` databases when missing, and applies their
 *    schema with temporal-sql-tool (setup-schema, then update-schema from the versioned files
 *    shipped with the same module). A schema the binary already expects is left alone, so a second
 *    start writes nothing. A schema older than the binary is refused unless an upgrade was asked
 *    for (back up first: an upgrade cannot be undone), a newer one always: either way nothing is
 *    written, and the error says which fix applies;
 * 2. writes `config.yaml` (0600: it holds the database password) into its directory;
 * 3. starts history, matching, then the frontend — ready once it answers gRPC and the namespaces
 *    tandem uses exist (it registers them) — then the worker service, one after the other.
 *
 * The frontend listens on `temporal.port` (and `temporal.httpPort`), so every tandem process
 * reaches it exactly as it reaches the dev server; the other six ports follow
 * `temporal.clusterPortBase`. No Web UI runs (it is a separate project, temporalio/ui).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import pg from 'pg';
import { stringify } from 'yaml';
import { connectionProblem, describeDatabaseUrl } from '../../../shared/store/postgres-store.ts';
import type { PrepareContext, PrepareStep, ProcessSpec, RunCommand } from '../process-spec.ts';
import { runCommand, StackError, Supervisor, type ProgressLog } from '../supervisor.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const buildScript = path.join(here, 'build.sh');
const host = '127.0.0.1';

export const temporalServerVersion = '1.32.2';
/** More than one, as a cluster has; fixed for the life of the database (Temporal cannot reshard). */
export const numHistoryShards = 4;
export interface TemporalDatabases {
  default: string;
  visibility: string;
}
export const temporalDatabases: TemporalDatabases = { default: 'temporal', visibility: 'temporal_visibility' };

/** A StackError, so the launcher shows it as the one line it is. */
export class TemporalClusterError extends StackError {
  override name = 'TemporalClusterError';
}

/** Where build.sh puts (or finds) `bin/` and `schema/`; asks the script so the path is written once. */
export function temporalServerDir(): string {
  return execFileSync('sh', [buildScript, '--print-dir'], { encoding: 'utf8' }).trim();
}

/** Builds (or finds in the cache) temporal-server and temporal-sql-tool; cold ~4 min on 2 cores. */
export function temporalBuildStep(): PrepareStep {
  return {
    name: `building temporal-server v${temporalServerVersion} (cached; cold ~4 min)`,
    run: async (context) => {
      const exec = context?.exec ?? runCommand;
      const out = await exec('sh', [buildScript], { timeoutMs: 60 * 60_000 });
      for (const line of `${out.stdout}${out.stderr}`.split('\n')) if (line.startsWith('[temporal-server]')) console.log(line);
    },
  };
}

export interface TemporalClusterPorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
}

/** The frontend on the ports the dev server would use; the rest from `base` up (7 ports). */
export function clusterPorts(frontend: number, frontendHttp: number, base: number): TemporalClusterPorts {
  return {
    frontend,
    frontendHttp,
    frontendMembership: base,
    history: base + 1,
    historyMembership: base + 2,
    matching: base + 3,
    matchingMembership: base + 4,
    worker: base + 5,
    workerMembership: base + 6,
  };
}

export interface TemporalClusterOptions {
  /** A PostgreSQL URL whose user may create databases; its database part is ignored. */
  postgresUrl: string;
  ports: TemporalClusterPorts;
  /** config.yaml and the dynamic config go here. */
  dir: string;
  /** Registered at start when missing: tandem's, and each data-residency region's served here. */
  namespaces: string[];
  /** An older schema is upgraded instead of refused. */
  upgradeSchema?: boolean;
  /** Default `temporal` and `temporal_visibility`; tests sharing one server take names of their own. */
  databases?: TemporalDatabases;
  /** Dynamic config values by key, on top of (or over) tandem's; each applies to every namespace. */
  dynamicConfig?: Record<string, string | number | boolean>;
}

/** The four services, in the order they start. */
export const temporalServices = ['history', 'matching', 'frontend', 'worker'] as const;
export type TemporalService = (typeof temporalServices)[number];

function databaseUrl(postgresUrl: string, database: string): string {
  const url = new URL(postgresUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

function datastore(postgresUrl: string, database: string, maxConns: number) {
  const url = new URL(postgresUrl);
  return {
    sql: {
      pluginName: 'postgres12',
      databaseName: database,
      connectAddr: `${url.hostname}:${url.port || '5432'}`,
      connectProtocol: 'tcp',
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  };
}

/** The server's config file (YAML), for every service: each process starts only its own. */
export function temporalServerConfig(options: Pick<TemporalClusterOptions, 'postgresUrl' | 'ports' | 'dir' | 'databases'>): string {
  const p = options.ports;
  const databases = options.databases ?? temporalDatabases;
  const rpc = (grpcPort: number, membershipPort: number, extra: Record<string, unknown> = {}) => ({
    rpc: { grpcPort, membershipPort, bindOnIP: host, ...extra },
  });
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards,
      datastores: {
        // Per process: four processes share the server's max_connections (200).
        'postgres-default': datastore(options.postgresUrl, databases.default, 20),
        'postgres-visibility': datastore(options.postgresUrl, databases.visibility, 5),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: host },
      // pprof off (port 0); no metrics listener: four processes would need four more ports.
      pprof: { port: 0 },
    },
    services: {
      frontend: rpc(p.frontend, p.frontendMembership, { httpPort: p.frontendHttp }),
      history: rpc(p.history, p.historyMembership),
      matching: rpc(p.matching, p.matchingMembership),
      worker: rpc(p.worker, p.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `${host}:${p.frontend}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: path.join(options.dir, 'dynamicconfig.yaml'), pollInterval: '10s' },
  };
  return stringify(config);
}

/**
 * Dynamic config: a namespace registered at start is visible to every service within a second
 * instead of the default 10 s, so the worker's first poll does not meet "namespace not found".
 */
export function temporalDynamicConfig(extra: Record<string, string | number | boolean> = {}): string {
  const values = { 'system.namespaceCacheRefreshInterval': '1s', ...extra };
  return stringify(Object.fromEntries(Object.entries(values).map(([key, value]) => [key, [{ value }]])));
}

// --- schema ----------------------------------------------------------------------------------

export interface SchemaVersions {
  default: string;
  visibility: string;
}

/** The versions this binary expects, read from the schema package shipped with it (version.go). */
export function expectedSchemaVersions(serverDir = temporalServerDir()): SchemaVersions {
  const file = path.join(serverDir, 'schema', 'postgresql', 'v12', 'version.go');
  if (!existsSync(file)) throw new TemporalClusterError(`${file} is missing; run \`sh deploy/dev/temporal-cluster/build.sh\``);
  const source = readFileSync(file, 'utf8');
  const read = (name: string) => {
    const match = new RegExp(`const ${name} = "([0-9.]+)"`).exec(source);
    if (!match) throw new TemporalClusterError(`${file} has no ${name}; rebuild with \`sh deploy/dev/temporal-cluster/build.sh\``);
    return match[1]!;
  };
  return { default: read('Version'), visibility: read('VisibilityVersion') };
}

/** -1, 0, 1 for dotted versions (1.9 < 1.10). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

type SchemaState = { kind: 'missing-database' } | { kind: 'empty' } | { kind: 'at'; version: string };

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new TemporalClusterError(connectionProblem(err, describeDatabaseUrl(url)), { cause: err });
  }
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Where one database's schema is: no database, no schema, or a version (read, never written). */
async function schemaState(postgresUrl: string, database: string): Promise<SchemaState> {
  const exists = await withClient(postgresUrl, async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount === 1);
  if (!exists) return { kind: 'missing-database' };
  return withClient(databaseUrl(postgresUrl, database), async (c) => {
    const table = await c.query("SELECT to_regclass('schema_version') AS t");
    if (table.rows[0].t === null) return { kind: 'empty' };
    const row = await c.query<{ curr_version: string }>('SELECT curr_version FROM schema_version WHERE version_partition = 0 AND db_name = $1', [database]);
    const version = row.rows[0]?.curr_version;
    // 0.0 is what setup-schema writes before update-schema runs: a first start that was interrupted.
    return version === undefined || version === '0.0' ? { kind: 'empty' } : { kind: 'at', version };
  });
}

/**
 * What to do with each database, decided before anything is written: `create` (a fresh database),
 * `setup` (an empty one), `update` (older, and an upgrade was asked for), or nothing. Throws the
 * one-line refusal for an older schema without `upgradeSchema` and for a newer one.
 */
export async function planSchema(
  options: Pick<TemporalClusterOptions, 'postgresUrl' | 'upgradeSchema' | 'databases'>,
  expected: SchemaVersions,
): Promise<{ database: string; versioned: string; action: 'create' | 'setup' | 'update' | 'none' }[]> {
  const plan = [];
  for (const [kind, database] of Object.entries(options.databases ?? temporalDatabases) as [keyof SchemaVersions, string][]) {
    const state = await schemaState(options.postgresUrl, database);
    const want = expected[kind];
    const where = describeDatabaseUrl(databaseUrl(options.postgresUrl, database));
    let action: 'create' | 'setup' | 'update' | 'none';
    if (state.kind === 'missing-database') action = 'create';
    else if (state.kind === 'empty') action = 'setup';
    else if (compareVersions(state.version, want) === 0) action = 'none';
    else if (compareVersions(state.version, want) > 0) {
      throw new TemporalClusterError(
        `Temporal schema of ${where} is v${state.version}, newer than temporal-server ${temporalServerVersion} knows (v${want}): ` +
          `a newer Temporal wrote it; run that version, or use a fresh database (another state dir)`,
      );
    } else if (options.upgradeSchema) action = 'update';
    else {
      throw new TemporalClusterError(
        `Temporal schema of ${where} is v${state.version}, older than temporal-server ${temporalServerVersion} needs (v${want}): ` +
          `back the database up, then start once with --upgrade-temporal-schema (npm start -- --profile cluster --upgrade-temporal-schema)`,
      );
    }
    plan.push({ database, versioned: kind === 'default' ? 'temporal' : 'visibility', action });
  }
  return plan;
}

/** Runs the plan: CREATE DATABASE, setup-schema -v 0.0, update-schema (idempotent per step). */
async function applySchema(options: TemporalClusterOptions, serverDir: string, exec: RunCommand): Promise<void> {
  const plan = await planSchema(options, expectedSchemaVersions(serverDir));
  const url = new URL(options.postgresUrl);
  const tool = path.join(serverDir, 'bin', 'temporal-sql-tool');
  for (const step of plan) {
    if (step.action === 'none') continue;
    if (step.action === 'create') {
      await withClient(options.postgresUrl, (c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(step.database)}`));
    }
    // The password goes through the environment (SQL_PASSWORD), never the command line (ps shows it).
    const env = { ...process.env, SQL_PASSWORD: decodeURIComponent(url.password) };
    const common = ['--plugin', 'postgres12', '--endpoint', url.hostname, '--port', url.port || '5432', '--user', decodeURIComponent(url.username), '--database', step.database];
    if (step.action !== 'update') await exec(tool, [...common, 'setup-schema', '-v', '0.0'], { env, timeoutMs: 120_000 });
    const versioned = path.join(serverDir, 'schema', 'postgresql', 'v12', step.versioned, 'versioned');
    await exec(tool, [...common, 'update-schema', '-d', versioned], { env, timeoutMs: 300_000 });
  }
}

/** Checks and applies the schema, then writes the config files; the cluster's prepare steps. */
export function temporalClusterPrepareSteps(options: TemporalClusterOptions): PrepareStep[] {
  return [
    {
      name: `applying the Temporal schema on PostgreSQL ${describeDatabaseUrl(options.postgresUrl).replace(/\/.*$/, '')} (first start, or an asked-for upgrade)`,
      run: async (context?: PrepareContext) => applySchema(options, temporalServerDir(), context?.exec ?? runCommand),
    },
    {
      name: 'writing the Temporal cluster config',
      run: async () => {
        mkdirSync(options.dir, { recursive: true, mode: 0o700 });
        writeFileSync(configFile(options.dir), temporalServerConfig(options), { mode: 0o600 });
        writeFileSync(path.join(options.dir, 'dynamicconfig.yaml'), temporalDynamicConfig(options.dynamicConfig), { mode: 0o600 });
      },
    },
  ];
}

const configFile = (dir: string) => path.join(dir, 'config.yaml');

// --- processes -------------------------------------------------------------------------------

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** The gRPC health service of one Temporal service (each sets its own status, under the names of grpcServiceNames). */
async function grpcServing(port: number, service: string): Promise<boolean> {
  const connection = Connection.lazy({ address: `${host}:${port}`, connectTimeout: 1000 });
  try {
    const res = await connection.withDeadline(Date.now() + 2000, () => connection.healthService.check({ service }));
    return res.status === 1; // SERVING
  } catch {
    return false;
  } finally {
    await connection.close().catch(() => {});
  }
}

/**
 * The namespace tandem uses, registered when missing (ALREADY_EXISTS is success: another start
 * registered it), and usable through the frontend.
 */
async function ensureNamespace(port: number, namespace: string): Promise<boolean> {
  const connection = await Connection.connect({ address: `${host}:${port}`, connectTimeout: 2000 }).catch(() => undefined);
  if (!connection) return false;
  try {
    const exists = await connection.workflowService.describeNamespace({ namespace }).then(
      () => true,
      () => false,
    );
    if (!exists) {
      try {
        await connection.workflowService.registerNamespace({
          namespace,
          description: 'tandem (registered by the cluster profile)',
          // Closed workflows stay listable for 3 days, as on the dev server.
          workflowExecutionRetentionPeriod: msToTs('3 days'),
        });
      } catch (err) {
        if ((err as { code?: number }).code !== 6) return false; // gRPC ALREADY_EXISTS
      }
    }
    // describeNamespace reads the database; a start goes through the frontend's namespace cache,
    // which remembers a miss (our lookup before registering) for a second: usable = a call that
    // goes through that cache succeeds.
    await connection.workflowService.countWorkflowExecutions({ namespace });
    return true;
  } catch {
    return false;
  } finally {
    await connection.close().catch(() => {});
  }
}

const grpcServiceNames: Record<TemporalService, string> = {
  frontend: 'temporal.api.workflowservice.v1.WorkflowService',
  history: 'temporal.api.workflowservice.v1.HistoryService',
  matching: 'temporal.api.workflowservice.v1.MatchingService',
  worker: '',
};

/**
 * One ProcessSpec per service, one wave each: history, matching, the frontend, the worker service.
 * Not side by side: on a fresh database every service's start writes the cluster metadata row if
 * it finds none, and two doing it at once make the loser exit ("failed to initialize current
 * cluster metadata" — seen under load). Once history has written it, the others only read it.
 */
export function temporalClusterProcesses(options: TemporalClusterOptions, serverDir = temporalServerDir()): ProcessSpec[][] {
  const p = options.ports;
  const ports: Record<TemporalService, number[]> = {
    frontend: [p.frontend, p.frontendHttp, p.frontendMembership],
    history: [p.history, p.historyMembership],
    matching: [p.matching, p.matchingMembership],
    worker: [p.worker, p.workerMembership],
  };
  const ready: Record<TemporalService, () => Promise<boolean>> = {
    history: () => grpcServing(p.history, grpcServiceNames.history),
    matching: () => grpcServing(p.matching, grpcServiceNames.matching),
    // Ready = serving and our namespaces registered: what the dev server's readiness also means.
    frontend: async () =>
      (await grpcServing(p.frontend, grpcServiceNames.frontend)) && (await Promise.all(options.namespaces.map((ns) => ensureNamespace(p.frontend, ns)))).every(Boolean),
    // The worker service serves no API of its own; it has joined once its membership port answers.
    worker: () => portAnswers(p.workerMembership),
  };
  const spec = (service: TemporalService): ProcessSpec => ({
    name: `temporal-${service}`,
    command: path.join(serverDir, 'bin', 'temporal-server'),
    // --allow-no-auth: loopback only, as the dev server; without it 1.32 warns that a future version will refuse.
    args: ['--config-file', configFile(options.dir), '--allow-no-auth', 'start', '--service', service],
    cwd: options.dir,
    ports: ports[service],
    ready: ready[service],
    // A first start creates the system namespace and the shards' rows; a restart takes seconds.
    readyTimeoutMs: 90_000,
    installHint: 'run `sh deploy/dev/temporal-cluster/build.sh` (builds temporal-server from go.temporal.io/server)',
  });
  return [[spec('history')], [spec('matching')], [spec('frontend')], [spec('worker')]];
}

// --- a cluster of its own (tests, benchmarks) --------------------------------------------------

export interface RunningTemporalCluster {
  /** host:port of the frontend. */
  address: string;
  namespaces: string[];
  supervisor: Supervisor;
  stop(): Promise<void>;
}

/**
 * Builds or finds the binaries, applies the schema on `postgresUrl`'s server, starts the four
 * services in `dir` and registers `namespaces`; like startLocalKubernetes, for tests and benchmarks.
 */
export async function startTemporalCluster(options: TemporalClusterOptions & { log?: ProgressLog; signal?: AbortSignal }): Promise<RunningTemporalCluster> {
  const progress = options.log ?? ((line: string) => console.log(`[temporal-cluster] ${line}`));
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const supervisor = new Supervisor({ host, logDir: path.join(options.dir, 'logs'), progress, signal: options.signal });
  try {
    await supervisor.prepare([temporalBuildStep()]);
    const waves = temporalClusterProcesses(options);
    await supervisor.preflight(waves.flat());
    await supervisor.prepare(temporalClusterPrepareSteps(options));
    for (const wave of waves) await Promise.all(wave.map((spec) => supervisor.start(spec)));
    return { address: `${host}:${options.ports.frontend}`, namespaces: options.namespaces, supervisor, stop: () => supervisor.stop() };
  } catch (err) {
    await supervisor.stop();
    throw err;
  }
}
