import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../shared/config.ts';
import { parsePipelineSpec, type PipelineSpec } from '../../shared/contracts/pipeline-spec.ts';
import { GENERATOR_VERSION, generateDag, pyLiteral, specHashOf } from './dag-generator.ts';

const fixtures = path.join(import.meta.dirname, '__fixtures__', 'pipelines');
const goldenDir = path.join(import.meta.dirname, '__golden__');
const python = path.join(repoRoot, '.venv', 'bin', 'python');
const inspectScript = path.join(import.meta.dirname, '../../test/support/inspect_dags.py');

function specFrom(input: unknown): PipelineSpec {
  const parsed = parsePipelineSpec(input);
  if (!parsed.ok) throw new Error(`fixture is not a valid spec: ${JSON.stringify(parsed.issues)}`);
  return parsed.spec;
}

interface InspectedTask {
  upstream: string[];
  retries: number;
  values: Record<string, unknown> & { kind: string; op_args?: unknown[]; op_kwargs?: Record<string, unknown> };
}
interface Inspection {
  files: Record<string, { parses: boolean; constants: string[]; error?: string }>;
  import_errors: Record<string, string>;
  dags: Record<string, { description: string; cron: string | null; timezone: string | null; tasks: Record<string, InspectedTask> }>;
}

/** One Python process for the whole folder: parse with ast, load with a real DagBag, dump values. */
function inspectFolder(folder: string): Inspection {
  const report = path.join(folder, 'inspection.json');
  execFileSync(python, [inspectScript, folder, report], { stdio: ['ignore', 'ignore', 'pipe'] });
  return JSON.parse(readFileSync(report, 'utf8')) as Inspection;
}

describe('pyLiteral', () => {
  it('writes JSON values as pure-ASCII Python literals', () => {
    expect(pyLiteral('a"b\\c\n\u00e9\u{1F600}\u2028')).toBe('"a\\"b\\\\c\\n\\u00e9\\U0001f600\\u2028"');
    expect(pyLiteral({ b: [1, 2.5, -0, null], a: true, c: false })).toBe('{"a": True, "b": [1, 2.5, -0.0, None], "c": False}');
    expect(pyLiteral('"""')).toBe('"\\"\\"\\""');
    expect(() => pyLiteral(Number.NaN)).toThrow(/NaN/);
  });
});

describe('generateDag', () => {
  const kbRefresh = readFileSync(path.join(fixtures, 'kb-refresh.yaml'), 'utf8');

  it('resolves a hand-off stage\'s wait: auto parks a workflow that waits on people, the spec\'s own choice wins', () => {
    const dagOf = (stage: Record<string, unknown>) => {
      const parsed = parsePipelineSpec({ apiVersion: 'tandem.dev/v1', id: 'waits', department: 'cardiology', stages: [{ id: 'h', kind: 'handoff', ...stage }] });
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
      return generateDag(parsed.spec).source;
    };
    expect(dagOf({ workflow: 'review.request' })).toContain('wait="parked"');
    expect(dagOf({ workflow: 'model.promote' })).toContain('wait="parked"');
    expect(dagOf({ workflow: 'llm.complete' })).toContain('wait="triggerer"');
    expect(dagOf({ workflow: 'review.request', wait: 'triggerer' })).toContain('wait="triggerer"');
    expect(dagOf({ workflow: 'llm.complete', wait: 'parked' })).toContain('wait="parked"');
  });

  it('is deterministic: same spec, same bytes, whatever the key order', () => {
    const spec = specFrom(kbRefresh);
    const reverseKeys = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reverseKeys) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)])) : v;
    const reordered = reverseKeys(spec) as PipelineSpec;
    expect(Object.keys(reordered)[0]).toBe('stages');
    const a = generateDag(spec);
    expect(generateDag(specFrom(kbRefresh))).toEqual(a);
    expect(generateDag(specFrom(reordered)).source).toBe(a.source);
    expect(a.source).toContain(`# tandem-generator-version: ${GENERATOR_VERSION}\n# tandem-spec-sha256: ${specHashOf(spec)}\n`);
    expect(a).toMatchObject({ dagId: 'tandem__kb-refresh', fileName: 'tandem__kb-refresh.py' });
  });

  it('changes the hash and the file when the spec changes', () => {
    const spec = specFrom(kbRefresh);
    const changed = { ...spec, description: `${spec.description}.` };
    expect(specHashOf(changed)).not.toBe(specHashOf(spec));
    expect(generateDag(changed).source).not.toBe(generateDag(spec).source);
  });

  it('matches the golden files (UPDATE_GOLDEN=1 rewrites them)', () => {
    const names = readdirSync(fixtures).filter((f) => f.endsWith('.yaml')).sort();
    expect(names.length).toBeGreaterThanOrEqual(4);
    const update = process.env.UPDATE_GOLDEN === '1';
    mkdirSync(goldenDir, { recursive: true });
    for (const name of names) {
      const generated = generateDag(specFrom(readFileSync(path.join(fixtures, name), 'utf8')));
      const golden = path.join(goldenDir, generated.fileName);
      if (update || !existsSync(golden)) {
        if (!update) throw new Error(`no golden file ${golden}: run with UPDATE_GOLDEN=1 and review it`);
        writeFileSync(golden, generated.source);
      }
      expect(generated.source, `${name} vs ${path.relative(repoRoot, golden)}`).toBe(readFileSync(golden, 'utf8'));
    }
  });
});

// --- property: hostile specs survive generation and loading exactly ------------------------------

const fragments = [
  '"', "'", '"""', "'''", '\\', '\\n', '\n', '\r\n', '\t', '\0', '{{ ds }}', '{{', '}}', '{% raw %}', '{% endraw %}',
  '{%', '%}', '{#', '#}', '{{ dag_run.conf }}', 'import os', '__import__("os").system("id")', 'None', 'True', 'class',
  'def', 'lambda', 'yield', 'async', '\u00e9', '\u{1F600}', '\u2028', '\u0085', '\ufeff', '\\u0041', '\\N{DASH}', '%s',
  '{0}', '$HOME', '`id`', '$(id)', 'f"{x}"', ');', '#',
];
const hostile = fc
  .array(fc.oneof(fc.constantFrom(...fragments), fc.string({ unit: 'binary', maxLength: 6 })), { minLength: 1, maxLength: 6 })
  .map((parts) => parts.join(''))
  .filter((s) => s.isWellFormed() && s.length > 0);
const envName = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/);
const keywordIds = ['class', 'def', 'import', 'none', 'lambda', 'from', 'yield', 'pass', 's-1', 'async'];
const retry = { retries: fc.integer({ min: 0, max: 10 }), retryDelaySeconds: fc.integer({ min: 1, max: 600 }) };

const stageBody = fc.oneof(
  fc.record({ kind: fc.constant('python'), callable: fc.constant('pkg.mod:fn'), kwargs: fc.dictionary(hostile, fc.oneof(hostile, fc.jsonValue()), { maxKeys: 3 }), ...retry }),
  fc.record({ kind: fc.constant('bash'), command: hostile, env: fc.dictionary(envName, hostile, { maxKeys: 2 }), ...retry }),
  fc.record({
    kind: fc.constant('k8s_job'),
    image: hostile,
    command: fc.array(hostile, { minLength: 1, maxLength: 3 }),
    env: fc.dictionary(envName, hostile, { maxKeys: 2 }),
    resources: fc.record({ gpu: fc.constant({ requests: 1, limits: 1 }), spot: fc.boolean(), faultTolerant: fc.boolean() }),
    ...retry,
  }),
  fc.record({ kind: fc.constant('handoff'), workflow: hostile, input: fc.dictionary(hostile, fc.oneof(hostile, fc.jsonValue()), { maxKeys: 3 }), ...retry }),
  fc.record({ kind: fc.constant('evaluation'), suite: hostile, minScore: fc.double({ min: 0, max: 1, noNaN: true }), ...retry }),
);

const source = fc.oneof(
  fc.record({ kind: fc.constant('file'), path: hostile }),
  fc.record({ kind: fc.constant('http'), url: fc.constant('https://example.org/a?b=c'), headers: fc.dictionary(hostile, hostile, { maxKeys: 2 }) }),
  fc.record({ kind: fc.constant('sql'), connection: hostile, query: hostile }),
  fc.record({ kind: fc.constant('command'), command: hostile }),
);

const hostileSpec = fc
  .record({
    description: hostile,
    schedule: fc.option(fc.record({ cron: fc.constantFrom('0 2 * * *', '*/15 1-4 * * 1-5', '30 3 1 * *'), timezone: fc.constantFrom('UTC', 'Europe/Berlin', 'Asia/Kolkata') }), { nil: undefined }),
    keys: fc.option(fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,6}$/), { minLength: 1, maxLength: 3 }), { nil: undefined }),
    byDate: fc.boolean(),
    sources: fc.array(source, { maxLength: 3 }),
    stages: fc.array(fc.tuple(stageBody, fc.array(fc.nat(), { maxLength: 3 })), { minLength: 1, maxLength: keywordIds.length }),
  })
  .map((g) => ({
    apiVersion: 'tandem.dev/v1',
    id: 'placeholder',
    department: 'qa',
    description: g.description,
    ...(g.schedule ? { schedule: g.schedule } : {}),
    ...(g.keys || g.byDate ? { partitions: { ...(g.keys ? { keys: g.keys } : {}), ...(g.byDate ? { date: { start: '2026-01-01' } } : {}) } } : {}),
    sources: g.sources.map((s, i) => ({ id: `src${i}`, ...s })),
    // Ids that are Python keywords; each stage depends on some earlier ones, so the graph is a DAG.
    stages: g.stages.map(([body, deps], i) => ({
      id: keywordIds[i]!,
      ...body,
      dependsOn: i === 0 ? [] : [...new Set(deps.map((d) => keywordIds[d % i]!))],
    })),
  }));

/** Every user-supplied string of a spec: values, and the keys of user-defined maps. */
function userStrings(spec: PipelineSpec): string[] {
  const found: string[] = [];
  const walk = (v: unknown, withKeys: boolean) => {
    if (typeof v === 'string') found.push(v);
    else if (Array.isArray(v)) v.forEach((x) => walk(x, withKeys));
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (withKeys) found.push(k);
        walk(x, withKeys);
      }
    }
  };
  found.push(spec.description);
  for (const source of spec.sources) {
    const { headers, ...rest } = source as typeof source & { headers?: Record<string, string> };
    walk(rest, false);
    walk(headers ?? {}, true);
  }
  for (const stage of spec.stages) {
    found.push(stage.id);
    switch (stage.kind) {
      case 'python':
        found.push(stage.callable);
        walk(stage.kwargs, true);
        break;
      case 'bash':
        found.push(stage.command);
        walk(stage.env, true);
        break;
      case 'k8s_job':
        found.push(stage.image);
        walk(stage.command, false);
        walk(stage.env, true);
        break;
      case 'handoff':
        found.push(stage.workflow);
        walk(stage.input, true);
        break;
      case 'evaluation':
        found.push(stage.suite);
        break;
    }
  }
  return found;
}

function expectedValues(stage: PipelineSpec['stages'][number]): Record<string, unknown> {
  switch (stage.kind) {
    case 'python':
      return { kind: 'python', callable: stage.callable, kwargs: stage.kwargs };
    case 'bash':
      return { kind: 'bash', command: stage.command, env: stage.env, template_fields: [] };
    case 'k8s_job': {
      // A k8s_job stage is a hand-off to gpu.batch; its name is the stage id as a DNS label.
      const gpu = stage.resources.gpu!;
      const name = stage.id.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '') || 'job';
      return {
        kind: 'handoff',
        workflow: 'gpu.batch',
        input: {
          name,
          image: stage.image,
          command: stage.command,
          env: stage.env,
          resources: { requests: { 'nvidia.com/gpu': gpu.requests }, limits: { 'nvidia.com/gpu': gpu.limits } },
          spot: stage.resources.spot,
          faultTolerant: stage.resources.faultTolerant,
        },
        template_fields: [],
      };
    }
    case 'handoff':
      return { kind: 'handoff', workflow: stage.workflow, input: stage.input, template_fields: [] };
    case 'evaluation':
      return { kind: 'evaluation', suite: stage.suite, min_score: stage.minScore };
  }
}

describe('generated DAGs under hostile input (fast-check → ast → DagBag)', () => {
  it('parse, import in Airflow, and hold every user string exactly; nothing is templated', { timeout: 300_000 }, () => {
    const specs = fc
      .sample(hostileSpec, { numRuns: 60, seed: Number(process.env.PROPERTY_SEED ?? 20261125) })
      .map((raw, i) => specFrom({ ...raw, id: `hostile-${i}` }));
    const dir = mkdtempSync(path.join(tmpdir(), 'tandem-hostile-dags-'));
    try {
      for (const spec of specs) {
        const dag = generateDag(spec);
        // Pure ASCII: no encoding, BOM or line-separator trick can reach the Python tokenizer.
        expect(dag.source).toMatch(/^[\x20-\x7e\n]*$/);
        writeFileSync(path.join(dir, dag.fileName), dag.source);
      }
      const seen = inspectFolder(dir);
      expect(seen.import_errors).toEqual({});
      for (const spec of specs) {
        const { dagId, fileName } = generateDag(spec);
        const context = `${dagId}: ${JSON.stringify(spec)}`;
        const file = seen.files[fileName]!;
        expect(file.parses, context).toBe(true);
        const constants = new Set(file.constants);
        for (const s of userStrings(spec)) expect(constants.has(s), `${JSON.stringify(s)} in ${context}`).toBe(true);

        const dag = seen.dags[dagId]!;
        expect(dag, context).toBeDefined();
        expect(dag.description).toBe(spec.description);
        expect(dag.cron).toBe(spec.schedule?.cron ?? null);
        expect(dag.timezone).toBe(spec.schedule?.timezone ?? null);
        const groups = spec.partitions?.keys?.map((k) => `${k}.`) ?? [''];
        const expectedIds = ['check_sources', ...groups.flatMap((g) => [...spec.stages.map((s) => s.id), 'commit_fingerprints', 'sources_unreadable'].map((t) => g + t))];
        expect(Object.keys(dag.tasks).sort()).toEqual(expectedIds.sort());
        // One source check for the run, over every partition, branching to each group's first tasks.
        expect(dag.tasks.check_sources!.values).toEqual({ kind: 'check', sources: spec.sources, partitions: spec.partitions?.keys ?? [null] });
        expect(dag.tasks.check_sources!.upstream).toEqual([]);
        for (const g of groups) {
          expect(dag.tasks[`${g}sources_unreadable`]!.upstream).toEqual(['check_sources']);
          for (const stage of spec.stages) {
            const task = dag.tasks[g + stage.id]!;
            const { op_args = [], op_kwargs = {}, ...values } = task.values;
            // Templated operator fields stay empty: user values live where Jinja never looks.
            expect(op_args).toEqual([]);
            expect(op_kwargs).toEqual({});
            expect(values, `${g}${stage.id} of ${context}`).toEqual(expectedValues(stage));
            expect(task.retries).toBe(stage.retries);
            const upstream = stage.dependsOn.length ? stage.dependsOn.map((d) => g + d) : ['check_sources'];
            expect(task.upstream).toEqual(upstream.sort());
          }
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
