import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type TandemConfig } from '../../shared/config.ts';
import { generateCredentials, type Credentials } from '../../shared/credentials.ts';
import { freePorts } from './ports.ts';
import type { AirflowClient, AirflowHealth } from '../../services/airflow/client.ts';
import {
  airflowEnvironment,
  airflowLayout,
  airflowMigrationNeeded,
  airflowPrepareSteps,
  airflowProcesses,
  heartbeatProbe,
  installedAirflowVersion,
} from './airflow.ts';

let dir: string;
let repoRoot: string;
let config: TandemConfig;
let credentials: Credentials;

/**
 * A fake checkout: `.venv/bin/airflow` is a shell script that logs its arguments (and the env the
 * launcher gives it), creates the DB on `db migrate` and acknowledges `connections import`.
 */
function fakeCheckout(root: string, airflowVersion = '3.3.2'): void {
  mkdirSync(path.join(root, '.venv/bin'), { recursive: true });
  mkdirSync(path.join(root, `.venv/lib/python3.11/site-packages/apache_airflow_core-${airflowVersion}.dist-info`), { recursive: true });
  const script = `#!/bin/sh
echo "$* home=$AIRFLOW_HOME" >> "${root}/airflow-calls.log"
case "$1 $2" in
  "db migrate") : > "$AIRFLOW_HOME/airflow.db" ;;
  "connections import") cat "$4" >> "${root}/imported.json"; echo "Imported connection tandem_default" ;;
esac
`;
  writeFileSync(path.join(root, '.venv/bin/airflow'), script);
  chmodSync(path.join(root, '.venv/bin/airflow'), 0o755);
}

const calls = () =>
  readFileSync(path.join(repoRoot, 'airflow-calls.log'), 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => line.replace(/ home=.*$/, ''));

async function prepare(): Promise<void> {
  for (const step of airflowPrepareSteps(config, credentials, { repoRoot })) await step.run();
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tandem-airflow-test-'));
  repoRoot = path.join(dir, 'repo');
  fakeCheckout(repoRoot);
  writeFileSync(path.join(repoRoot, 'airflow-calls.log'), '');
  config = loadConfig({ env: { TANDEM_STATE_DIR: path.join(dir, 'state'), TANDEM_AIRFLOW_PORT: '18099' }, cwd: dir });
  credentials = generateCredentials();
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('airflowEnvironment', () => {
  it('configures everything through AIRFLOW__ variables inside the state dir', () => {
    const env = airflowEnvironment(config, credentials, { repoRoot });
    const home = path.join(config.stateDir, 'airflow');
    expect(env).toMatchObject({
      AIRFLOW_HOME: home,
      AIRFLOW__CORE__DAGS_FOLDER: config.airflow.dagsFolder,
      AIRFLOW__CORE__EXECUTOR: 'LocalExecutor',
      AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
      AIRFLOW__CORE__UNIT_TEST_MODE: 'False',
      AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS: 'admin:admin,tandem:admin',
      AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE: path.join(home, 'simple_auth_manager_passwords.json'),
      AIRFLOW__CORE__EXECUTION_API_SERVER_URL: 'http://127.0.0.1:18099/execution/',
      AIRFLOW__CORE__PARALLELISM: '8',
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: `sqlite:///${home}/airflow.db`,
      AIRFLOW__API__HOST: '127.0.0.1',
      AIRFLOW__API__PORT: '18099',
      AIRFLOW__API__WORKERS: '1',
      AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL: String(config.airflow.dagRefreshSeconds),
    });
    expect(Object.keys(env).filter((k) => !k.startsWith('AIRFLOW') && !/^(no_proxy|NO_PROXY|PYTHONUNBUFFERED)$/.test(k))).toEqual([]);
  });

  it('puts the metadata DB on PostgreSQL through psycopg2 with 32 slots when given a database URL, unless parallelism is set', () => {
    const onPostgres = { ...config, airflow: { ...config.airflow, databaseUrl: 'postgres://tandem:p%40ss@127.0.0.1:5433/airflow' } };
    const env = airflowEnvironment(onPostgres, credentials, { repoRoot });
    expect(env.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN).toBe('postgresql+psycopg2://tandem:p%40ss@127.0.0.1:5433/airflow');
    expect(env.AIRFLOW__CORE__PARALLELISM).toBe('32');
    const set = airflowEnvironment({ ...onPostgres, airflow: { ...onPostgres.airflow, parallelism: 12 } }, credentials, { repoRoot });
    expect(set.AIRFLOW__CORE__PARALLELISM).toBe('12');
  });

  it('generates the JWT secret, API secret key and Fernet key once and keeps them', () => {
    const first = airflowEnvironment(config, credentials, { repoRoot });
    const second = airflowEnvironment(config, credentials, { repoRoot });
    expect(second.AIRFLOW__API_AUTH__JWT_SECRET).toBe(first.AIRFLOW__API_AUTH__JWT_SECRET);
    expect(second.AIRFLOW__API__SECRET_KEY).toBe(first.AIRFLOW__API__SECRET_KEY);
    expect(second.AIRFLOW__CORE__FERNET_KEY).toBe(first.AIRFLOW__CORE__FERNET_KEY);
    // HS512 needs >= 64 bytes; a Fernet key is 32 bytes, url-safe base64 with padding.
    expect(first.AIRFLOW__API_AUTH__JWT_SECRET!.length).toBeGreaterThanOrEqual(64);
    expect(Buffer.from(first.AIRFLOW__CORE__FERNET_KEY!, 'base64url')).toHaveLength(32);
    expect(first.AIRFLOW__CORE__FERNET_KEY).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    const secretsFile = airflowLayout(config, { repoRoot }).secretsFile;
    expect(statSync(secretsFile).mode & 0o777).toBe(0o600);
  });
});

describe('airflowPrepareSteps', () => {
  it('writes the passwords file (0600) from the credentials: the human admin and tandem\'s own user', async () => {
    await airflowPrepareSteps(config, credentials, { repoRoot })[0]!.run();
    const file = airflowLayout(config, { repoRoot }).passwordsFile;
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ admin: credentials.airflow.adminPassword, tandem: credentials.airflow.tandemPassword });
    expect(credentials.airflow.tandemPassword).not.toBe(credentials.airflow.adminPassword);
    expect(airflowEnvironment(config, credentials, { repoRoot }).AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS).toBe('admin:admin,tandem:admin');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('migrates and imports the connection once, then skips both while nothing changed', async () => {
    await prepare();
    expect(calls()).toEqual([
      'db migrate',
      `connections import --overwrite ${path.join(config.stateDir, 'airflow/tandem-connections.json')}`,
    ]);
    const imported = JSON.parse(readFileSync(path.join(repoRoot, 'imported.json'), 'utf8'));
    expect(imported).toEqual({
      tandem_default: expect.objectContaining({ conn_type: 'http', host: config.api.url, password: credentials.serviceApiKey }),
    });
    // The file carrying the service key does not outlive the import.
    expect(() => statSync(path.join(config.stateDir, 'airflow/tandem-connections.json'))).toThrow();

    await prepare();
    expect(calls()).toHaveLength(2);
  });

  it('refuses a PostgreSQL metadata DB nobody answers with one line naming the setting, before migrating', async () => {
    const [closed] = await freePorts('127.0.0.1', 1);
    config = { ...config, airflow: { ...config.airflow, databaseUrl: `postgres://tandem:pw@127.0.0.1:${closed}/airflow` } };
    await expect(prepare()).rejects.toThrow(
      `Airflow metadata DB: cannot reach PostgreSQL at 127.0.0.1:${closed}/airflow (ECONNREFUSED); start it, or fix TANDEM_AIRFLOW_DATABASE_URL`,
    );
    expect(calls()).toEqual([]);
  });

  it('re-imports the connection when the service key changes', async () => {
    await prepare();
    credentials = { ...credentials, serviceApiKey: 'tdm_svc_rotated-key-0123456789' };
    await prepare();
    expect(calls().filter((c) => c.startsWith('connections import'))).toHaveLength(2);
    expect(calls().filter((c) => c === 'db migrate')).toHaveLength(1);
  });

  it('migrates again when Airflow is upgraded or the DB file is replaced', async () => {
    await prepare();
    const layout = airflowLayout(config, { repoRoot });
    expect(await airflowMigrationNeeded(config, layout)).toBe(false);

    rmSync(path.join(repoRoot, '.venv/lib/python3.11/site-packages/apache_airflow_core-3.3.2.dist-info'), { recursive: true });
    mkdirSync(path.join(repoRoot, '.venv/lib/python3.11/site-packages/apache_airflow_core-3.3.3.dist-info'));
    expect(installedAirflowVersion(layout.venv)).toBe('3.3.3');
    expect(await airflowMigrationNeeded(config, layout)).toBe(true);
    await prepare();
    expect(await airflowMigrationNeeded(config, layout)).toBe(false);

    rmSync(layout.database);
    expect(await airflowMigrationNeeded(config, layout)).toBe(true);
  });

  it('fails with the CLI output when a command fails', async () => {
    writeFileSync(path.join(repoRoot, '.venv/bin/airflow'), '#!/bin/sh\necho "sqlite3.OperationalError: disk I/O error" >&2\nexit 1\n');
    const steps = airflowPrepareSteps(config, credentials, { repoRoot });
    await steps[0]!.run();
    await expect(steps[1]!.run()).rejects.toThrow(/airflow db migrate failed[\s\S]*disk I\/O error/);
  });
});

describe('airflowProcesses', () => {
  it('runs the four Airflow components from the venv, only the api-server on a port', () => {
    const specs = airflowProcesses(config, credentials, { repoRoot });
    expect(specs.map((s) => [s.name, s.args.join(' '), s.ports])).toEqual([
      ['airflow-api-server', 'api-server --host 127.0.0.1 --port 18099 --workers 1', [18099]],
      ['airflow-scheduler', 'scheduler --skip-serve-logs', []],
      ['airflow-dag-processor', 'dag-processor', []],
      ['airflow-triggerer', 'triggerer --skip-serve-logs', []],
    ]);
    for (const spec of specs) {
      expect(spec.command).toBe(path.join(repoRoot, '.venv/bin/airflow'));
      expect(spec.env?.AIRFLOW_HOME).toBe(path.join(config.stateDir, 'airflow'));
      expect(spec.installHint).toContain('npm run bootstrap');
    }
  });
});

describe('heartbeatProbe', () => {
  function stubClient(health: () => AirflowHealth): AirflowClient {
    return { health: async () => health() } as unknown as AirflowClient;
  }
  const health = (status: 'healthy' | 'unhealthy', at: Date): AirflowHealth => ({
    metadatabase: { status: 'healthy' },
    scheduler: { status, latest_scheduler_heartbeat: at.toISOString().replace('Z', '+00:00') },
    triggerer: { status: null, latest_triggerer_heartbeat: null },
    dag_processor: null,
  });

  it('is ready only on a healthy heartbeat newer than the first probe', async () => {
    let current = health('healthy', new Date(Date.now() - 5_000)); // the previous process's job
    const ready = heartbeatProbe(stubClient(() => current), 'scheduler');

    expect(await ready()).toBe(false);
    current = health('unhealthy', new Date(Date.now() + 1_000));
    expect(await ready()).toBe(false);
    current = health('healthy', new Date(Date.now() + 1_000));
    expect(await ready()).toBe(true);
  });

  it('treats a component the api-server does not report as not ready', async () => {
    const ready = heartbeatProbe(stubClient(() => health('healthy', new Date())), 'dag_processor');
    expect(await ready()).toBe(false);
  });
});
