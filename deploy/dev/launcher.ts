/**
 * `npm start`: runs the whole embedded stack in the foreground until Ctrl-C.
 * Bootstrapping (npm packages, .venv) has already happened in deploy/dev/bootstrap.sh.
 */
import { Command } from 'commander';
import { ConfigError, configSettings, loadConfig, otherVariables } from '../../shared/config.ts';
import { applyExampleOnStart } from './example-pipeline.ts';
import { startStack, type StackHandle } from './stack.ts';
import { StackError } from './supervisor.ts';

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
    `\nConfiguration comes from <state dir>/config.json (README.md, "Configuration") and these environment variables:\n${variablesHelp()}\n\nState (databases, credentials, logs) lives in .tandem/ unless TANDEM_STATE_DIR says otherwise.`,
  )
  .parse();
void program;

const progress = (line: string) => console.log(`[tandem] ${line}`);

function printReady(stack: StackHandle): void {
  const { config } = stack;
  const temporalUi = config.temporal.embedded ? `http://${config.host}:${config.temporal.uiPort}` : '(external Temporal)';
  const lines = [
    '',
    `tandem is ready in ${stack.readySeconds.toFixed(1)} s`,
    `  Control API      ${config.api.url}`,
    `  API docs         ${config.api.url}/docs   (OpenAPI: ${config.api.url}/openapi.json)`,
    `  Airflow UI       ${config.airflow.url}   (user ${stack.credentials.airflow.adminUser})`,
    `  Temporal UI      ${temporalUi}`,
    `  Credentials      ${stack.credentialsFile}   (admin API key, Airflow password)`,
    `  Logs             ${config.stateDir}/logs/`,
    '',
    `Try: curl -H "Authorization: Bearer $(node -p "require('${stack.credentialsFile}').adminApiKey")" ${config.api.url}/v1/version`,
    'Press Ctrl-C to stop.',
  ];
  console.log(lines.join('\n'));
}

async function main(): Promise<void> {
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
    stack = await startStack(config, progress);
  } catch (err) {
    // One clear line (plus a log excerpt where there is one); the stack trace only on request.
    console.error(`[tandem] error: ${(err as Error).message}`);
    if (!(err instanceof StackError || err instanceof ConfigError)) {
      if (config.logLevel === 'debug' || config.logLevel === 'trace') console.error(err);
      else console.error('[tandem] (set TANDEM_LOG_LEVEL=debug for the stack trace)');
    }
    process.exit(1);
  }
  // Not part of startStack: the integration tests and benchmarks start the same stack without it.
  await applyExampleOnStart(stack, progress);
  printReady(stack);

  let stopping = false;
  const shutdown = async (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    progress(`${reason}; stopping…`);
    await stack.stop();
    progress('stopped');
    process.exit(code);
  };
  stack.supervisor.onUnexpectedExit = (name, code) => {
    console.error(`[tandem] error: ${name} exited unexpectedly (code ${code}); see ${stack.supervisor.logFile(name)}`);
    void shutdown(`${name} died`, 1);
  };
  process.on('SIGINT', () => void shutdown('interrupted', 0));
  process.on('SIGTERM', () => void shutdown('terminated', 0));
}

await main();
