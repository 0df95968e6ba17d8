/**
 * Embedded Airflow 3 for one machine: api-server, scheduler, dag-processor and triggerer from the
 * project's .venv, a SQLite metadata DB and LocalExecutor, configured entirely through
 * `AIRFLOW__…` environment variables (no airflow.cfg to drift) with AIRFLOW_HOME in the state dir.
 *
 * Why these settings:
 * - LocalExecutor on SQLite is allowed in Airflow 3 (it is what `airflow standalone` runs); tasks
 *   talk to the api-server's Execution API, not to the DB, so SQLite's single writer is only
 *   shared by the four processes.
 * - With `airflow.databaseUrl` (the cluster profile sets it) the metadata DB is PostgreSQL
 *   instead (psycopg2 for Airflow's sync engine, asyncpg for the api-server's async one, both in
 *   requirements.lock), and LocalExecutor gets 32 slots instead of 8 (`airflowParallelism`).
 * - JWT secret, API secret key and Fernet key are generated once and kept in the state dir: the
 *   scheduler signs task tokens the api-server must verify (a per-process random secret makes
 *   every task fail), and stable keys keep UI sessions, REST tokens and encrypted connection
 *   passwords valid across restarts.
 * - The SimpleAuthManager passwords file is written by us from tandem's credentials, so Airflow
 *   never generates (and prints) a password of its own. It has two users: the admin for people and
 *   tandem's own, which the API and worker log in as (parked hand-offs are assigned to it).
 * - Scheduler and triggerer run with --skip-serve-logs: their log servers bind every interface,
 *   and on one machine the api-server reads task logs straight from the shared log folder.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { TandemConfig } from '../../shared/config.ts';
import { statePaths } from '../../shared/config.ts';
import type { Credentials } from '../../shared/credentials.ts';
import { AirflowClient, type AirflowHealth } from '../../services/airflow/client.ts';
import type { PrepareContext, PrepareStep, ProcessSpec, RunCommand } from './process-spec.ts';
import pg from 'pg';
import { connectionProblem, describeDatabaseUrl } from '../../shared/store/postgres-store.ts';
import { runCommand, StackError } from './supervisor.ts';

const defaultRepoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The connection Airflow tasks use to call the control API (see dags/tandem_airflow/hooks). */
export const TANDEM_CONNECTION_ID = 'tandem_default';

const SIMPLE_AUTH_MANAGER = 'airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager';
const INSTALL_HINT = 'run `npm run bootstrap` (it creates .venv with Airflow from requirements.lock)';

export interface AirflowLayoutOptions {
  /** Checkout root; `.venv/` is found from it. Default: this repository. */
  repoRoot?: string;
}

/** Where the embedded Airflow keeps everything, named in one place. */
export function airflowLayout(config: Pick<TandemConfig, 'stateDir' | 'airflow'>, options: AirflowLayoutOptions = {}) {
  const repoRoot = options.repoRoot ?? defaultRepoRoot;
  const home = statePaths(config.stateDir).airflowHome;
  const venv = path.join(repoRoot, '.venv');
  return {
    repoRoot,
    home,
    venv,
    airflowBin: path.join(venv, 'bin', 'airflow'),
    database: path.join(home, 'airflow.db'),
    logs: path.join(home, 'logs'),
    // One source of truth for the DAG folder: the config (tests and benchmarks point it at their state dir).
    dagsFolder: config.airflow.dagsFolder,
    passwordsFile: path.join(home, 'simple_auth_manager_passwords.json'),
    secretsFile: path.join(home, 'tandem-secrets.json'),
    connectionsFile: path.join(home, 'tandem-connections.json'),
    migrateStamp: path.join(home, '.tandem-migrated'),
    connectionStamp: path.join(home, '.tandem-connection'),
  };
}
export type AirflowLayout = ReturnType<typeof airflowLayout>;

// --- secrets ---------------------------------------------------------------------------------

const airflowSecretsSchema = z.object({
  /** [api_auth] jwt_secret: signs REST and Execution API tokens. */
  jwtSecret: z.string().min(32),
  /** [api] secret_key: sessions and log-server request signing. */
  apiSecretKey: z.string().min(32),
  /** [core] fernet_key: encrypts connection passwords and variables in the DB. */
  fernetKey: z.string().length(44),
  createdAt: z.string(),
});
export type AirflowSecrets = z.infer<typeof airflowSecretsSchema>;

/** Reads the state dir's Airflow secrets, creating them (0600) on first use. Never rotates them. */
export function ensureAirflowSecrets(file: string): AirflowSecrets {
  if (existsSync(file)) {
    const parsed = airflowSecretsSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) {
      throw new Error(`${file} is corrupt (${parsed.error.issues[0]?.message}); remove it to generate new Airflow secrets`);
    }
    return parsed.data;
  }
  const secrets: AirflowSecrets = {
    // HS512 wants a key of at least 64 bytes (PyJWT warns below that).
    jwtSecret: randomBytes(64).toString('base64url'),
    apiSecretKey: randomBytes(32).toString('base64url'),
    // A Fernet key is 32 random bytes, url-safe base64 *with* padding (44 characters).
    fernetKey: randomBytes(32).toString('base64').replace(/\+/g, '-').replace(/\//g, '_'),
    createdAt: new Date().toISOString(),
  };
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify(secrets, null, 2) + '\n');
  return secrets;
}

// --- environment -----------------------------------------------------------------------------

/**
 * LocalExecutor slots. On SQLite each running task's state changes and heartbeats queue for its
 * one writer (through the api-server), so more than 8 mostly adds waiting; PostgreSQL takes them
 * side by side, and 32 task runners (~150 MiB each) fit this class of machine. Deferred tasks
 * (hand-offs waiting for a review) hold no slot either way.
 */
export function airflowParallelism(config: Pick<TandemConfig, 'airflow'>): number {
  return config.airflow.parallelism ?? (config.airflow.databaseUrl ? 32 : 8);
}

/** SQLAlchemy's URL of the metadata DB: the SQLite file, or the PostgreSQL database through psycopg2. */
export function airflowSqlAlchemyConn(config: Pick<TandemConfig, 'stateDir' | 'airflow'>, layout: AirflowLayout): string {
  if (!config.airflow.databaseUrl) return `sqlite:///${layout.database}`;
  const url = new URL(config.airflow.databaseUrl);
  return `postgresql+psycopg2://${url.username}:${url.password}@${url.host}${url.pathname}${url.search}`;
}

function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The api-server address local processes (task runners, probes) use. */
export function airflowLocalUrl(config: Pick<TandemConfig, 'host' | 'airflow'>): string {
  return `http://${urlHost(config.host)}:${config.airflow.port}`;
}

/**
 * Every variable the Airflow processes and CLI calls need. Creates the state dir's Airflow home
 * and secrets file on first call; otherwise pure.
 */
export function airflowEnvironment(
  config: TandemConfig,
  credentials: Credentials,
  options: AirflowLayoutOptions = {},
): Record<string, string> {
  const layout = airflowLayout(config, options);
  mkdirSync(layout.home, { recursive: true, mode: 0o700 });
  const secrets = ensureAirflowSecrets(layout.secretsFile);
  const refresh = String(config.airflow.dagRefreshSeconds);
  const noProxy = [process.env.NO_PROXY ?? process.env.no_proxy, config.host, '127.0.0.1', 'localhost', '::1']
    .filter((v): v is string => Boolean(v))
    .join(',');
  return {
    AIRFLOW_HOME: layout.home,
    AIRFLOW__CORE__DAGS_FOLDER: layout.dagsFolder,
    AIRFLOW__CORE__EXECUTOR: 'LocalExecutor',
    AIRFLOW__CORE__PARALLELISM: String(airflowParallelism(config)),
    AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
    AIRFLOW__CORE__UNIT_TEST_MODE: 'False',
    // New DAGs start paused; the pipeline deployer unpauses after a clean parse.
    AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION: 'True',
    AIRFLOW__CORE__FERNET_KEY: secrets.fernetKey,
    AIRFLOW__CORE__AUTH_MANAGER: SIMPLE_AUTH_MANAGER,
    // The human admin and tandem's own user (both role admin): tandem calls the REST API as its
    // own user, and a parked hand-off is assigned to that user alone.
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS: `${credentials.airflow.adminUser}:admin,${credentials.airflow.tandemUser}:admin`,
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS: 'False',
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE: layout.passwordsFile,
    // Task runners forked by LocalExecutor report to this api-server's Execution API.
    AIRFLOW__CORE__EXECUTION_API_SERVER_URL: `${airflowLocalUrl(config)}/execution/`,
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: airflowSqlAlchemyConn(config, layout),
    AIRFLOW__API__HOST: config.host,
    AIRFLOW__API__PORT: String(config.airflow.port),
    AIRFLOW__API__WORKERS: '1',
    AIRFLOW__API__BASE_URL: config.airflow.url,
    AIRFLOW__API__SECRET_KEY: secrets.apiSecretKey,
    AIRFLOW__API__EXPOSE_CONFIG: 'False',
    AIRFLOW__API_AUTH__JWT_SECRET: secrets.jwtSecret,
    // New files in the DAGs folder are found within dagRefreshSeconds; changed files are reparsed
    // on the next pass regardless of min_file_process_interval, which only paces unchanged files.
    AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL: refresh,
    AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL: refresh,
    AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL: '60',
    AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES: '2',
    AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL: '300',
    AIRFLOW__LOGGING__BASE_LOG_FOLDER: layout.logs,
    AIRFLOW__LOGGING__COLORED_CONSOLE_LOG: 'False',
    AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK: 'False',
    // A task runner that died with its machine (kill -9, OOM) is noticed in 90 s instead of 300,
    // and tasks queued by a dead scheduler are reset every 30 s instead of 300: on one machine a
    // restarted component is back in seconds, so waiting five minutes only delays recovery.
    AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT: '90',
    AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL: '30',
    AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST: config.host,
    PYTHONUNBUFFERED: '1',
    // Never send a loopback call (task runner → Execution API) through a corporate proxy.
    NO_PROXY: noProxy,
    no_proxy: noProxy,
  };
}

// --- prepare steps ---------------------------------------------------------------------------

export interface AirflowCliResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs `.venv/bin/airflow <args>` with the embedded environment; rejects with the output's tail.
 * `exec` is how: a prepare step passes its supervisor's, so a stop kills the command (a
 * migration takes seconds) instead of leaving it to finish on its own.
 */
export async function runAirflowCli(
  config: TandemConfig,
  credentials: Credentials,
  args: string[],
  options: AirflowLayoutOptions & { timeoutMs?: number; exec?: RunCommand } = {},
): Promise<AirflowCliResult> {
  const layout = airflowLayout(config, options);
  if (!existsSync(layout.airflowBin)) throw new Error(`${layout.airflowBin} not found; ${INSTALL_HINT}`);
  const env = { ...process.env, ...airflowEnvironment(config, credentials, options) };
  const exec = options.exec ?? runCommand;
  return exec(layout.airflowBin, args, { env, cwd: layout.repoRoot, timeoutMs: options.timeoutMs ?? 300_000 });
}

/** apache-airflow-core's version as installed in the venv, read from its dist-info (no Python start). */
export function installedAirflowVersion(venv: string): string | undefined {
  const lib = path.join(venv, 'lib');
  if (!existsSync(lib)) return undefined;
  for (const python of readdirSync(lib)) {
    const sitePackages = path.join(lib, python, 'site-packages');
    if (!existsSync(sitePackages)) continue;
    for (const entry of readdirSync(sitePackages)) {
      const match = /^apache_airflow_core-(.+)\.dist-info$/.exec(entry);
      if (match) return match[1];
    }
  }
  return undefined;
}

function fileIdentity(file: string): string {
  const stat = statSync(file);
  return `${stat.dev}:${stat.ino}`;
}

/**
 * Which metadata database this is, so a stamp is not taken for another one: the SQLite file's
 * inode, or the PostgreSQL server's system identifier and the database's oid (a database dropped
 * and created again is another one). Undefined when there is none yet (no file; an unreachable
 * server is an error).
 */
async function databaseIdentity(config: Pick<TandemConfig, 'airflow'>, layout: AirflowLayout): Promise<string | undefined> {
  if (!config.airflow.databaseUrl) return existsSync(layout.database) ? `database ${layout.database} ${fileIdentity(layout.database)}` : undefined;
  const where = describeDatabaseUrl(config.airflow.databaseUrl);
  const client = new pg.Client({ connectionString: config.airflow.databaseUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ id: string; oid: string }>(
      'SELECT (SELECT system_identifier FROM pg_control_system())::text AS id, (SELECT oid FROM pg_database WHERE datname = current_database())::text AS oid',
    );
    return `database postgres ${where} ${rows[0]!.id}:${rows[0]!.oid}`;
  } catch (err) {
    throw new StackError(`Airflow metadata DB: ${connectionProblem(err, where).replace('TANDEM_DATABASE_URL', 'TANDEM_AIRFLOW_DATABASE_URL')}`, { cause: err });
  } finally {
    await client.end().catch(() => {});
  }
}

function readStamp(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

function writeFileAtomic(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** The stamp that lets a restart skip `airflow db migrate`: same Airflow, same database. */
async function migrateStampValue(config: Pick<TandemConfig, 'airflow'>, layout: AirflowLayout): Promise<string | undefined> {
  const version = installedAirflowVersion(layout.venv);
  const database = await databaseIdentity(config, layout);
  if (!version || !database) return undefined;
  return `apache-airflow-core ${version}\n${database}\n`;
}

export async function airflowMigrationNeeded(config: Pick<TandemConfig, 'airflow'>, layout: AirflowLayout): Promise<boolean> {
  const expected = await migrateStampValue(config, layout);
  return expected === undefined || readStamp(layout.migrateStamp) !== expected;
}

/** The Airflow connection that carries the control API's URL and service key to tasks. */
export function tandemConnection(config: TandemConfig, credentials: Credentials) {
  return {
    [TANDEM_CONNECTION_ID]: {
      conn_type: 'http',
      description: 'tandem control API (service role); managed by the tandem launcher',
      host: config.api.url,
      password: credentials.serviceApiKey,
    },
  };
}

export function airflowPrepareSteps(
  config: TandemConfig,
  credentials: Credentials,
  options: AirflowLayoutOptions = {},
): PrepareStep[] {
  const layout = airflowLayout(config, options);
  return [
    {
      name: 'writing Airflow passwords file',
      run: async () => {
        mkdirSync(layout.home, { recursive: true, mode: 0o700 });
        mkdirSync(layout.dagsFolder, { recursive: true });
        const passwords = {
          [credentials.airflow.adminUser]: credentials.airflow.adminPassword,
          [credentials.airflow.tandemUser]: credentials.airflow.tandemPassword,
        };
        writeFileAtomic(layout.passwordsFile, JSON.stringify(passwords) + '\n');
      },
    },
    {
      name: 'migrating Airflow metadata DB (skipped when already current)',
      run: async (context?: PrepareContext) => {
        if (!(await airflowMigrationNeeded(config, layout))) return;
        // Removed first and written only after success, so an interrupted migration is redone
        // (`db migrate` resumes from the revision the DB reached) at the next start.
        rmSync(layout.migrateStamp, { force: true });
        await runAirflowCli(config, credentials, ['db', 'migrate'], { ...options, exec: context?.exec });
        const stamp = await migrateStampValue(config, layout);
        if (stamp) writeFileAtomic(layout.migrateStamp, stamp);
      },
    },
    {
      name: `creating Airflow connection ${TANDEM_CONNECTION_ID}`,
      run: async (context?: PrepareContext) => {
        const content = JSON.stringify(tandemConnection(config, credentials), null, 2) + '\n';
        // Re-import when the connection, the DB file or the Fernet key (which encrypts it) changed.
        const { fernetKey } = ensureAirflowSecrets(layout.secretsFile);
        const digest = createHash('sha256').update(content).update(fernetKey).digest('hex');
        const stamp = `${digest} ${await databaseIdentity(config, layout)}\n`;
        if (readStamp(layout.connectionStamp) === stamp) return;
        writeFileAtomic(layout.connectionsFile, content);
        try {
          const { stdout } = await runAirflowCli(config, credentials, ['connections', 'import', '--overwrite', layout.connectionsFile], {
            ...options,
            exec: context?.exec,
          });
          // The import command exits 0 even when it skips a connection; check it said so.
          if (!stdout.includes(`Imported connection ${TANDEM_CONNECTION_ID}`)) {
            throw new Error(`airflow connections import did not import ${TANDEM_CONNECTION_ID}:\n${stdout.trim()}`);
          }
        } finally {
          rmSync(layout.connectionsFile, { force: true });
        }
        writeFileAtomic(layout.connectionStamp, stamp);
      },
    },
  ];
}

// --- processes -------------------------------------------------------------------------------

type HeartbeatComponent = 'scheduler' | 'triggerer' | 'dag_processor';

function heartbeatOf(health: AirflowHealth, component: HeartbeatComponent): { status: string | null; at: string | null } {
  switch (component) {
    case 'scheduler':
      return { status: health.scheduler.status, at: health.scheduler.latest_scheduler_heartbeat };
    case 'triggerer':
      return { status: health.triggerer.status, at: health.triggerer.latest_triggerer_heartbeat };
    case 'dag_processor':
      return {
        status: health.dag_processor?.status ?? null,
        at: health.dag_processor?.latest_dag_processor_heartbeat ?? null,
      };
  }
}

function parseAirflowTime(value: string): number {
  // Airflow's timestamps are UTC; be explicit if one ever comes without an offset.
  return Date.parse(/([zZ]|[+-]\d\d:?\d\d)$/.test(value) ? value : `${value}Z`);
}

/**
 * Ready when the api-server reports the component healthy with a heartbeat newer than the first
 * probe — the health endpoint reports the most recent job of each kind, which right after a
 * restart can still be the previous process's.
 */
export function heartbeatProbe(client: AirflowClient, component: HeartbeatComponent): () => Promise<boolean> {
  let since: number | undefined;
  return async () => {
    since ??= Date.now();
    const { status, at } = heartbeatOf(await client.health(), component);
    return status === 'healthy' && at !== null && parseAirflowTime(at) >= since;
  };
}

export function airflowProcesses(
  config: TandemConfig,
  credentials: Credentials,
  options: AirflowLayoutOptions = {},
): ProcessSpec[] {
  const layout = airflowLayout(config, options);
  const env = airflowEnvironment(config, credentials, options);
  // Probes only: no retries (the launcher polls), short timeout.
  const probe = AirflowClient.forStack({ airflow: { ...config.airflow, url: airflowLocalUrl(config) } }, credentials, {
    retries: 0,
    timeoutMs: 2_000,
  });
  const common = {
    command: layout.airflowBin,
    env,
    cwd: layout.repoRoot,
    installHint: INSTALL_HINT,
    // Cold starts on a 2-core machine take 10–30 s per process; leave room for a slow disk.
    readyTimeoutMs: 120_000,
  };
  return [
    {
      ...common,
      name: 'airflow-api-server',
      args: ['api-server', '--host', config.host, '--port', String(config.airflow.port), '--workers', '1'],
      ports: [config.airflow.port],
      // Healthy metadata DB, and the Execution API warmed up (its first request takes ~10 s; see
      // AirflowClient.executionApiHealth) so the first task does not pay for it.
      ready: async () =>
        (await probe.health()).metadatabase.status === 'healthy' &&
        (await probe.executionApiHealth({ timeoutMs: 30_000 })).status === 'healthy',
    },
    {
      ...common,
      name: 'airflow-scheduler',
      args: ['scheduler', '--skip-serve-logs'],
      ports: [],
      ready: heartbeatProbe(probe, 'scheduler'),
    },
    {
      ...common,
      name: 'airflow-dag-processor',
      args: ['dag-processor'],
      ports: [],
      ready: heartbeatProbe(probe, 'dag_processor'),
    },
    {
      ...common,
      name: 'airflow-triggerer',
      args: ['triggerer', '--skip-serve-logs'],
      ports: [],
      ready: heartbeatProbe(probe, 'triggerer'),
    },
  ];
}
