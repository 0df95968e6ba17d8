/**
 * Runs the Airflow CLI against the embedded Airflow of a state dir, with exactly the environment
 * the launcher gives the Airflow processes (deploy/dev/airflow.ts), e.g.
 *
 *   node deploy/airflow/cli.ts dags list
 *   node deploy/airflow/cli.ts dags list-import-errors
 *   TANDEM_STATE_DIR=.tandem-test node deploy/airflow/cli.ts tasks states-for-dag-run my_dag manual__…
 *
 * Without it, `.venv/bin/airflow` would read ~/airflow and a different (empty) database.
 */
import { spawn } from 'node:child_process';
import { loadConfig, statePaths } from '../../shared/config.ts';
import { readCredentials } from '../../shared/credentials.ts';
import { airflowEnvironment, airflowLayout } from '../dev/airflow.ts';

const config = loadConfig();
const credentials = readCredentials(statePaths(config.stateDir).credentials);
const args = process.argv.slice(2);
if (args.length === 0) args.push('--help');

const child = spawn(airflowLayout(config).airflowBin, args, {
  stdio: 'inherit',
  env: { ...process.env, ...airflowEnvironment(config, credentials) },
});
child.on('error', (err) => {
  console.error(`cannot run Airflow (${err.message}); run \`npm run bootstrap\` first`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
