/**
 * How the CLI reaches the control API: URL and key from flags, the environment, the CLI's own
 * config file, or the local stack's config and credentials (in that order), and one request
 * helper that turns problem+json answers into readable errors with their exit code.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, statePaths } from '../../shared/config.ts';
import { readCredentials } from '../../shared/credentials.ts';

/** Exit codes, as `tandem --help` documents them. */
export const exitCodes = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = exitCodes.refused) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface GlobalOptions {
  apiUrl?: string;
  apiKey?: string;
  json?: boolean;
}

/** `$TANDEM_CLI_CONFIG`, else `$XDG_CONFIG_HOME/tandem/cli.json` (~/.config by default). */
export function cliConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TANDEM_CLI_CONFIG) return env.TANDEM_CLI_CONFIG;
  return path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'tandem', 'cli.json');
}

function cliConfig(): { apiUrl?: string; apiKey?: string } {
  const file = cliConfigFile();
  if (!existsSync(file)) return {};
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { apiUrl?: unknown; apiKey?: unknown };
    return {
      ...(typeof parsed.apiUrl === 'string' ? { apiUrl: parsed.apiUrl } : {}),
      ...(typeof parsed.apiKey === 'string' ? { apiKey: parsed.apiKey } : {}),
    };
  } catch (err) {
    throw new CliError(`${file} is not valid JSON: ${(err as Error).message}`, exitCodes.usage);
  }
}

export function connection(opts: GlobalOptions): { url: string; key: string } {
  const file = cliConfig();
  const url = opts.apiUrl ?? process.env.TANDEM_API_URL ?? file.apiUrl;
  let key = opts.apiKey ?? process.env.TANDEM_API_KEY ?? file.apiKey;
  let fallbackUrl: string | undefined;
  if (!url || !key) {
    // The local stack's settings: what `npm start` in this checkout serves.
    const config = loadConfig();
    fallbackUrl = config.api.url;
    if (!key) {
      try {
        key = readCredentials(statePaths(config.stateDir).credentials).adminApiKey;
      } catch {
        throw new CliError(`no API key: pass --api-key, set TANDEM_API_KEY, or put "apiKey" in ${cliConfigFile()}`, exitCodes.usage);
      }
    }
  }
  return { url: (url ?? fallbackUrl!).replace(/\/+$/, ''), key: key! };
}

/** A request body: a value sent as JSON, or text sent as it is with its own content type. */
export type Body = { json: unknown } | { text: string; contentType: string };

export async function call(opts: GlobalOptions, method: string, apiPath: string, body?: Body, headers: Record<string, string> = {}): Promise<unknown> {
  const { url, key } = connection(opts);
  const contentType = body === undefined ? undefined : 'json' in body ? 'application/json' : body.contentType;
  let res: Response;
  try {
    res = await fetch(`${url}${apiPath}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(contentType ? { 'content-type': contentType } : {}), ...headers },
      ...(body !== undefined ? { body: 'json' in body ? JSON.stringify(body.json) : body.text } : {}),
      // Applying a pipeline waits for Airflow to parse the DAG.
      signal: AbortSignal.timeout(300_000),
    });
  } catch (err) {
    throw new CliError(`cannot reach the tandem API at ${url} (${(err as Error).cause ?? (err as Error).message}); is \`npm start\` running?`, exitCodes.unreachable);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const problem = parsed as { title?: string; detail?: string; errors?: { path: string; message: string }[] } | null;
    const lines = [`${res.status} ${problem?.title ?? res.statusText}: ${problem?.detail ?? ''}`.trim()];
    for (const e of problem?.errors ?? []) lines.push(`  ${e.path}: ${e.message}`);
    throw new CliError(lines.join('\n'), res.status === 503 ? exitCodes.unreachable : exitCodes.refused);
  }
  return parsed;
}

/** `--input '{"a":1}'` or `--input @file.json`. */
export function jsonArgument(value: string, flag = '--input'): unknown {
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${flag} is not valid JSON: ${(err as Error).message}`, exitCodes.usage);
  }
}
