/**
 * `npm run bench -- pipelines-generate`: what turning specs into DAGs costs.
 *
 * - generation: 1,000 specs (1–5 partition keys, 4 stages of every runnable kind) through parse →
 *   lint → generate, in process, after 50 discarded warm-up specs;
 * - Airflow parse time of one generated DAG file (3 partitions × 6 tasks), warm and cold (see
 *   bench/dag_parse_timing.py), side by side with the equivalent DAG built by dag-factory 1.x
 *   from YAML (same task groups, tasks, operators, dependencies and cron) in the same run.
 *   Target: ours not slower.
 *
 * dag-factory is a benchmark-only dependency: it registers an Airflow plugin, so it is kept out of
 * the project's .venv and loaded from `.tandem-bench-deps/` (or DAG_FACTORY_PATH), installed with
 * `pip install --no-deps --target .tandem-bench-deps dag-factory==1.1.0`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { repoRoot } from '../shared/config.ts';
import type { PipelineSpec } from '../shared/contracts/pipeline-spec.ts';
import { generateDag } from '../services/pipelines/dag-generator.ts';
import { planPipeline } from '../services/pipelines/plan.ts';
import { figure, round, writeReport, type Figure } from './report.ts';

const python = path.join(repoRoot, '.venv', 'bin', 'python');
const dagFactoryPath = process.env.DAG_FACTORY_PATH ?? path.join(repoRoot, '.tandem-bench-deps');
const departments = ['cardiology', 'oncology', 'radiology', 'neurology', 'pediatrics'];

function benchSpec(id: string, keys: string[]): Record<string, unknown> {
  return {
    apiVersion: 'tandem.dev/v1',
    id,
    department: 'clinical-ai',
    description: 'Nightly knowledge-base refresh (benchmark)',
    schedule: { cron: '30 1 * * *', timezone: 'Europe/Berlin' },
    partitions: { keys },
    refreshesKnowledgeBase: true,
    sources: [{ id: 'guidelines', kind: 'file', path: '/srv/kb/{partition}/*.md' }],
    stages: [
      { id: 'extract', kind: 'bash', command: 'extract --out "/srv/work/$TANDEM_PARTITION"' },
      { id: 'chunk', kind: 'python', callable: 'kb.chunk:run', kwargs: { maxTokens: 512 }, dependsOn: ['extract'] },
      {
        id: 'embed',
        kind: 'k8s_job',
        image: 'embedder:1.4',
        command: ['embed', '--batch'],
        dependsOn: ['chunk'],
        resources: { cpu: { requests: 2, limits: 2 }, memory: { requests: '8Gi', limits: '8Gi' }, gpu: { requests: 1, limits: 1 }, spot: true, faultTolerant: true },
      },
      { id: 'golden', kind: 'evaluation', suite: 'kb.golden:run', dependsOn: ['embed'] },
    ],
  };
}

function generationMs(count: number): number {
  const specs = Array.from({ length: count + 50 }, (_, i) => benchSpec(`bench-${i}`, departments.slice(0, 1 + (i % 5))));
  const run = (batch: Record<string, unknown>[]) => {
    for (const spec of batch) {
      const result = planPipeline(spec);
      if (!result.ok || !result.plan.deployable) throw new Error(`benchmark spec rejected: ${JSON.stringify(result)}`);
    }
  };
  run(specs.slice(0, 50)); // warm-up, discarded
  const t0 = performance.now();
  run(specs.slice(50));
  return performance.now() - t0;
}

/** The same DAG for dag-factory 1.x: same groups, task count, operators, edges and cron. */
function dagFactoryYaml(spec: PipelineSpec, dagId: string): string {
  const callable = 'tandem_airflow.utils.context.run_date';
  const tasks: Record<string, unknown>[] = [
    { task_id: 'check_sources', operator: 'airflow.providers.standard.operators.python.PythonOperator', python_callable: callable, op_kwargs: { sources: spec.sources } },
  ];
  for (const key of spec.partitions!.keys!) {
    const id = (name: string) => `${key}_${name.replace(/-/g, '_')}`;
    tasks.push({ task_id: id('sources_unreadable'), operator: 'airflow.providers.standard.operators.python.PythonOperator', python_callable: callable, dependencies: ['check_sources'], task_group_name: key });
    for (const stage of spec.stages) {
      const dependencies = stage.dependsOn.length ? stage.dependsOn.map(id) : ['check_sources'];
      const common = { task_id: id(stage.id), dependencies, retries: stage.retries, task_group_name: key };
      tasks.push(
        stage.kind === 'bash'
          ? { ...common, operator: 'airflow.providers.standard.operators.bash.BashOperator', bash_command: stage.command }
          : { ...common, operator: 'airflow.providers.standard.operators.python.PythonOperator', python_callable: callable, op_kwargs: { stage: stage } },
      );
    }
    const leaves = spec.stages.filter((s) => !spec.stages.some((o) => o.dependsOn.includes(s.id))).map((s) => id(s.id));
    tasks.push({ task_id: id('commit_fingerprints'), operator: 'airflow.providers.standard.operators.python.PythonOperator', python_callable: callable, dependencies: leaves, task_group_name: key });
  }
  return toYaml({
    [dagId]: {
      description: spec.description,
      schedule: spec.schedule!.cron,
      catchup: false,
      max_active_runs: 1,
      tags: ['tandem', `department:${spec.department}`],
      default_args: { owner: `tandem:${spec.department}`, start_date: '2025-01-01' },
      task_groups: Object.fromEntries(spec.partitions!.keys!.map((k) => [k, { tooltip: `partition ${k}` }])),
      tasks,
    },
  });
}

function pythonEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AIRFLOW') && !k.startsWith('TANDEM_')) env[k] = v;
  return {
    ...env,
    AIRFLOW_HOME: home,
    AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
    AIRFLOW__CORE__UNIT_TEST_MODE: 'False',
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: `sqlite:///${path.join(home, 'airflow.db')}`,
    AIRFLOW__LOGGING__LOGGING_LEVEL: 'ERROR',
    // dag-factory's telemetry would try the internet; this benchmark talks to nothing.
    AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY: 'False',
    DO_NOT_TRACK: '1',
    SCARF_NO_ANALYTICS: 'true',
    PYTHONPATH: dagFactoryPath,
  };
}

interface ParseTiming {
  tasks: number;
  warm_p50_ms: number;
  warm_p95_ms: number;
  cold_p50_ms: number | null;
  warm_samples: number;
  cold_samples: number;
}

export async function pipelinesGenerateBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const count = 1000;
  const genMs = generationMs(count);
  const figures: Figure[] = [
    figure({ metric: 'generate_1000_specs', unit: 'ms', value: genMs, note: `parse + lint + generate, ${round(genMs / count, 3)} ms per spec, 50 warm-up specs discarded` }),
  ];

  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-pipelines-'));
  try {
    const planned = planPipeline(benchSpec('kb-bench', departments.slice(0, 3)));
    if (!planned.ok) throw new Error('benchmark spec rejected');
    const ours = generateDag(planned.plan.spec);
    const oursFile = path.join(dir, ours.fileName);
    writeFileSync(oursFile, ours.source);
    const yamlFile = path.join(dir, 'dagfactory_kb_bench.yml');
    writeFileSync(yamlFile, dagFactoryYaml(planned.plan.spec, 'dagfactory__kb-bench'));
    const dfFile = path.join(dir, 'dagfactory_kb_bench.py');
    writeFileSync(dfFile, `from dagfactory import load_yaml_dags\n\nload_yaml_dags(globals_dict=globals(), config_filepath=${JSON.stringify(yamlFile)})\n`);

    const home = path.join(dir, 'airflow-home');
    const env = pythonEnv(home);
    let haveDagFactory = true;
    try {
      execFileSync(python, ['-c', 'import dagfactory'], { env, stdio: 'ignore' });
    } catch {
      haveDagFactory = false;
    }
    const files = [`ours=${oursFile}`, ...(haveDagFactory ? [`dagfactory=${dfFile}`] : [])];
    const out = path.join(dir, 'timing.json');
    const [samples, coldSamples] = quick ? ['20', '3'] : ['100', '15'];
    execFileSync(python, [path.join(repoRoot, 'bench', 'dag_parse_timing.py'), out, samples, coldSamples, ...files], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const timing = JSON.parse(readFileSync(out, 'utf8')) as Record<string, ParseTiming>;
    const o = timing.ours!;
    const df = timing.dagfactory;
    if (df && df.tasks !== o.tasks) throw new Error(`not the same DAG: ours has ${o.tasks} tasks, dag-factory's ${df.tasks}`);
    const missing = `dag-factory not importable from ${dagFactoryPath}: pip install --no-deps --target ${dagFactoryPath} dag-factory==1.1.0`;
    for (const [metric, key, n] of [
      ['dag_parse_warm_p50', 'warm_p50_ms', o.warm_samples],
      ['dag_parse_cold_p50', 'cold_p50_ms', o.cold_samples],
    ] as const) {
      const value = o[key]!;
      figures.push(
        figure({
          metric,
          unit: 'ms',
          value,
          ...(df ? { baseline: 'dag-factory 1.1.0 from YAML, same DAG', baseline_value: round(df[key]!, 3), target: `<= ${round(df[key]!, 3)}` } : {}),
          note: `${o.tasks} tasks; ${n} samples each, interleaved${df ? '' : `; no baseline: ${missing}`}`,
        }),
      );
    }
    writeReport('pipelines-generate', figures, { parse: timing, dag_factory_path: dagFactoryPath });
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
