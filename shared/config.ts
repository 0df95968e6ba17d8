/**
 * The one config loader for every tandem process (launcher, API, worker, CLI, tests).
 *
 * Sources, later wins: built-in defaults → `<stateDir>/config.json` (optional) → `TANDEM_*`
 * environment variables. Unknown keys in the file and unknown `TANDEM_*` variables are errors,
 * because a typo that silently falls back to a default is the worst kind of 2 AM surprise.
 *
 * Each setting is declared once, where its schema sits in `tandemConfigSchema`: `setting()` takes
 * the schema, its environment variable, its default and its description. The variable mapping, the
 * error messages, the launcher's --help and the README's configuration table
 * (deploy/dev/config-docs.ts, `npm run docs:config`) are all read back from those declarations, so
 * none of them can list a variable the loader does not know, or miss one it does.
 *
 * Pure: nothing here touches the disk at import time; `loadConfig` reads the file when called.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import nodeCron from 'node-cron';
import { z } from 'zod';
import { parseRegions, temporalRegions } from './regions.ts';

/** What a declared setting says about itself. Text is Markdown: it ends up in README.md. */
export interface SettingDeclaration {
  /** Environment variable; none for settings only config.json can hold (objects). */
  env?: string;
  /** The default as a reader should see it: the literal value, or what happens when unset. */
  defaultText: string;
  description: string;
}

const declarations = z.registry<SettingDeclaration>();

interface SettingOptions {
  env?: string;
  description: string;
}

/** A setting with a fixed default (shown in the docs as that literal value). */
function setting<S extends z.ZodType>(schema: S, options: SettingOptions & { default: z.output<S> }): z.ZodDefault<S>;
/** A setting without a fixed default: `unset` says what happens without it (derived, generated, off). */
function setting<S extends z.ZodType>(schema: S, options: SettingOptions & { unset: string }): z.ZodOptional<S>;
function setting(
  schema: z.ZodType,
  options: SettingOptions & ({ default: unknown } | { unset: string }),
): z.ZodDefault<z.ZodType> | z.ZodOptional<z.ZodType> {
  const { env, description } = options;
  if ('default' in options) {
    const value = options.default;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return schema.default(value as never).register(declarations, { env, description, defaultText: `\`${text}\`` });
  }
  return schema.optional().register(declarations, { env, description, defaultText: options.unset });
}

const port = z.coerce
  .number()
  .int('must be a whole number')
  .min(1, 'must be between 1 and 65535')
  .max(65535, 'must be between 1 and 65535');

const positiveInt = z.coerce.number().int().positive();

const flagWords = new Map([
  ['true', true], ['yes', true], ['1', true],
  ['false', false], ['no', false], ['0', false],
]);
/**
 * On/off, from the environment or config.json. Not z.coerce.boolean: that reads every non-empty
 * string, "false" and "0" included, as true. Anything but these words is refused, not guessed.
 */
const flag = z.union([z.boolean(), z.string(), z.number()]).transform((value, ctx) => {
  if (typeof value === 'boolean') return value;
  const word = flagWords.get(String(value).trim().toLowerCase());
  if (word !== undefined) return word;
  ctx.addIssue({ code: 'custom', message: `must be true/false, 1/0 or yes/no, not ${JSON.stringify(value)}` });
  return z.NEVER;
});

const clockTime = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'must be a time HH:MM (24 h)');

/** Six cron fields, seconds first (node-cron's syntax), or `off`. */
const secondsCron = z
  .string()
  .trim()
  .refine(
    (cron) => cron === 'off' || (cron.split(/\s+/).length === 6 && nodeCron.validate(cron)),
    "must be 6 cron fields (second minute hour day-of-month month day-of-week), e.g. '*/10 * * * * *', or 'off'",
  );

/**
 * A daily window [start, end) of local time; end before start wraps past midnight. The same schema
 * checks the per-department windows of config.json, where an omitted end or start takes these
 * defaults too.
 */
export const offPeakWindowSchema = z
  .object({
    start: setting(clockTime, {
      env: 'TANDEM_PIPELINES_OFF_PEAK_START',
      default: '01:00',
      description: "start of the off-peak window for GPU pipelines (pipeline lint), in the schedule's time zone",
    }),
    end: setting(clockTime, {
      env: 'TANDEM_PIPELINES_OFF_PEAK_END',
      default: '05:00',
      description: 'end of the off-peak window (exclusive); before the start, the window wraps past midnight',
    }),
  })
  .strict()
  .refine((w) => w.start !== w.end, 'start and end must differ');
export type OffPeakWindow = z.infer<typeof offPeakWindowSchema>;

/** The state dir, relative to the working directory, when TANDEM_STATE_DIR is not set. */
const defaultStateDirName = '.tandem';

export const tandemConfigSchema = z
  .object({
    // Declared by hand rather than with setting(): loadConfig always fills it in, from the
    // environment or the default, before parsing, because config.json itself lives inside it.
    stateDir: z.string().min(1).register(declarations, {
      env: 'TANDEM_STATE_DIR',
      defaultText: `\`${defaultStateDirName}\``,
      description: 'all local state: SQLite files, credentials, logs, Airflow home; environment only, since `config.json` lives in it',
    }),
    host: setting(z.string().min(1), {
      env: 'TANDEM_HOST',
      default: '127.0.0.1',
      description: 'interface every embedded server binds to; loopback only by default',
    }),
    logLevel: setting(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), {
      env: 'TANDEM_LOG_LEVEL',
      default: 'info',
      description: 'pino level for API and worker',
    }),
    api: z
      .object({
        port: setting(port, { env: 'TANDEM_API_PORT', default: 8787, description: 'control API port' }),
        url: setting(z.string().url(), {
          env: 'TANDEM_API_URL',
          unset: '`http://<host>:<api.port>`',
          description: 'URL other processes (Airflow tasks, CLI) use to reach the API',
        }),
        bodyLimitBytes: setting(positiveInt, { env: 'TANDEM_API_BODY_LIMIT_BYTES', default: 1024 * 1024, description: 'request body cap' }),
        rateLimitPerMinute: setting(positiveInt, {
          env: 'TANDEM_API_RATE_LIMIT_PER_MINUTE',
          default: 600,
          description: 'requests per minute per API key (or IP)',
        }),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        url: setting(
          z
            .string()
            .url()
            .refine((url) => /^postgres(ql)?:\/\//.test(url), 'must be a postgres:// (or postgresql://) URL'),
          {
            env: 'TANDEM_DATABASE_URL',
            unset: 'SQLite file `<state dir>/tandem.db`',
            description:
              'PostgreSQL for the store, `postgres://user:password@host:port/database`, so several API and worker replicas share it; the schema is migrated by `node deploy/store/migrate.ts` (the launcher runs it), not by the API or the worker',
          },
        ),
        port: setting(port, {
          env: 'TANDEM_DATABASE_PORT',
          default: 5433,
          description: "port of the PostgreSQL `npm start -- --profile cluster` runs (its data in `<state dir>/postgres`); unused when a database URL is set",
        }),
      })
      .strict()
      .prefault({}),
    adminKey: setting(z.string().min(16, 'must be at least 16 characters'), {
      env: 'TANDEM_ADMIN_KEY',
      unset: 'generated',
      description: 'only read on the very first start: becomes the admin API key instead of a generated one (≥ 16 characters)',
    }),
    temporal: z
      .object({
        address: setting(z.string(), {
          env: 'TANDEM_TEMPORAL_ADDRESS',
          unset: '`<host>:<temporal.port>` (embedded)',
          description: '`host:port` of the Temporal frontend; set it to use an external Temporal',
        }),
        embedded: setting(flag, {
          env: 'TANDEM_TEMPORAL_EMBEDDED',
          default: true,
          description: 'whether the launcher starts the Temporal dev server; `false` to use an external Temporal',
        }),
        namespace: setting(z.string().min(1), { env: 'TANDEM_TEMPORAL_NAMESPACE', default: 'default', description: 'Temporal namespace' }),
        taskQueue: setting(z.string().min(1), { env: 'TANDEM_TEMPORAL_TASK_QUEUE', default: 'tandem', description: 'task queue of the tandem worker' }),
        // The dev server's ports are ignored when `address` points elsewhere.
        port: setting(port, { env: 'TANDEM_TEMPORAL_PORT', default: 7233, description: 'embedded dev server: frontend (gRPC) port' }),
        uiPort: setting(port, { env: 'TANDEM_TEMPORAL_UI_PORT', default: 8233, description: 'embedded dev server: web UI port' }),
        httpPort: setting(port, { env: 'TANDEM_TEMPORAL_HTTP_PORT', default: 7243, description: 'embedded dev server: HTTP API port' }),
        metricsPort: setting(port, { env: 'TANDEM_TEMPORAL_METRICS_PORT', default: 7253, description: 'embedded dev server: metrics port' }),
        clusterPortBase: setting(port.max(65529, 'must leave room for 7 ports (≤ 65529)'), {
          env: 'TANDEM_TEMPORAL_CLUSTER_PORT_BASE',
          default: 7300,
          description:
            "cluster profile's Temporal: the history, matching and worker services' gRPC ports and the four membership ports are this and the 6 above it (the frontend stays on `temporal.port` and `temporal.httpPort`)",
        }),
        tls: setting(flag, { env: 'TANDEM_TEMPORAL_TLS', default: false, description: 'TLS to the Temporal frontend, for a real cluster or Temporal Cloud' }),
        apiKey: setting(z.string(), { env: 'TANDEM_TEMPORAL_API_KEY', unset: 'none', description: 'API key for a real cluster or Temporal Cloud' }),
        regions: setting(
          z.string().superRefine((text, ctx) => {
            try {
              parseRegions(text);
            } catch (err) {
              ctx.addIssue({ code: 'custom', message: (err as Error).message });
            }
          }),
          {
            env: 'TANDEM_REGIONS',
            unset: 'only region `local`',
            description:
              'data-residency regions besides `local` (which is `temporal.address` + `temporal.namespace`): `name=host:port/namespace`, comma-separated, e.g. `eu=temporal-eu:7233/tandem,us=temporal-us:7233/tandem`; a tenant’s `region` picks its department’s (see [Data residency](#data-residency)); TLS and API key are the ones above',
          },
        ),
      })
      .strict()
      .prefault({}),
    airflow: z
      .object({
        url: setting(z.string().url(), {
          env: 'TANDEM_AIRFLOW_URL',
          unset: '`http://<host>:<airflow.port>` (embedded)',
          description: 'base URL of the Airflow 3 api-server; set it to use an external Airflow',
        }),
        embedded: setting(flag, {
          env: 'TANDEM_AIRFLOW_EMBEDDED',
          default: true,
          description: 'whether the launcher starts the Airflow processes; `false` to use an external Airflow',
        }),
        port: setting(port, { env: 'TANDEM_AIRFLOW_PORT', default: 8080, description: 'embedded Airflow api-server (UI and REST) port' }),
        dagsFolder: setting(z.string(), {
          env: 'TANDEM_AIRFLOW_DAGS_FOLDER',
          unset: '`dags/generated` in the repository',
          description: "where tandem writes DAG files and Airflow's dag-processor reads them",
        }),
        dagRefreshSeconds: setting(positiveInt, {
          env: 'TANDEM_AIRFLOW_DAG_REFRESH_SECONDS',
          default: 5,
          description: 'how often the dag-processor rescans the folder; short in development',
        }),
        parallelism: setting(positiveInt, {
          env: 'TANDEM_AIRFLOW_PARALLELISM',
          unset: '`8` on SQLite, `32` on PostgreSQL',
          description: 'LocalExecutor task slots; on SQLite every task state change waits for its one writer, on PostgreSQL they do not',
        }),
        databaseUrl: setting(
          z
            .string()
            .url()
            .refine((url) => /^postgres(ql)?:\/\//.test(url), 'must be a postgres:// (or postgresql://) URL'),
          {
            env: 'TANDEM_AIRFLOW_DATABASE_URL',
            unset: 'SQLite `<state dir>/airflow/airflow.db`; the `airflow` database on the profile\'s PostgreSQL with `--profile cluster`',
            description: "embedded Airflow's metadata database on PostgreSQL, `postgres://user:password@host:port/database` (it must exist; the launcher runs `airflow db migrate` on it)",
          },
        ),
      })
      .strict()
      .prefault({}),
    worker: z
      .object({
        maxConcurrentActivities: setting(positiveInt, {
          env: 'TANDEM_WORKER_MAX_CONCURRENT_ACTIVITIES',
          default: 20,
          description: 'activities the worker runs at once',
        }),
        maxConcurrentWorkflowTasks: setting(positiveInt, {
          env: 'TANDEM_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS',
          default: 20,
          description: 'workflow tasks the worker runs at once',
        }),
        // A cached review costs ~200 KiB of workflow-thread heap (README "What a waiting review
        // costs the worker"), and replaying an evicted one is cheap for flows that wait days: so
        // the cache is bounded, and the worker's memory plateaus once it is full.
        maxCachedWorkflows: setting(z.coerce.number().int().min(0), {
          env: 'TANDEM_WORKER_MAX_CACHED_WORKFLOWS',
          default: 250,
          description:
            'workflows the worker keeps in memory between their tasks (≥ the concurrent workflow tasks); an evicted one is replayed from its history at its next event',
        }),
        // For a kubelet's probes (deploy/k8s); the local stack's launcher needs none.
        healthPort: setting(port, {
          env: 'TANDEM_WORKER_HEALTH_PORT',
          unset: 'none (no health server)',
          description: "port of the worker's `/healthz` and `/readyz` (on `host`), for Kubernetes probes; unset, the worker serves no port",
        }),
      })
      .strict()
      .prefault({}),
    pipelines: z
      .object({
        offPeak: offPeakWindowSchema.prefault({}),
        offPeakByDepartment: setting(z.record(z.string(), offPeakWindowSchema), {
          default: {},
          description: 'off-peak window per department, e.g. `{"radiology": {"start": "22:00", "end": "03:00"}}`; departments not listed use the one above; a tenant’s own window (`/v1/tenants`) wins over both',
        }),
      })
      .strict()
      .prefault({}),
    jobs: z
      .object({
        runner: setting(z.enum(['local', 'kubernetes']), {
          env: 'TANDEM_JOBS_RUNNER',
          default: 'local',
          description:
            'where `gpu.batch` jobs run: `local` (child processes of the worker, under `<state dir>/jobs`) or `kubernetes` (a Job in the department\'s namespace, see `kubernetes.*`)',
        }),
      })
      .strict()
      .prefault({}),
    kubernetes: z
      .object({
        kubeconfig: setting(z.string().min(1), {
          env: 'TANDEM_KUBECONFIG',
          unset: "the Pod's service account (in-cluster)",
          description:
            'kubeconfig file the Kubernetes job runner uses and the API applies tenants (`/v1/tenants`) with; unset inside a cluster. An API outside a cluster without it stores tenants and uses their settings, but applies nothing',
        }),
        namespacePrefix: setting(z.string().regex(/^([a-z0-9][-a-z0-9]*)?$/, 'must be lower-case letters, digits and "-"'), {
          env: 'TANDEM_KUBERNETES_NAMESPACE_PREFIX',
          default: 'tandem-',
          description: "a department's Jobs run in namespace `<prefix><department>`, the default of its tenant's `namespace`",
        }),
        spotNodeLabel: setting(z.string().regex(/^[^=\s]+=[^=\s]*$/, 'must be key=value'), {
          env: 'TANDEM_KUBERNETES_SPOT_NODE_LABEL',
          default: 'tandem.dev/capacity=spot',
          description: 'node label of spot/preemptible capacity: spot jobs get it as their nodeSelector',
        }),
        spotTaint: setting(z.string().regex(/^[^=:\s]+=[^=:\s]*:(NoSchedule|PreferNoSchedule|NoExecute)$/, 'must be key=value:Effect'), {
          env: 'TANDEM_KUBERNETES_SPOT_TAINT',
          default: 'tandem.dev/capacity=spot:NoSchedule',
          description: 'taint of spot nodes: spot jobs tolerate it, every other Pod stays off them',
        }),
        ttlSecondsAfterFinished: setting(positiveInt, {
          env: 'TANDEM_KUBERNETES_JOB_TTL_SECONDS',
          default: 3600,
          description: 'a finished Job (and its Pods) is deleted this long after it ends',
        }),
        kueue: setting(z.enum(['auto', 'off']), {
          env: 'TANDEM_KUBERNETES_KUEUE',
          default: 'auto',
          description: '`auto`: where the cluster serves `kueue.x-k8s.io`, GPU Jobs are created suspended in the LocalQueue below and Kueue admits them; `off`: never',
        }),
        kueueLocalQueue: setting(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label'), {
          env: 'TANDEM_KUBERNETES_KUEUE_LOCAL_QUEUE',
          default: 'tandem',
          description: "the LocalQueue in each department's namespace",
        }),
      })
      .strict()
      .prefault({}),
    notify: z
      .object({
        webhookUrl: setting(z.string().url(), {
          env: 'TANDEM_NOTIFY_WEBHOOK_URL',
          unset: 'none',
          description: 'review reminders/escalations are POSTed here as JSON; without it they are only logged and audited',
        }),
      })
      .strict()
      .prefault({}),
    handoffs: z
      .object({
        reconcileSchedule: setting(secondsCron, {
          env: 'TANDEM_HANDOFF_RECONCILE_SCHEDULE',
          default: '*/10 * * * * *',
          description: 'when the API reconciles hand-offs with Airflow and Temporal: 6 cron fields, seconds first, or `off`',
        }),
      })
      .strict()
      .prefault({}),
    console: z
      .object({
        artifactRoots: setting(z.string().min(1), {
          env: 'TANDEM_CONSOLE_ARTIFACT_ROOTS',
          unset: '`<state dir>/examples`',
          description:
            'directories the web console may read review artifacts from, separated by `:`; an artifact path or `file:` URI outside them is refused',
        }),
        artifactMaxBytes: setting(positiveInt, {
          env: 'TANDEM_CONSOLE_ARTIFACT_MAX_BYTES',
          default: 256 * 1024,
          description: 'the console shows at most this many bytes of an artifact, with a note that the rest was cut',
        }),
        sessionIdleMinutes: setting(positiveInt, {
          env: 'TANDEM_CONSOLE_SESSION_IDLE_MINUTES',
          default: 30,
          description: 'a console session unused this long ends; the reviewer signs in again',
        }),
        sessionMaxHours: setting(positiveInt, {
          env: 'TANDEM_CONSOLE_SESSION_MAX_HOURS',
          default: 12,
          description: 'a console session ends this long after sign-in, however busy',
        }),
      })
      .strict()
      .prefault({}),
    llm: z
      .object({
        baseUrl: setting(z.string().url(), {
          env: 'TANDEM_LLM_BASE_URL',
          unset: 'none',
          description:
            'OpenAI-compatible endpoint, the path up to `/chat/completions` (e.g. `https://api.openai.com/v1`); without it LLM calls fail as `LlmNotConfigured`',
        }),
        apiKey: setting(z.string().min(1), { env: 'TANDEM_LLM_API_KEY', unset: 'none', description: 'sent as `Authorization: Bearer …`' }),
        model: setting(z.string().min(1), { env: 'TANDEM_LLM_MODEL', default: 'gpt-4o-mini', description: 'model when a call names none' }),
        tokenBudgetPerDepartment: setting(z.coerce.number().int().min(0), {
          env: 'TANDEM_LLM_TOKEN_BUDGET_PER_DEPARTMENT',
          default: 0,
          description: 'tokens (prompt + completion, as the provider reports them) each department may spend per calendar month (UTC); `0` = no limit; a tenant’s `llmTokenBudget` wins',
        }),
        timeoutMs: setting(positiveInt, {
          env: 'TANDEM_LLM_TIMEOUT_MS',
          default: 120_000,
          description: 'per-request timeout; a hung provider is a transient (retried) error',
        }),
      })
      .strict()
      .prefault({}),
    payload: z
      .object({
        // Left unset rather than filled in here: shared/payload-codec.ts creates the default file
        // on first start, but a configured one must already exist.
        keysFile: setting(z.string().min(1), {
          env: 'TANDEM_PAYLOAD_KEYS_FILE',
          unset: '`<state dir>/payload-keys.json`',
          description: 'keyring that encrypts Temporal payloads; the default file is generated on first start, a configured one must exist',
        }),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type TandemConfig = z.infer<typeof tandemConfigSchema> & {
  api: { url: string };
  temporal: { address: string };
  airflow: { url: string; dagsFolder: string };
  console: { artifactRoots: string };
};

/** A declared setting and where it sits in the config (`api.port`). */
export interface ConfigSetting extends SettingDeclaration {
  path: string;
}

function unwrapObject(schema: z.ZodType): z.ZodObject | undefined {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodPrefault || inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  return inner instanceof z.ZodObject ? inner : undefined;
}

function declaredSettings(shape: Record<string, z.ZodType>, prefix = ''): ConfigSetting[] {
  return Object.entries(shape).flatMap(([key, schema]) => {
    const at = prefix ? `${prefix}.${key}` : key;
    const declared = declarations.get(schema);
    if (declared) return [{ path: at, ...declared }];
    const object = unwrapObject(schema);
    // A programming error, thrown at import: every test that loads config would fail on it.
    if (!object) throw new Error(`config setting ${at} is not declared: give its schema to setting()`);
    return declaredSettings(object.shape as Record<string, z.ZodType>, at);
  });
}

/** Every setting of the config, in schema order: the README table and --help list these. */
export const configSettings: readonly ConfigSetting[] = declaredSettings(tandemConfigSchema.shape);

/** A variable that is tandem's own but not part of the config: `readBy` names who reads it. */
export interface OtherVariable extends SettingDeclaration {
  env: string;
  readBy: 'bootstrap' | 'CLI' | 'integration tests';
}

/** Allowed to be set (they are no typos), but read where they are used, not by loadConfig. */
export const otherVariables: readonly OtherVariable[] = [
  {
    env: 'TANDEM_API_KEY',
    readBy: 'CLI',
    defaultText: 'admin key in `<state dir>/credentials.json`',
    description: 'API key the `tandem` CLI sends (`--api-key` wins): who is calling, not how tandem runs',
  },
  {
    env: 'TANDEM_TEST_KEEP_STATE',
    readBy: 'integration tests',
    defaultText: 'unset',
    description: "any non-empty value (e.g. `1`) keeps the integration stack's state dir and logs after the run",
  },
  {
    env: 'TANDEM_PYTHON',
    readBy: 'bootstrap',
    defaultText: '`python3.11`, then `python3`',
    description: 'the Python 3.11 `deploy/dev/bootstrap.sh` creates `.venv` with',
  },
];

const settingByEnv = new Map(configSettings.flatMap((s) => (s.env ? [[s.env, s] as const] : [])));
const settingByPath = new Map(configSettings.map((s) => [s.path, s]));

/** Every TANDEM_* variable tandem knows; anything else starting with TANDEM_ is rejected. */
export const knownVariables: readonly string[] = [...settingByEnv.keys(), ...otherVariables.map((v) => v.env)];
if (new Set(knownVariables).size !== knownVariables.length) {
  throw new Error(`an environment variable is declared twice: ${knownVariables.filter((v, i) => knownVariables.indexOf(v) !== i).join(', ')}`);
}

/** The repository root (this file is <root>/shared/config.ts). */
export const repoRoot = path.resolve(import.meta.dirname, '..');

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

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function defaultStateDir(cwd: string): string {
  return path.resolve(cwd, defaultStateDirName);
}

export function loadConfig(options: LoadConfigOptions = {}): TandemConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();

  const known = new Set(knownVariables);
  const unknownEnv = Object.keys(env).filter((k) => k.startsWith('TANDEM_') && !known.has(k));
  if (unknownEnv.length > 0) {
    throw new ConfigError(`unknown environment variable ${unknownEnv.join(', ')}; known: ${knownVariables.join(', ')}`);
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
  // Strings as they are: each setting's schema coerces its own (numbers, flags).
  for (const [name, { path: dotted }] of settingByEnv) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, dotted, value);
  }
  raw.stateDir = stateDir;

  const parsed = tandemConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const at = issue.path.join('.');
      const envName = settingByPath.get(at)?.env;
      const where = envName ? `${at} (${envName})` : at || 'config';
      return issue.code === 'unrecognized_keys'
        ? `${where}: unknown key(s) ${issue.keys.join(', ')} in ${file}`
        : `${where}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const c = parsed.data;
  const temporal = { ...c.temporal, address: c.temporal.address ?? `${c.host}:${c.temporal.port}` };
  try {
    // Only now is local's address known: a region that is local's namespace under another name.
    temporalRegions({ temporal });
  } catch (err) {
    throw new ConfigError(`invalid configuration: temporal.regions (TANDEM_REGIONS): ${(err as Error).message}`);
  }
  // The defaults that depend on other settings; their declarations (`unset`) describe these.
  return {
    ...c,
    api: { ...c.api, url: c.api.url ?? `http://${c.host}:${c.api.port}` },
    temporal,
    airflow: {
      ...c.airflow,
      url: c.airflow.url ?? `http://${c.host}:${c.airflow.port}`,
      dagsFolder: path.resolve(cwd, c.airflow.dagsFolder ?? path.join(repoRoot, 'dags', 'generated')),
    },
    console: {
      ...c.console,
      artifactRoots: (c.console.artifactRoots ?? path.join(stateDir, 'examples'))
        .split(path.delimiter)
        .filter((root) => root !== '')
        .map((root) => path.resolve(cwd, root))
        .join(path.delimiter),
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
  for (const [name, { path: dotted }] of settingByEnv) {
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
