/**
 * `npm start`: runs the whole embedded stack in the foreground until Ctrl-C.
 * Bootstrapping (npm packages, .venv) has already happened in deploy/dev/bootstrap.sh.
 *
 * Ctrl-C (or SIGTERM) at any moment — while preparing, while a wave starts, while the examples
 * are applied, or running — stops every process started so far, then exits; a second Ctrl-C
 * kills them at once. The handlers are installed before anything starts.
 */
import { Command, Option } from 'commander';
import { ConfigError, configSettings, loadConfig, otherVariables } from '../../shared/config.ts';
import { temporalRegions } from '../../shared/regions.ts';
import { applyExampleOnStart } from './example-pipeline.ts';
import { describeDatabaseUrl } from '../../shared/store/postgres-store.ts';
import { stackProfiles, startStack, type StackHandle, type StackProfile } from './stack.ts';
import { handleStopSignals, StackError } from './supervisor.ts';
import { numHistoryShards, temporalServerVersion } from './temporal-cluster/cluster.ts';

/** The declared variables, one a line: name, meaning, default (README's table, without Markdown). */
function variablesHelp(): string {
  const rows = [
    ...configSettings.flatMap((s) => (s.env ? [{ ...s, env: s.env, readBy: undefined }] : [])),
    ...otherVariables,
  ];
  const width = Math.max(...rows.map((r) => r.env.length));
  const plain = (markdown: string) => markdown.replaceAll('`', '');
  return rows
    .map((r) => `  ${r.env.padEnd(width)}  ${r.readBy ? `(${r.readBy} only) ` : ''}${plain(r.description)} [default: ${plain(r.defaultText)}]`)
    .join('\n');
}

const program = new Command('tandem-start')
  .description('Start the embedded tandem stack: Temporal dev server, Airflow 3, the tandem worker and the control API.')
  .addHelpText(
    'after',
    `\nWith --profile cluster everything runs on PostgreSQL: Debian's server starts first (data in <state dir>/postgres, port TANDEM_DATABASE_PORT), or the one TANDEM_DATABASE_URL names is used. On it: the store (the launcher migrates it), a Temporal cluster instead of the dev server (temporal-server ${temporalServerVersion} built once, ~4 min cold: frontend on TANDEM_TEMPORAL_PORT, history, matching and worker services from TANDEM_TEMPORAL_CLUSTER_PORT_BASE; databases temporal and temporal_visibility) and Airflow's metadata DB (database airflow). An older Temporal schema is refused until you start once with --upgrade-temporal-schema (back it up first).\n\nWith --with-kubernetes the local Kubernetes (etcd, kube-apiserver, controller-manager, scheduler and kwok with simulated GPU nodes; built once, ~10 min cold) starts first, and gpu.batch flows and k8s_job stages run as Jobs on it.\n\nConfiguration comes from <state dir>/config.json (README.md, "Configuration") and these environment variables:\n${variablesHelp()}\n\nState (databases, credentials, logs) lives in .tandem/ unless TANDEM_STATE_DIR says otherwise.`,
  )
  .option('--with-kubernetes', 'also start the local Kubernetes and run batch jobs on it', false)
  .addOption(
    new Option('--profile <name>', 'embedded: all state in files of the state dir; cluster: the store, a Temporal cluster and Airflow on PostgreSQL')
      .choices(stackProfiles)
      .default('embedded'),
  )
  .option('--upgrade-temporal-schema', 'cluster profile: upgrade an older Temporal schema to the binary\'s (back the databases up first)', false)
  .parse();
const options = program.opts<{ withKubernetes: boolean; profile: StackProfile; upgradeTemporalSchema: boolean }>();

const progress = (line: string) => console.log(`[tandem] ${line}`);

function printReady(stack: StackHandle): void {
  const { config } = stack;
  const temporalUi = !config.temporal.embedded
    ? '(external Temporal)'
    : stack.profile === 'cluster'
      ? `(none: the cluster profile runs no Web UI; frontend gRPC ${config.temporal.address})`
      : `http://${config.host}:${config.temporal.uiPort}`;
  const regions = temporalRegions(config);
  const lines = [
    '',
    `tandem is ready in ${stack.readySeconds.toFixed(1)} s`,
    `  Control API      ${config.api.url}`,
    `  Console          ${config.api.url}/console   (sign in with an API key)`,
    `  API docs         ${config.api.url}/docs   (OpenAPI: ${config.api.url}/openapi.json)`,
    `  Airflow UI       ${config.airflow.url}   (user ${stack.credentials.airflow.adminUser})`,
    `  Temporal UI      ${temporalUi}`,
    // Only with data-residency regions configured: npm start's own output stays as it was.
    ...(regions.length > 1 ? [`  Regions          ${regions.map((r) => `${r.name}=${r.address}/${r.namespace}`).join(', ')}`] : []),
    `  Store            ${config.database.url ? `PostgreSQL ${describeDatabaseUrl(config.database.url)}` : `SQLite ${config.stateDir}/tandem.db`}`,
    ...(stack.profile === 'cluster'
      ? [
          `  Temporal         cluster: frontend, history, matching, worker on PostgreSQL (${config.temporal.embedded ? `${numHistoryShards} history shards` : 'external'})`,
          `  Airflow DB       ${config.airflow.databaseUrl ? `PostgreSQL ${describeDatabaseUrl(config.airflow.databaseUrl)}` : 'SQLite'}`,
        ]
      : []),
    ...(stack.kubernetes ? [`  Kubernetes       ${stack.kubernetes.server}   (KUBECONFIG=${stack.kubernetes.kubeconfigPath})`] : []),
    `  Credentials      ${stack.credentialsFile}   (admin API key, Airflow password)`,
    `  Logs             ${config.stateDir}/logs/`,
    '',
    `Try: curl -H "Authorization: Bearer $(node -p "require('${stack.credentialsFile}').adminApiKey")" ${config.api.url}/v1/version`,
    'Press Ctrl-C to stop.',
  ];
  console.log(lines.join('\n'));
}

const stopReasons: Partial<Record<NodeJS.Signals, string>> = { SIGINT: 'interrupted', SIGTERM: 'terminated', SIGHUP: 'terminal closed' };

async function main(): Promise<void> {
  // Before anything is started: from here on a signal stops what exists (nothing yet is fine).
  const stopRequest = new AbortController();
  handleStopSignals((signal) => {
    progress(`${stopReasons[signal] ?? signal}; stopping… (Ctrl-C again to kill everything now)`);
    stopRequest.abort(signal);
  }, progress);
  const { signal } = stopRequest;

  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`[tandem] error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  progress(`state dir ${config.stateDir}`);
  let stack: StackHandle;
  try {
    // The signal reaches the supervisor, which stops whatever has started and is starting.
    stack = await startStack(config, progress, {
      signal,
      withKubernetes: options.withKubernetes,
      profile: options.profile,
      upgradeTemporalSchema: options.upgradeTemporalSchema,
    });
  } catch (err) {
    if (signal.aborted) {
      progress('stopped');
      process.exit(0);
    }
    // One clear line (plus a log excerpt where there is one); the stack trace only on request.
    console.error(`[tandem] error: ${(err as Error).message}`);
    if (!(err instanceof StackError || err instanceof ConfigError)) {
      if (config.logLevel === 'debug' || config.logLevel === 'trace') console.error(err);
      else console.error('[tandem] (set TANDEM_LOG_LEVEL=debug for the stack trace)');
    }
    process.exit(1);
  }

  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await stack.stop();
    progress('stopped');
    process.exit(code);
  };
  stack.supervisor.onUnexpectedExit = (name, code) => {
    console.error(`[tandem] error: ${name} exited unexpectedly (code ${code}); see ${stack.supervisor.logFile(name)}`);
    progress(`${name} died; stopping…`);
    void shutdown(1);
  };
  if (signal.aborted) return void (await shutdown(0));
  signal.addEventListener('abort', () => void shutdown(0), { once: true });

  // Not part of startStack: the integration tests and benchmarks start the same stack without it.
  await applyExampleOnStart(stack, progress, signal);
  if (!stopping) printReady(stack);
}

await main();
