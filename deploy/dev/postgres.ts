/**
 * Debian's PostgreSQL server for the tandem store: for the `postgres` test tier (one throwaway
 * server per run, test/support/postgres-setup.ts), for `npm start -- --profile cluster` (a data dir
 * in the state dir, supervised like every other process), and by hand:
 *
 *   node deploy/dev/postgres.ts [--data-dir DIR] [--port N]
 *
 * prints the `TANDEM_DATABASE_URL` of a fresh server and runs it until Ctrl-C, then stops it with
 * `pg_ctl stop` and removes the data dir (unless one was given).
 *
 * The server refuses to run as root, so as root it runs as the system user `tandem-pg` (created
 * when missing; `nobody` when it cannot be), through `setpriv`, which execs: the supervised pid is
 * the postmaster itself. It listens on loopback TCP only (no Unix socket) with a generated
 * password (scram-sha-256), so another local user cannot walk in.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import pg from 'pg';
import type { PrepareStep, ProcessSpec } from './process-spec.ts';
import { freePorts } from './ports.ts';
import { runCommand, StackError } from './supervisor.ts';

/** The role initdb creates: it owns the databases tandem uses. */
export const postgresSuperuser = 'tandem';
const serviceUser = 'tandem-pg';

/** A StackError, so the launcher shows it as the one line it is. */
export class PostgresSetupError extends StackError {
  override name = 'PostgresSetupError';
}

/** The newest installed major version's bin dir (Debian keeps each under /usr/lib/postgresql/N). */
export function postgresBinDir(root = '/usr/lib/postgresql'): string {
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && existsSync(path.join(root, v, 'bin', 'postgres')) && existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new PostgresSetupError(
      `PostgreSQL is not installed (no ${root}/*/bin/postgres); run \`npm run bootstrap\` as root, or \`sudo apt-get install -y postgresql\``,
    );
  }
  return path.join(root, versions[0]!, 'bin');
}

export interface ServerUser {
  uid: number;
  gid: number;
  name: string;
}

function lookupUser(name: string): ServerUser | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid, gid, name };
  } catch {
    return undefined;
  }
}

/** Who runs the server: ourselves, or (as root, which PostgreSQL refuses) an unprivileged system user. */
export function serverUser(): ServerUser {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) return { uid, gid: process.getgid?.() ?? 0, name: os.userInfo().username };
  let user = lookupUser(serviceUser);
  if (!user) {
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', serviceUser], {
        stdio: 'ignore',
      });
    } catch {
      // Another process created it meanwhile, or useradd is missing: looked up again below.
    }
    user = lookupUser(serviceUser) ?? lookupUser('nobody');
  }
  if (!user) throw new PostgresSetupError(`cannot find or create an unprivileged user (${serviceUser} or nobody) to run PostgreSQL as`);
  return user;
}

/** The command line that runs `command` as `user` (setpriv execs, so the pid stays the server's). */
function asUser(user: ServerUser, command: string, args: string[]): [string, string[]] {
  if (user.uid === process.getuid?.()) return [command, args];
  return [existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : 'setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', command, ...args]];
}

export interface PostgresCluster {
  dataDir: string;
  port: number;
  password: string;
  user: ServerUser;
  bin: string;
}

/** `postgres://tandem:…@127.0.0.1:port/db`; initdb's own database is `postgres`. */
export function postgresUrl(cluster: Pick<PostgresCluster, 'port' | 'password'>, database = 'postgres'): string {
  return `postgres://${postgresSuperuser}:${encodeURIComponent(cluster.password)}@127.0.0.1:${cluster.port}/${database}`;
}

/**
 * Creates the cluster in `dataDir` (which must not exist or be empty), owned by the server user.
 * `throwaway` skips fsync, for test servers that are deleted afterwards anyway.
 */
export async function initCluster(dataDir: string, options: { throwaway?: boolean; signal?: AbortSignal } = {}): Promise<{ password: string }> {
  const bin = postgresBinDir();
  const user = serverUser();
  const parent = path.dirname(dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chownSync(dataDir, user.uid, user.gid);
  const password = randomBytes(18).toString('base64url');
  // initdb reads the password from a file, never from the command line (ps would show it).
  const pwfile = path.join(mkdtempSync(path.join(os.tmpdir(), 'tandem-pgpw-')), 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  chownSync(path.dirname(pwfile), user.uid, user.gid);
  chownSync(pwfile, user.uid, user.gid);
  try {
    const [command, args] = asUser(user, path.join(bin, 'initdb'), [
      '--pgdata', dataDir,
      '--username', postgresSuperuser,
      '--pwfile', pwfile,
      '--auth', 'scram-sha-256',
      '--encoding', 'UTF8',
      // Byte order for text, as SQLite compares: cursors and ORDER BY agree between the two stores.
      '--locale', 'C',
      ...(options.throwaway ? ['--no-sync'] : []),
    ]);
    await runCommand(command, args, { cwd: parent, timeoutMs: 120_000, signal: options.signal }).catch((err: Error) => {
      throw new PostgresSetupError(`initdb of ${dataDir} failed: ${err.message}`);
    });
  } finally {
    rmSync(path.dirname(pwfile), { recursive: true, force: true });
  }
  return { password };
}

/** Arguments of the postmaster: loopback TCP on `port`, no Unix socket. */
export function postgresArgs(dataDir: string, port: number, options: { throwaway?: boolean } = {}): string[] {
  return [
    '-D', dataDir,
    '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=',
    // Tests and replicas open a pool each; the default 100 is tight for a run of parallel files.
    '-c', 'max_connections=200',
    ...(options.throwaway ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ];
}

/** True once the server accepts an authenticated query. */
export async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export interface RunningPostgres {
  /** Connection URL of the superuser's own database; create others through it. */
  url: string;
  port: number;
  dataDir: string;
  pid: number | undefined;
  /** `pg_ctl stop -m fast`, then removes the data dir when it was a temporary one. Idempotent. */
  stop(): Promise<void>;
}

/**
 * A fresh server in a temporary dir (or `dataDir`), on a free port, for tests and by hand. The
 * postmaster shares our process group: a Ctrl-C in the terminal reaches it too (a fast shutdown),
 * so even a killed test run leaves no server behind.
 */
export async function startPostgres(
  options: { dataDir?: string; port?: number; throwaway?: boolean; signal?: AbortSignal } = {},
): Promise<RunningPostgres> {
  const throwaway = options.throwaway ?? !options.dataDir;
  const temporary = options.dataDir ? undefined : mkdtempSync(path.join(os.tmpdir(), 'tandem-pg-'));
  const dataDir = options.dataDir ?? path.join(temporary!, 'data');
  if (temporary) chmodSync(temporary, 0o755);
  const user = serverUser();
  const bin = postgresBinDir();
  const removeTemporary = () => temporary && rmSync(temporary, { recursive: true, force: true });
  let password: string;
  try {
    ({ password } = await initCluster(dataDir, { throwaway, signal: options.signal }));
    options.signal?.throwIfAborted();
  } catch (err) {
    removeTemporary();
    throw err;
  }
  const port = options.port ?? (await freePorts('127.0.0.1', 1))[0]!;
  const [command, args] = asUser(user, path.join(bin, 'postgres'), postgresArgs(dataDir, port, { throwaway }));
  const log: string[] = [];
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const remember = (chunk: Buffer) => log.push(...chunk.toString('utf8').split('\n').filter(Boolean).slice(-20));
  child.stdout?.on('data', remember);
  child.stderr?.on('data', remember);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));

  const url = postgresUrl({ port, password });
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (!gone) {
        const [ctl, ctlArgs] = asUser(user, path.join(bin, 'pg_ctl'), ['stop', '--pgdata', dataDir, '--mode', 'fast', '--wait', '--silent']);
        await runCommand(ctl, ctlArgs, { timeoutMs: 30_000 }).catch(() => child.kill('SIGKILL'));
        await exited;
      }
      removeTemporary();
    })());
  options.signal?.addEventListener('abort', () => void stop(), { once: true });

  const deadline = Date.now() + 30_000;
  while (!(await postgresAnswers(url))) {
    if (options.signal?.aborted) {
      await stop();
      throw new PostgresSetupError('interrupted while PostgreSQL was starting');
    }
    if (gone || Date.now() > deadline) {
      await stop();
      throw new PostgresSetupError(`PostgreSQL did not start on 127.0.0.1:${port}: ${log.slice(-5).join(' | ') || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, port, dataDir, pid: child.pid, stop };
}

/** Creates database `name` (owned by the superuser) on the server of `adminUrl`; returns its URL. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

// --- the launcher's PostgreSQL (`npm start -- --profile cluster`) --------------------------------

/**
 * Where the launcher's cluster lives: `<state dir>/postgres` (the password, and the data dir). As
 * root the server runs as another user, who cannot enter a state dir that is private to root (it
 * is 0700, and often inside root's 0700 home), and opening it up would expose the SQLite file and
 * the keyring beside it: so the data dir is then `/var/lib/tandem-pg/<hash of the state dir>`,
 * owned by that user, and only the password stays in the state dir.
 */
export function launcherPostgresPaths(stateDir: string, runAsOther = serverUser().uid !== process.getuid?.()) {
  const root = path.join(stateDir, 'postgres');
  const dataDir = runAsOther
    ? path.join('/var/lib', serviceUser, createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 16))
    : path.join(root, 'data');
  return { root, dataDir, passwordFile: path.join(root, 'password') };
}

/** The store's database on the launcher's cluster, once `postgresPrepareSteps` have created it. */
export function launcherPostgresUrl(stateDir: string, port: number): string {
  const password = readFileSync(launcherPostgresPaths(stateDir).passwordFile, 'utf8').trim();
  return postgresUrl({ port, password }, postgresSuperuser);
}

/** initdb and the store's database on first start; the password is kept beside the data dir. */
export function postgresPrepareSteps(stateDir: string): PrepareStep[] {
  const paths = launcherPostgresPaths(stateDir);
  return [
    {
      name: 'creating the PostgreSQL cluster (first start only)',
      run: async (context) => {
        if (existsSync(paths.passwordFile)) return;
        mkdirSync(paths.root, { recursive: true, mode: 0o700 });
        // An interrupted initdb leaves a partial data dir; the password file is written only after.
        rmSync(paths.dataDir, { recursive: true, force: true });
        mkdirSync(path.dirname(paths.dataDir), { recursive: true, mode: 0o755 });
        const { password } = await initCluster(paths.dataDir, { signal: context?.signal });
        // The store's database, made before the server first runs: single-user mode reads SQL on stdin.
        const [command, args] = asUser(serverUser(), path.join(postgresBinDir(), 'postgres'), ['--single', '-D', paths.dataDir, 'postgres']);
        execFileSync(command, args, { input: `CREATE DATABASE ${postgresSuperuser};\n`, stdio: ['pipe', 'ignore', 'pipe'], timeout: 60_000 });
        writeFileSync(paths.passwordFile, `${password}\n`, { mode: 0o600 });
      },
    },
  ];
}

export function postgresProcess(stateDir: string, port: number): ProcessSpec {
  const { dataDir } = launcherPostgresPaths(stateDir);
  const [command, args] = asUser(serverUser(), path.join(postgresBinDir(), 'postgres'), postgresArgs(dataDir, port));
  return {
    name: 'postgres',
    command,
    args,
    ports: [port],
    ready: () => postgresAnswers(launcherPostgresUrl(stateDir, port)),
    readyTimeoutMs: 30_000,
    installHint: 'run `npm run bootstrap` as root, or `sudo apt-get install -y postgresql`',
  };
}

if (import.meta.main) {
  const options = new Command('tandem-postgres')
    .description('Start a PostgreSQL server for the tandem store on 127.0.0.1 and print its TANDEM_DATABASE_URL; Ctrl-C stops it.')
    .option('--data-dir <dir>', 'keep the cluster in this (new) directory instead of a temporary one')
    .option('--port <n>', 'port to listen on (default: a free one)', (v) => Number(v))
    .parse()
    .opts<{ dataDir?: string; port?: number }>();
  // Installed before anything starts: a Ctrl-C during initdb or start-up stops what exists.
  const stopRequest = new AbortController();
  process.once('SIGINT', () => stopRequest.abort());
  process.once('SIGTERM', () => stopRequest.abort());
  try {
    const server = await startPostgres({ dataDir: options.dataDir && path.resolve(options.dataDir), port: options.port, signal: stopRequest.signal });
    const url = await createDatabase(server.url, postgresSuperuser);
    console.log(`TANDEM_DATABASE_URL=${url}`);
    console.log(`[postgres] pid ${server.pid}, data in ${server.dataDir}; Ctrl-C stops it`);
    stopRequest.signal.addEventListener('abort', () => void server.stop().then(() => process.exit(0)), { once: true });
  } catch (err) {
    console.error(`[postgres] error: ${stopRequest.signal.aborted ? 'interrupted' : (err as Error).message}`);
    process.exit(stopRequest.signal.aborted ? 0 : 1);
  }
}
