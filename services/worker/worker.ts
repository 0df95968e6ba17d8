/**
 * The tandem Temporal worker: runs every workflow in workflows/ (from the pre-built bundle) and
 * every activity family in ./activities on the configured task queue — in every data-residency
 * region (shared/regions.ts): one Worker per region's namespace, all in this process, started and
 * stopped together, so a department's work runs wherever its region's namespace holds it.
 *
 *   node services/worker/worker.ts [--identity <name>]
 *
 * Stops gracefully on SIGINT/SIGTERM: stops polling, lets running activities finish within the
 * grace time, then exits 0. Start-up failures (bad config, no bundle, Temporal unreachable) are
 * one line on stderr and a non-zero exit, so the launcher can show them as they are.
 */
import os from 'node:os';
import { Command } from 'commander';
import { pino, type Logger as PinoLogger } from 'pino';
import { Runtime, Worker, makeTelemetryFilterString, type Logger, type LogLevel, type LogMetadata, type NativeConnection } from '@temporalio/worker';
import { ConfigError, loadConfig, type TandemConfig } from '../../shared/config.ts';
import { agreedPayloadCodec, failureConverterPath } from '../../shared/payload-codec.ts';
import { localRegion, temporalRegions } from '../../shared/regions.ts';
import { connectNativeTemporal, describeTemporalError } from '../../shared/temporal-connection.ts';
import { openStore } from '../../shared/store/open-store.ts';
import { createActivities, jobRunnerOf } from './activities/index.ts';
import { locateWorkflowBundle } from './bundle.ts';
import { startWorkerHealthServer, type WorkerHealthServer, type WorkerHealthState } from './health.ts';

/** The supervisor sends SIGKILL 10 s after SIGTERM; activities get most of that to finish. */
const shutdownGraceTime = '8 seconds';

export function defaultWorkerIdentity(): string {
  return `tandem-worker@${os.hostname()}:${process.pid}`;
}

/** Temporal's SDK and core logs, through the same pino logger as ours. */
export function temporalLogger(logger: PinoLogger): Logger {
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
    TRACE: 'trace',
    DEBUG: 'debug',
    INFO: 'info',
    WARN: 'warn',
    ERROR: 'error',
  };
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => logger[levels[level]](meta ?? {}, message);
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

/**
 * Runs the workers until every one has stopped. One stopping — a shutdown signal reaches them all
 * through the Runtime, a fatal error only its own — stops the others, so the process never polls
 * some regions and not others; the first error is rethrown once all have stopped.
 */
export async function runTogether(workers: readonly Worker[]): Promise<void> {
  const stopOthers = () => {
    for (const other of workers) {
      if (other.getState() !== 'RUNNING') continue;
      try {
        other.shutdown();
      } catch {
        // Shutting down already.
      }
    }
  };
  const settled = await Promise.allSettled(workers.map((w) => w.run().finally(stopOthers)));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** All RUNNING when every region's worker is; else the first one that is not (a region down is not ready). */
export function combinedState(workers: readonly Worker[]): WorkerHealthState {
  if (workers.length === 0) return 'STARTING';
  return workers.map((w) => w.getState()).find((s) => s !== 'RUNNING') ?? 'RUNNING';
}

function fail(message: string, code = 1): never {
  console.error(`[worker] error: ${message}`);
  process.exit(code);
}

async function run(config: TandemConfig, identity: string): Promise<void> {
  const logger = pino({ name: 'worker', level: config.logLevel, timestamp: pino.stdTimeFunctions.isoTime });
  Runtime.install({
    logger: temporalLogger(logger),
    // Core's own logs (polling, gRPC) only when they matter.
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } },
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });

  // First, so a kubelet sees a live process while the worker connects, and a ready one only
  // once it polls.
  const regions = temporalRegions(config);
  const workers: Worker[] = [];
  let health: WorkerHealthServer | undefined;
  if (config.worker.healthPort !== undefined) {
    const port = config.worker.healthPort;
    health = await startWorkerHealthServer({ host: config.host, port, state: () => (workers.length < regions.length ? 'STARTING' : combinedState(workers)) }).catch((err: Error) =>
      fail(`cannot serve the health port ${port} (${err.message}); free it or change TANDEM_WORKER_HEALTH_PORT`),
    );
  }

  // The same store as the API: the SQLite file (WAL mode), or PostgreSQL, which only
  // deploy/store/migrate.ts migrates. Opened before anything is written: a store it cannot use (unreachable, a schema
  // of another version) stops the worker before it writes anything, the keyring file included.
  const store = await openStore(config, { migrate: false }).catch((err: Error) => fail(err.message));
  const bundle = await locateWorkflowBundle().catch((err: Error) => fail(err.message));
  // Then the keys: a worker that cannot decrypt must not poll (it would fail every task it takes).
  // The same keyring as every other API and worker on this store (agreedPayloadCodec).
  const payloadCodec = await agreedPayloadCodec(config, store).catch((err: Error) => fail(err.message));
  const jobRunner = (() => {
    try {
      return jobRunnerOf(config);
    } catch (err) {
      // TANDEM_JOBS_RUNNER=kubernetes without a usable kubeconfig: say so instead of failing every job.
      return fail((err as Error).message);
    }
  })();
  const activities = createActivities({ store, config, jobRunner });
  const { taskQueue } = config.temporal;
  const connections: NativeConnection[] = [];
  const closeConnections = () => Promise.all(connections.map((c) => c.close()));
  for (const { name, address, namespace } of regions) {
    const setting = name === localRegion ? 'TANDEM_TEMPORAL_ADDRESS' : `region ${name} in TANDEM_REGIONS`;
    const connection = await connectNativeTemporal(config, { name, address, namespace }).catch(async (err: unknown) => {
      await closeConnections();
      return fail(`Temporal at ${address} is not reachable (${describeTemporalError(err)}); start it or fix ${setting}`);
    });
    connections.push(connection);
    try {
      workers.push(
        await Worker.create({
          connection,
          namespace,
          taskQueue,
          identity,
          workflowBundle: { codePath: bundle.codePath },
          // Inputs, results and failure messages reach Temporal encrypted (shared/payload-codec.ts).
          dataConverter: { payloadCodecs: [payloadCodec], failureConverterPath },
          activities,
          maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
          maxConcurrentWorkflowTaskExecutions: config.worker.maxConcurrentWorkflowTasks,
          maxCachedWorkflows: config.worker.maxCachedWorkflows,
          shutdownGraceTime,
          // A cancellation reaches a heartbeating activity with its next heartbeat that the SDK sends;
          // the default throttle (up to 60 s) would keep a cancelled GPU job running that long.
          maxHeartbeatThrottleInterval: '5 seconds',
        }),
      );
    } catch (err) {
      await closeConnections();
      fail(`cannot create the worker on ${address} namespace ${namespace}${name === localRegion ? '' : ` (region ${name})`}: ${describeTemporalError(err)}`);
    }
  }

  logger.info(
    { regions: regions.map((r) => `${r.name}=${r.address}/${r.namespace}`), taskQueue, identity, bundle: bundle.hash, activities: Object.keys(activities).length },
    'worker starting',
  );
  try {
    await runTogether(workers);
  } finally {
    await closeConnections();
    await store.close();
    await health?.close();
    // The Kubernetes runner's watches would keep the process alive.
    await jobRunner.close?.();
  }
  logger.info('worker stopped');
}

if (import.meta.main) {
  const { identity } = new Command('tandem-worker')
    .description('Run the tandem Temporal worker (workflows from workflows/.bundle, activities from services/worker/activities).')
    .option('--identity <name>', 'worker identity shown in Temporal (and used by the launcher to see this worker poll)')
    .parse()
    .opts<{ identity?: string }>();
  let config: TandemConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  try {
    await run(config, identity ?? defaultWorkerIdentity());
  } catch (err) {
    fail(`worker stopped on an unexpected error: ${describeTemporalError(err)}`);
  }
}
