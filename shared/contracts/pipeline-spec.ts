/**
 * The pipeline spec (`apiVersion: tandem.dev/v1`): what a data engineer writes and applies. A
 * parsed spec becomes an Airflow DAG file (services/pipelines/dag-generator.ts) after the lint
 * (services/pipelines/lint.ts) has passed.
 *
 * Identifiers (pipeline, stage and source ids, partition keys) are restricted to safe characters
 * because they become Airflow DAG, task-group and task ids and URL path segments; free text
 * (description, commands, queries, paths, kwargs) may hold anything, and the generator makes sure
 * none of it is ever code or a Jinja template.
 *
 * Pure: parsing YAML text is the only work done here.
 */
import cronstrue from 'cronstrue';
import nodeCron from 'node-cron';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { departmentIdSchema } from './roles.ts';

export const pipelineApiVersion = 'tandem.dev/v1';

const pipelineIdSchema = z
  .string()
  .regex(/^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a lowercase DNS label (a-z, 0-9, -), at most 63 characters');

/** Stage and source ids: Airflow task ids, so no dots (those separate task groups). */
const localIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must start with a lowercase letter and use only a-z, 0-9, _ and -, at most 63 characters');

/** Partition keys name Airflow task groups and appear in URLs. */
const partitionKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'must use only letters, digits, _ and -, start with a letter or digit, at most 63 characters');

/** Task ids the generator uses inside every partition; a stage may not take them. */
export const reservedTaskIds = ['check_sources', 'commit_fingerprints'] as const;

const nonEmpty = z.string().min(1, 'must not be empty');

/** Environment for a stage's process: names as a shell accepts them, values anything. */
const envSchema = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name (letters, digits, _)'), z.string())
  .default({});

/**
 * An IANA zone, in its canonical spelling (`utc` → `UTC`, `US/Pacific` → `America/Los_Angeles`),
 * so the generated DAG names a zone Python's tz database certainly has.
 */
function canonicalTimeZone(tz: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

// A refinement, not a failing transform: it lets the spec-wide checks (dependencies, cycles) run too.
const timeZoneSchema = z
  .string()
  .refine((tz) => canonicalTimeZone(tz) !== undefined, 'must be an IANA time zone such as Europe/Berlin or UTC')
  .transform((tz) => canonicalTimeZone(tz) ?? tz);

/** Five fields (minute hour day-of-month month day-of-week), as Airflow's cron timetables read them. */
export const cronSchema = z.string().superRefine((cron, ctx) => {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5) {
    ctx.addIssue({ code: 'custom', message: `must have 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}` });
    return;
  }
  const detail = nodeCron.validateDetailed(cron.trim());
  if (!detail.valid) {
    ctx.addIssue({ code: 'custom', message: detail.errors.map((e) => e.message).join('; ') || 'is not a valid cron expression' });
  }
});

const scheduleSchema = z
  .object({
    cron: cronSchema,
    timezone: timeZoneSchema.default('UTC'),
  })
  .strict();

const isoDate = z.iso.date('must be a date YYYY-MM-DD');

const partitionsSchema = z
  .object({
    /** One partition per logical date (the run's `ds`), from `start` on. */
    date: z.object({ start: isoDate }).strict().optional(),
    /** One partition per key, e.g. departments or tenants. */
    keys: z.array(partitionKeySchema).min(1, 'must list at least one key').optional(),
  })
  .strict()
  .refine((p) => p.date !== undefined || p.keys !== undefined, 'must partition by date, by keys, or both');

const sourceBase = { id: localIdSchema };

export const sourceSchema = z.discriminatedUnion('kind', [
  /** A file or a glob; fingerprint: size + mtime, sha256 of the content only when those differ. */
  z.object({ ...sourceBase, kind: z.literal('file'), path: nonEmpty }).strict(),
  /** ETag / Last-Modified, else the body's hash. */
  z
    .object({
      ...sourceBase,
      kind: z.literal('http'),
      url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
      headers: z.record(z.string(), z.string()).optional(),
    })
    .strict(),
  /** A watermark query (e.g. `SELECT max(updated_at) …`) over an Airflow connection. */
  z.object({ ...sourceBase, kind: z.literal('sql'), connection: nonEmpty, query: nonEmpty }).strict(),
  /** The hash of a command's stdout. */
  z.object({ ...sourceBase, kind: z.literal('command'), command: nonEmpty }).strict(),
]);
export type PipelineSource = z.infer<typeof sourceSchema>;

const quantity = z.union([z.string().regex(/^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/, 'must be a Kubernetes quantity such as 500m, 2 or 8Gi'), z.number().positive()]);
const requestsLimits = <T extends z.ZodType>(value: T) =>
  z.object({ requests: value, limits: value }).strict();

export const resourcesSchema = z
  .object({
    cpu: requestsLimits(quantity).optional(),
    memory: requestsLimits(quantity).optional(),
    /** `nvidia.com/gpu`: whole devices; every GPU workload sets both requests and limits. */
    gpu: requestsLimits(z.number().int('must be a whole number of GPUs').min(0)).optional(),
    /** May run on spot/preemptible nodes (only sensible when faultTolerant). */
    spot: z.boolean().default(false),
    /** The job survives being killed and restarted (checkpoints, idempotent output). */
    faultTolerant: z.boolean().default(false),
  })
  .strict();
export type StageResources = z.infer<typeof resourcesSchema>;

const jsonValue: z.ZodType<unknown> = z.json();

const stageBase = {
  id: localIdSchema,
  dependsOn: z.array(localIdSchema).default([]),
  retries: z.number().int().min(0).max(10).default(0),
  retryDelaySeconds: z.number().int().min(1).max(86_400).default(60),
};

export const stageSchema = z.discriminatedUnion('kind', [
  z
    .object({
      ...stageBase,
      kind: z.literal('python'),
      /** `package.module:function`, imported when the task runs, never at DAG parse time. */
      callable: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$/, 'must be package.module:function'),
      kwargs: z.record(z.string(), jsonValue).default({}),
    })
    .strict(),
  z.object({ ...stageBase, kind: z.literal('bash'), command: nonEmpty, env: envSchema }).strict(),
  z
    .object({
      ...stageBase,
      kind: z.literal('k8s_job'),
      image: nonEmpty,
      command: z.array(z.string()).min(1, 'must have at least the program'),
      env: envSchema,
      resources: resourcesSchema.prefault({}),
    })
    .strict(),
  z
    .object({
      ...stageBase,
      kind: z.literal('handoff'),
      /** Public workflow type of POST /v1/workflows, e.g. `review`. */
      workflow: nonEmpty,
      input: z.record(z.string(), jsonValue).default({}),
      /**
       * How the Airflow task waits: `parked` (in `awaiting_input`, no trigger; tandem resumes it
       * through Airflow's REST API when the workflow closes — for reviews that wait days),
       * `triggerer` (deferred; the trigger ends it within a second of the close — for short
       * flows such as an LLM call), `auto`: parked for a workflow type that waits on people.
       */
      wait: z.enum(['auto', 'parked', 'triggerer']).default('auto'),
    })
    .strict(),
  z
    .object({
      ...stageBase,
      kind: z.literal('evaluation'),
      /** The golden-query suite that gates promotion. */
      suite: nonEmpty,
      minScore: z.number().min(0).max(1).default(0.8),
    })
    .strict(),
]);
export type PipelineStage = z.infer<typeof stageSchema>;
export type StageKind = PipelineStage['kind'];

export const pipelineSpecSchema = z
  .object({
    apiVersion: z.literal(pipelineApiVersion, { error: `must be ${pipelineApiVersion}` }),
    id: pipelineIdSchema,
    department: departmentIdSchema,
    description: z.string().max(2000).default(''),
    /** Absent: the pipeline only runs when triggered. */
    schedule: scheduleSchema.optional(),
    /** Absent: one partition, `all`. */
    partitions: partitionsSchema.optional(),
    /** This pipeline refreshes a knowledge base, so it must end with an evaluation stage (lint). */
    refreshesKnowledgeBase: z.boolean().default(false),
    sources: z.array(sourceSchema).default([]),
    stages: z.array(stageSchema).min(1, 'must have at least one stage'),
  })
  .strict()
  .superRefine((spec, ctx) => {
    uniqueIds(spec.sources, 'sources', ctx);
    uniqueIds(spec.stages, 'stages', ctx);
    const keys = spec.partitions?.keys ?? [];
    keys.forEach((key, i) => {
      if (keys.indexOf(key) !== i) ctx.addIssue({ code: 'custom', path: ['partitions', 'keys', i], message: `duplicate key ${key}` });
    });
    // First occurrence wins, so a duplicate id (reported above) cannot hide a cycle.
    const index = new Map<string, number>();
    spec.stages.forEach((s, i) => index.set(s.id, index.get(s.id) ?? i));
    spec.stages.forEach((stage, i) => {
      if ((reservedTaskIds as readonly string[]).includes(stage.id)) {
        ctx.addIssue({ code: 'custom', path: ['stages', i, 'id'], message: `${stage.id} is reserved for tandem's own tasks` });
      }
      stage.dependsOn.forEach((dep, j) => {
        if (!index.has(dep)) ctx.addIssue({ code: 'custom', path: ['stages', i, 'dependsOn', j], message: `unknown stage ${dep}` });
        else if (dep === stage.id) ctx.addIssue({ code: 'custom', path: ['stages', i, 'dependsOn', j], message: 'a stage cannot depend on itself' });
      });
    });
    const cycle = findCycle(spec.stages, index);
    if (cycle) {
      ctx.addIssue({
        code: 'custom',
        path: ['stages', index.get(cycle[0]!)!, 'dependsOn'],
        message: `dependency cycle: ${cycle.join(' → ')}`,
      });
    }
  });

export type PipelineSpec = z.infer<typeof pipelineSpecSchema>;

function uniqueIds(items: { id: string }[], field: string, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.id)) ctx.addIssue({ code: 'custom', path: [field, i, 'id'], message: `duplicate id ${item.id}` });
    seen.add(item.id);
  });
}

/** The first cycle found (as ids, first repeated at the end), ignoring unknown and self references. */
function findCycle(stages: { id: string; dependsOn: string[] }[], index: Map<string, number>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const dep of stages[index.get(id)!]!.dependsOn) {
      if (dep === id || !index.has(dep)) continue;
      const found = visit(dep);
      if (found) return found;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const stage of stages) {
    const found = visit(stage.id);
    if (found) return found.reverse();
  }
  return undefined;
}

function illFormedStrings(value: unknown, at: PropertyKey[]): PropertyKey[][] {
  if (typeof value === 'string') return value.isWellFormed() ? [] : [at];
  if (Array.isArray(value)) return value.flatMap((v, i) => illFormedStrings(v, [...at, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [
      ...(k.isWellFormed() ? [] : [at]),
      ...illFormedStrings(v, [...at, k]),
    ]);
  }
  return [];
}

export interface SpecIssue {
  /** Bracket form, e.g. `stages[2].resources.gpu`; empty for the document itself. */
  path: string;
  message: string;
}

export type ParseResult = { ok: true; spec: PipelineSpec } | { ok: false; issues: SpecIssue[] };

/** `['stages', 2, 'resources', 'gpu']` → `stages[2].resources.gpu`; odd keys are quoted. */
export function specPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

/**
 * Parses a spec given as an object (JSON already decoded) or as YAML/JSON text. Every issue is
 * reported, each with its path, so a user fixes a spec in one round.
 */
export function parsePipelineSpec(input: unknown): ParseResult {
  let document = input;
  if (typeof input === 'string') {
    try {
      // JSON is YAML; `uniqueKeys` makes a repeated key an error instead of a silent overwrite.
      document = parseYaml(input, { uniqueKeys: true, prettyErrors: true });
    } catch (err) {
      return { ok: false, issues: [{ path: '', message: `not valid YAML or JSON: ${(err as Error).message}` }] };
    }
  }
  // A lone UTF-16 surrogate (possible through a JSON \ud800 escape) cannot be stored or sent as UTF-8.
  const broken = illFormedStrings(document, []);
  if (broken.length > 0) {
    return { ok: false, issues: broken.map((p) => ({ path: specPath(p), message: 'contains an unpaired UTF-16 surrogate' })) };
  }
  const result = pipelineSpecSchema.safeParse(document);
  if (result.success) return { ok: true, spec: result.data };
  return {
    ok: false,
    issues: result.error.issues.map((issue) => ({
      path: specPath(issue.path),
      message:
        issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message,
    })),
  };
}

/** The schedule in words for API responses, e.g. "At 01:30 (Europe/Berlin)"; null when unscheduled. */
export function describeSchedule(spec: Pick<PipelineSpec, 'schedule'>): string | null {
  if (!spec.schedule) return null;
  const words = cronstrue.toString(spec.schedule.cron, { use24HourTimeFormat: true, throwExceptionOnParseError: false });
  return `${words} (${spec.schedule.timezone})`;
}

export const lintFindingSchema = z
  .object({
    severity: z.enum(['error', 'warning']),
    path: z.string().describe('Spec path in bracket form, e.g. `stages[2].resources.gpu`'),
    rule: z.string(),
    message: z.string(),
  })
  .meta({ id: 'PipelineLintFinding' });

/** `POST /v1/pipelines/validate`: what applying the spec would deploy, without deploying it. */
export const pipelineValidationSchema = z
  .object({
    valid: z.boolean().describe('No lint errors: the spec can be applied'),
    findings: z.array(lintFindingSchema),
    pipelineId: z.string(),
    dagId: z.string(),
    fileName: z.string().describe('File name in the Airflow DAGs folder'),
    specHash: z.string(),
    generatorVersion: z.string(),
    schedule: z.string().nullable().describe('The schedule in words'),
    python: z.string().describe('The generated DAG file'),
  })
  .meta({ id: 'PipelineValidation' });
export type PipelineValidation = z.infer<typeof pipelineValidationSchema>;
