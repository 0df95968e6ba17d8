#!/usr/bin/env node
/**
 * `tandem …` (or `npm run tandem -- …`): the control API from a terminal. It only calls the REST
 * API — anything it can do, a service can do with curl — and prints JSON.
 *
 * The API URL comes from the usual config (TANDEM_API_URL / TANDEM_API_PORT / state dir); the key
 * from --api-key, else TANDEM_API_KEY, else the admin key in the state dir's credentials file.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { loadConfig, statePaths } from '../shared/config.ts';
import { readCredentials } from '../shared/credentials.ts';

interface GlobalOptions {
  apiUrl?: string;
  apiKey?: string;
}

class CliError extends Error {}

function connection(program: Command): { url: string; key: string } {
  const opts = program.opts<GlobalOptions>();
  const config = loadConfig();
  const key = opts.apiKey ?? process.env.TANDEM_API_KEY ?? readCredentials(statePaths(config.stateDir).credentials).adminApiKey;
  return { url: (opts.apiUrl ?? config.api.url).replace(/\/+$/, ''), key };
}

/** A request body: a value sent as JSON, or text sent as it is with its own content type. */
type Body = { json: unknown } | { text: string; contentType: string };

async function call(program: Command, method: string, path: string, body?: Body, headers: Record<string, string> = {}): Promise<unknown> {
  const { url, key } = connection(program);
  const contentType = body === undefined ? undefined : 'json' in body ? 'application/json' : body.contentType;
  let res: Response;
  try {
    res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(contentType ? { 'content-type': contentType } : {}), ...headers },
      ...(body !== undefined ? { body: 'json' in body ? JSON.stringify(body.json) : body.text } : {}),
      // Applying a pipeline waits for Airflow to parse the DAG.
      signal: AbortSignal.timeout(300_000),
    });
  } catch (err) {
    throw new CliError(`cannot reach the tandem API at ${url} (${(err as Error).cause ?? (err as Error).message}); is \`npm start\` running?`);
  }
  const text = await res.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const problem = parsed as { title?: string; detail?: string; errors?: { path: string; message: string }[] } | null;
    const lines = [`${res.status} ${problem?.title ?? res.statusText}: ${problem?.detail ?? ''}`.trim()];
    for (const e of problem?.errors ?? []) lines.push(`  ${e.path}: ${e.message}`);
    throw new CliError(lines.join('\n'));
  }
  return parsed;
}

/** `--input '{"a":1}'` or `--input @file.json`. */
function jsonArgument(value: string): unknown {
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`--input is not valid JSON: ${(err as Error).message}`);
  }
}

const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));

export function buildCli(): Command {
  const program = new Command('tandem')
    .description('Command line for the tandem control API')
    .addOption(new Option('--api-url <url>', 'control API base URL (default: from config)'))
    .addOption(new Option('--api-key <key>', 'API key (default: $TANDEM_API_KEY, else the admin key in credentials.json)'))
    .showHelpAfterError();

  program.command('version').description('Versions of the API and its Node.js').action(async () => print(await call(program, 'GET', '/v1/version')));
  program.command('ready').description('Readiness of store, Temporal and Airflow').action(async () => {
    const { url } = connection(program);
    const res = await fetch(`${url}/readyz`).catch((err: Error) => {
      throw new CliError(`cannot reach the tandem API at ${url} (${err.message})`);
    });
    print(await res.json());
    if (!res.ok) process.exitCode = 1;
  });

  const workflows = program.command('workflows').description('Durable flows (Temporal)');
  workflows
    .command('start')
    .description('Start a durable flow by type')
    .requiredOption('-t, --type <type>', 'workflow type, e.g. smoke.echo')
    .requiredOption('-i, --input <json>', 'input as JSON, or @file.json')
    .option('--idempotency-key <key>', 'the same key returns the same workflow')
    .action(async (opts: { type: string; input: string; idempotencyKey?: string }) =>
      print(
        await call(program, 'POST', '/v1/workflows', { json: { type: opts.type, input: jsonArgument(opts.input) } }, opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {}),
      ),
    );
  workflows
    .command('get <id>')
    .description('State of a workflow, with its result once completed')
    .action(async (id: string) => print(await call(program, 'GET', `/v1/workflows/${encodeURIComponent(id)}`)));
  workflows
    .command('cancel <id>')
    .description('Request cancellation of a workflow')
    .action(async (id: string) => print(await call(program, 'POST', `/v1/workflows/${encodeURIComponent(id)}/cancel`)));

  const pipelines = program.command('pipelines').description('Pipeline specs → Airflow DAGs');
  const specBody = (file: string): Body => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
    }
    return /\.ya?ml$/i.test(file) ? { text, contentType: 'application/yaml' } : { text, contentType: 'application/json' };
  };
  pipelines
    .command('validate')
    .description('Dry run: lint findings and the generated Python, nothing deployed')
    .requiredOption('-f, --file <spec>', 'pipeline spec, YAML or JSON')
    .action(async (opts: { file: string }) => print(await call(program, 'POST', '/v1/pipelines/validate', specBody(opts.file))));
  pipelines
    .command('apply')
    .description('Validate, generate and deploy a pipeline (creates or updates it)')
    .requiredOption('-f, --file <spec>', 'pipeline spec, YAML or JSON')
    .action(async (opts: { file: string }) => print(await call(program, 'POST', '/v1/pipelines', specBody(opts.file))));
  pipelines.command('list').description('Pipelines you can see').action(async () => print(await call(program, 'GET', '/v1/pipelines')));
  pipelines.command('get <id>').description('One pipeline').action(async (id: string) => print(await call(program, 'GET', `/v1/pipelines/${encodeURIComponent(id)}`)));
  pipelines
    .command('run <id>')
    .description('Trigger a run of chosen partitions (default all), or a backfill range')
    .option('-p, --partition <key...>', 'partition keys to run')
    .option('--force', 'run partitions whose sources did not change', false)
    .option('--from <date>', 'backfill start (YYYY-MM-DD)')
    .option('--to <date>', 'backfill end (YYYY-MM-DD)')
    .action(async (id: string, opts: { partition?: string[]; force: boolean; from?: string; to?: string }) =>
      print(
        await call(program, 'POST', `/v1/pipelines/${encodeURIComponent(id)}/runs`, {
          json: { force: opts.force, ...(opts.partition ? { partitions: opts.partition } : {}), ...(opts.from ? { from: opts.from } : {}), ...(opts.to ? { to: opts.to } : {}) },
        }),
      ),
    );
  pipelines
    .command('partitions <id>')
    .description('Per partition: last fingerprint, when it changed, last run, skipped or ran and why')
    .action(async (id: string) => print(await call(program, 'GET', `/v1/pipelines/${encodeURIComponent(id)}/partitions`)));
  pipelines
    .command('delete <id>')
    .description('Pause and remove the DAG; run history is kept')
    .action(async (id: string) => print(await call(program, 'DELETE', `/v1/pipelines/${encodeURIComponent(id)}`)));
  return program;
}

if (import.meta.main) {
  try {
    await buildCli().parseAsync();
  } catch (err) {
    console.error(`tandem: ${(err as Error).message}`);
    process.exit(1);
  }
}
