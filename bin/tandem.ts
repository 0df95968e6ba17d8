#!/usr/bin/env node
/**
 * `tandem …` (or `npm run tandem -- …`): the control API from a terminal. It only calls the REST
 * API — anything it can do, a service can do with curl. Tables for people by default; `--json`
 * prints the API's answer as it came, for scripts.
 */
import { Command, CommanderError, Option } from 'commander';
import { call, cliConfigFile, CliError, connection, exitCodes, type GlobalOptions } from './cli/api.ts';
import { registerKeys } from './cli/keys.ts';
import { printRecord } from './cli/output.ts';
import { registerPipelines } from './cli/pipelines.ts';
import { registerReviews } from './cli/reviews.ts';
import { registerSubscriptions } from './cli/subscriptions.ts';
import { registerTenants } from './cli/tenants.ts';
import { registerWorkflows } from './cli/workflows.ts';

export function buildCli(): Command {
  const program = new Command('tandem')
    .description('Command line for the tandem control API')
    .addOption(new Option('--api-url <url>', 'control API base URL (default: $TANDEM_API_URL, the CLI config file, else the local stack’s)'))
    .addOption(new Option('--api-key <key>', 'API key (default: $TANDEM_API_KEY, the CLI config file, else the local admin key)'))
    .addOption(new Option('--json', 'print the API’s JSON instead of tables'))
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Configuration: ${cliConfigFile()} may hold {"apiUrl": "…", "apiKey": "…"} ($TANDEM_CLI_CONFIG names another file).

Exit codes:
  ${exitCodes.ok}  done
  ${exitCodes.refused}  the API refused the request (4xx/5xx; the problem is printed), or a check failed
  ${exitCodes.usage}  bad usage: unknown command or option, unreadable file, invalid JSON argument
  ${exitCodes.unreachable}  the API (or an engine behind it, 503) could not be reached`,
    );
  const global = () => program.opts<GlobalOptions>();
  // Every command, nested ones too, exits through one place with the documented codes.
  program.exitOverride();

  program
    .command('version')
    .description('Versions of the API and its Node.js')
    .action(async () => printRecord(global().json ?? false, await call(global(), 'GET', '/v1/version')));
  program
    .command('ready')
    .description('Readiness of store, Temporal and Airflow; exits 1 when not ready')
    .action(async () => {
      const { url } = connection(global());
      const res = await fetch(`${url}/readyz`).catch((err: Error) => {
        throw new CliError(`cannot reach the tandem API at ${url} (${err.message})`, exitCodes.unreachable);
      });
      printRecord(global().json ?? false, await res.json());
      if (!res.ok) process.exitCode = exitCodes.refused;
    });
  registerWorkflows(program, global);
  registerPipelines(program, global);
  registerReviews(program, global);
  registerKeys(program, global);
  registerSubscriptions(program, global);
  registerTenants(program, global);
  return program;
}

if (import.meta.main) {
  try {
    await buildCli().parseAsync();
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are not failures; anything else commander refuses is bad usage.
      process.exit(err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version' ? exitCodes.ok : exitCodes.usage);
    }
    console.error(`tandem: ${(err as Error).message}`);
    process.exit(err instanceof CliError ? err.exitCode : exitCodes.refused);
  }
}
