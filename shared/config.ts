/**
 * The one config loader for every tandem process (launcher, API, worker, bridge, CLI, tests).
 *
 * Sources, later wins: built-in defaults → `<stateDir>/config.json` (optional) → `TANDEM_*`
 * environment variables. Unknown keys in the file and unknown `TANDEM_*` variables are errors,
 * because a typo that silently falls back to a default is the worst kind of 2 AM surprise.
 *
 * Pure: nothing here touches the disk at import time; `loadConfig` reads the file when called.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import nodeCron from 'node-cron';
import { z } from 'zod';

const port = z.coerce
  .number()
  .int('must be a whole number')
  .min(1, 'must be between 1 and 65535')
  .max(65535, 'must be between 1 and 65535');

const clockTime = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'must be a time HH:MM (24 h)');

/** Six cron fields, seconds first (node-cron's syntax), or `off`. */
const secondsCron = z
  .string()
  .trim()
  .refine(
    (cron) => cron === 'off' || (cron.split(/\s+/).length === 6 && nodeCron.validate(cron)),
    "must be 6 cron fields (second minute hour day-of-month month day-of-week), e.g. '*/10 * * * * *', or 'off'",
  );

/** A daily window [start, end) of local time; end before start wraps past midnight. */
export const offPeakWindowSchema = z
  .object({ start: clockTime.default('01:00'), end: clockTime.default('05:00') })
  .strict()
  .refine((w) => w.start !== w.end, 'start and end must differ');
export type OffPeakWindow = z.infer<typeof offPeakWindowSchema>;

export const tandemConfigSchema = z
  .object({
    /** Where all local state lives: databases, credentials, logs. */
    stateDir: z.string().min(1),
    /** Interface every embedded server binds to. Loopback only by default. */
    host: z.string().min(1).default('127.0.0.1'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    api: z
      .object({
        port: port.default(8787),
        /** Public URL other processes (Airflow tasks, CLI) use to reach the API. */
        url: z.string().url().optional(),
        bodyLimitBytes: z.coerce.number().int().positive().default(1024 * 1024),
        rateLimitPerMinute: z.coerce.number().int().positive().default(600),
      })
      .strict()
      .prefault({}),
    temporal: z
      .object({
        /** host:port of the Temporal frontend. Defaults to the embedded dev server. */
        address: z.string().optional(),
        namespace: z.string().min(1).default('default'),
        taskQueue: z.string().min(1).default('tandem'),
        /** Embedded dev server ports (ignored when `address` points elsewhere). */
        port: port.default(7233),
        uiPort: port.default(8233),
        httpPort: port.default(7243),
        metricsPort: port.default(7253),
        /** For a real cluster / Temporal Cloud. */
        tls: z.coerce.boolean().default(false),
        apiKey: z.string().optional(),
        /** Whether the launcher starts the embedded dev server. */
        embedded: z.coerce.boolean().default(true),
      })
      .strict()
      .prefault({}),
    airflow: z
      .object({
        /** Base URL of the Airflow 3 api-server. Defaults to the embedded one. */
        url: z.string().url().optional(),
        port: port.default(8080),
        /** Folder the bridge writes DAG files into and Airflow's dag-processor reads. */
        dagsFolder: z.string().optional(),
        /** Whether the launcher starts the embedded Airflow processes. */
        embedded: z.coerce.boolean().default(true),
        /** Seconds between DAG folder scans; short in development. */
        dagRefreshSeconds: z.coerce.number().int().positive().default(5),
        parallelism: z.coerce.number().int().positive().default(8),
      })
      .strict()
      .prefault({}),
    worker: z
      .object({
        maxConcurrentActivities: z.coerce.number().int().positive().default(20),
        maxConcurrentWorkflowTasks: z.coerce.number().int().positive().default(20),
        /**
         * Workflows kept in memory between their tasks. A waiting review costs ~2 MiB there, and
         * an evicted one is replayed from its history when its next event (a decision, a timer)
         * comes: cheap for flows that wait days, so the cache is bounded.
         */
        maxCachedWorkflows: z.coerce.number().int().min(0).default(250),
      })
      .strict()
      .prefault({}),
    notify: z
      .object({
        /** Review reminders and escalations are POSTed here; without it they are only logged and audited. */
        webhookUrl: z.string().url().optional(),
      })
      .strict()
      .prefault({}),
    llm: z
      .object({
        /** OpenAI-compatible endpoint, e.g. https://api.openai.com/v1 (the path up to /chat/completions). */
        baseUrl: z.string().url().optional(),
        apiKey: z.string().min(1).optional(),
        /** Model used when a call does not name one. */
        model: z.string().min(1).default('gpt-4o-mini'),
        /** Tokens (prompt + completion, as the provider reports them) each department may spend; 0 = no limit. */
        tokenBudgetPerDepartment: z.coerce.number().int().min(0).default(0),
        /** Per-attempt HTTP timeout; a hung provider is a transient error and retried. */
        timeoutMs: z.coerce.number().int().positive().default(120_000),
      })
      .strict()
      .prefault({}),
    payload: z
      .object({
        /** Keyring that encrypts Temporal payloads; defaults to <stateDir>/payload-keys.json, created on first start. */
        keysFile: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    pipelines: z
      .object({
        /** When GPU batch/embedding pipelines may run (pipeline lint), in the schedule's time zone. */
        offPeak: offPeakWindowSchema.prefault({}),
        /** Per-department windows (config.json only), e.g. {"radiology": {"start": "22:00", "end": "03:00"}}. */
        offPeakByDepartment: z.record(z.string(), offPeakWindowSchema).default({}),
      })
      .strict()
      .prefault({}),
    handoffs: z
      .object({
        /** When the API reconciles hand-offs with Airflow and Temporal (services/bridge/handoff-reconciler.ts). */
        reconcileSchedule: secondsCron.default('*/10 * * * * *'),
      })
      .strict()
      .prefault({}),
    /** Only read on the very first start: becomes the admin API key instead of a generated one. */
    adminKey: z.string().min(16, 'must be at least 16 characters').optional(),
  })
  .strict();

export type TandemConfig = z.infer<typeof tandemConfigSchema> & {
  api: { url: string };
  temporal: { address: string };
  airflow: { url: string; dagsFolder: string };
};

/** The repository root (this file is <root>/shared/config.ts). */
export const repoRoot = path.resolve(import.meta.dirname, '..');

/** Environment variables → config paths. Anything else starting with TANDEM_ is rejected. */
export const envVariables: Record<string, string> = {
  TANDEM_STATE_DIR: 'stateDir',
  TANDEM_HOST: 'host',
  TANDEM_LOG_LEVEL: 'logLevel',
  TANDEM_API_PORT: 'api.port',
  TANDEM_API_URL: 'api.url',
  TANDEM_API_BODY_LIMIT_BYTES: 'api.bodyLimitBytes',
  TANDEM_API_RATE_LIMIT_PER_MINUTE: 'api.rateLimitPerMinute',
  TANDEM_TEMPORAL_ADDRESS: 'temporal.address',
  TANDEM_TEMPORAL_NAMESPACE: 'temporal.namespace',
  TANDEM_TEMPORAL_TASK_QUEUE: 'temporal.taskQueue',
  TANDEM_TEMPORAL_PORT: 'temporal.port',
  TANDEM_TEMPORAL_UI_PORT: 'temporal.uiPort',
  TANDEM_TEMPORAL_HTTP_PORT: 'temporal.httpPort',
  TANDEM_TEMPORAL_METRICS_PORT: 'temporal.metricsPort',
  TANDEM_TEMPORAL_TLS: 'temporal.tls',
  TANDEM_TEMPORAL_API_KEY: 'temporal.apiKey',
  TANDEM_TEMPORAL_EMBEDDED: 'temporal.embedded',
  TANDEM_AIRFLOW_URL: 'airflow.url',
  TANDEM_AIRFLOW_PORT: 'airflow.port',
  TANDEM_AIRFLOW_EMBEDDED: 'airflow.embedded',
  TANDEM_AIRFLOW_DAGS_FOLDER: 'airflow.dagsFolder',
  TANDEM_AIRFLOW_DAG_REFRESH_SECONDS: 'airflow.dagRefreshSeconds',
  TANDEM_AIRFLOW_PARALLELISM: 'airflow.parallelism',
  TANDEM_WORKER_MAX_CONCURRENT_ACTIVITIES: 'worker.maxConcurrentActivities',
  TANDEM_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: 'worker.maxConcurrentWorkflowTasks',
  TANDEM_WORKER_MAX_CACHED_WORKFLOWS: 'worker.maxCachedWorkflows',
  TANDEM_ADMIN_KEY: 'adminKey',
  TANDEM_PIPELINES_OFF_PEAK_START: 'pipelines.offPeak.start',
  TANDEM_PIPELINES_OFF_PEAK_END: 'pipelines.offPeak.end',
  TANDEM_LLM_BASE_URL: 'llm.baseUrl',
  TANDEM_LLM_API_KEY: 'llm.apiKey',
  TANDEM_LLM_MODEL: 'llm.model',
  TANDEM_LLM_TOKEN_BUDGET_PER_DEPARTMENT: 'llm.tokenBudgetPerDepartment',
  TANDEM_LLM_TIMEOUT_MS: 'llm.timeoutMs',
  TANDEM_PAYLOAD_KEYS_FILE: 'payload.keysFile',
  TANDEM_NOTIFY_WEBHOOK_URL: 'notify.webhookUrl',
  TANDEM_HANDOFF_RECONCILE_SCHEDULE: 'handoffs.reconcileSchedule',
};

/** Variables that are not configuration but are allowed to exist (set by tandem for its children). */
const passthroughEnv = new Set([
  // The CLI's credential: who is calling, not how tandem runs.
  'TANDEM_API_KEY',
  // Test and bootstrap switches, read where they are used.
  'TANDEM_TEST_KEEP_STATE',
  'TANDEM_PYTHON',
]);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys.at(-1)!] = value;
}

/** Booleans from the environment: z.coerce.boolean would read "false" as true. */
function envValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  return raw;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function defaultStateDir(cwd: string): string {
  return path.resolve(cwd, '.tandem');
}

export function loadConfig(options: LoadConfigOptions = {}): TandemConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();

  const unknownEnv = Object.keys(env).filter(
    (k) => k.startsWith('TANDEM_') && !(k in envVariables) && !passthroughEnv.has(k),
  );
  if (unknownEnv.length > 0) {
    throw new ConfigError(
      `unknown environment variable ${unknownEnv.join(', ')}; known: ${Object.keys(envVariables).join(', ')}`,
    );
  }

  const stateDir = path.resolve(cwd, env.TANDEM_STATE_DIR ?? defaultStateDir(cwd));
  const raw: Record<string, unknown> = {};
  const file = path.join(stateDir, 'config.json');
  if (existsSync(file)) {
    try {
      Object.assign(raw, JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>);
    } catch (err) {
      throw new ConfigError(`${file} is not valid JSON (${(err as Error).message}); fix or remove it`);
    }
  }
  for (const [name, dotted] of Object.entries(envVariables)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, dotted, envValue(value));
  }
  raw.stateDir = stateDir;

  const parsed = tandemConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const at = issue.path.join('.');
      const envName = Object.entries(envVariables).find(([, p]) => p === at)?.[0];
      const where = envName ? `${at} (${envName})` : at || 'config';
      return issue.code === 'unrecognized_keys'
        ? `${where}: unknown key(s) ${issue.keys.join(', ')} in ${file}`
        : `${where}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const c = parsed.data;
  return {
    ...c,
    api: { ...c.api, url: c.api.url ?? `http://${c.host}:${c.api.port}` },
    temporal: { ...c.temporal, address: c.temporal.address ?? `${c.host}:${c.temporal.port}` },
    airflow: {
      ...c.airflow,
      url: c.airflow.url ?? `http://${c.host}:${c.airflow.port}`,
      dagsFolder: path.resolve(cwd, c.airflow.dagsFolder ?? path.join(repoRoot, 'dags', 'generated')),
    },
  };
}

/**
 * The environment that makes `loadConfig` in a child process return this same config: the launcher
 * hands it to every process it starts, so a stack configured in code (tests, benchmarks) is the
 * stack its processes see, whatever the parent's own environment says.
 */
export function configToEnv(config: TandemConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, dotted] of Object.entries(envVariables)) {
    const value = dotted.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], config);
    if (value !== undefined && value !== null && typeof value !== 'object') env[name] = String(value);
  }
  return env;
}

/** Files inside the state dir, named in one place so every process agrees. */
export function statePaths(stateDir: string) {
  return {
    root: stateDir,
    credentials: path.join(stateDir, 'credentials.json'),
    store: path.join(stateDir, 'tandem.db'),
    temporalDb: path.join(stateDir, 'temporal', 'temporal.db'),
    airflowHome: path.join(stateDir, 'airflow'),
    logs: path.join(stateDir, 'logs'),
    pids: path.join(stateDir, 'pids.json'),
    payloadKeys: path.join(stateDir, 'payload-keys.json'),
    /** Working directories of jobs run by the local process runner. */
    jobs: path.join(stateDir, 'jobs'),
  };
}
