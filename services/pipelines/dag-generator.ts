/**
 * Pipeline spec → Airflow 3 DAG file (Python).
 *
 * Deterministic: the same spec gives the same bytes (no clock, no environment, object keys sorted),
 * and the header names the spec's hash and this generator's version, so the deployer can tell an
 * unchanged pipeline from a changed one without parsing Python.
 *
 * Injection-proof: a user-supplied value reaches the file only through `pyLiteral`, as an escaped
 * ASCII literal, never as code; ids used as Airflow ids are literals too, never Python names. What
 * stages do with those values at run time (and that nothing is Jinja-rendered) is in
 * dags/tandem_airflow/operators/pipeline_stages.py.
 *
 * Shape of a generated DAG: `tandem__<pipeline id>`; one `check_sources` for the run, which checks
 * every partition's sources and branches to the changed partitions only (one task start per run,
 * not per partition: operators/source_check.py); then per partition key a task group named by the
 * key (no group for a pipeline partitioned only by date), holding the stages in their `dependsOn`
 * order → `commit_fingerprints`, and `sources_unreadable`, which runs only to fail a partition
 * whose source could not be read. Static task groups rather than dynamic task mapping: keys are
 * known when the spec is applied, each group skips or runs on its own (a skipped first task skips
 * the rest through the default all_success rule), and no stage needs a mapped argument (which
 * Airflow resolves by template rendering, something user values must never go through). The DAG's success and failure
 * callbacks report each run's end to tandem (`PipelineRunFinishedNotifier`).
 */
import { createHash } from 'node:crypto';
import type { PipelineSpec, PipelineStage } from '../../shared/contracts/pipeline-spec.ts';
import { handoffWaitOf } from '../../shared/contracts/workflow-types.ts';

/** Bump on any change to the generated text, so every pipeline is redeployed with it. */
export const GENERATOR_VERSION = '3';

export const dagIdPrefix = 'tandem__';

export function dagIdFor(pipelineId: string): string {
  return `${dagIdPrefix}${pipelineId}`;
}

export interface GeneratedDag {
  dagId: string;
  /** Relative to the DAGs folder. */
  fileName: string;
  source: string;
  /** sha256 of the spec's canonical JSON (keys sorted), hex. */
  specHash: string;
}

/** Start date for pipelines without date partitions; fixed so output does not depend on the clock. */
const DEFAULT_START = '2025-01-01';

/** JSON with object keys sorted at every level: the one canonical form for hashing. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function specHashOf(spec: PipelineSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

/** A Python string literal, pure ASCII: JSON escapes, then every non-ASCII code point as \\u / \\U. */
function pyString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0xffff)) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else if (cp > 0xffff) out += `\\U${cp.toString(16).padStart(8, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * The only way a value enters a generated file: JSON data as an equivalent Python literal
 * (str, int/float, bool, None, list, dict with sorted keys).
 */
export function pyLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return pyString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot write ${value} into a DAG file`);
    // JSON's number text is valid Python (1e+21 included); -0 stays a float.
    return Object.is(value, -0) ? '-0.0' : JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(pyLiteral).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${pyString(k)}: ${pyLiteral((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(', ')}}`;
  }
  throw new TypeError(`cannot write a ${typeof value} into a DAG file`);
}

/** Python call arguments `name=literal`, in the given order (names are ours, never the user's). */
function kwargs(args: [string, unknown][]): string {
  return args.map(([name, value]) => `${name}=${pyLiteral(value)}`).join(', ');
}

function kubernetesResources(stage: Extract<PipelineStage, { kind: 'k8s_job' }>): Record<string, Record<string, unknown>> {
  const requests: Record<string, unknown> = {};
  const limits: Record<string, unknown> = {};
  const { cpu, memory, gpu } = stage.resources;
  if (cpu) [requests.cpu, limits.cpu] = [cpu.requests, cpu.limits];
  if (memory) [requests.memory, limits.memory] = [memory.requests, memory.limits];
  if (gpu) [requests['nvidia.com/gpu'], limits['nvidia.com/gpu']] = [gpu.requests, gpu.limits];
  return { requests, limits };
}

function stageCall(stage: PipelineStage): string {
  const retry: [string, unknown][] = [
    ['retries', stage.retries],
    ['retry_delay_seconds', stage.retryDelaySeconds],
  ];
  const head = `${pyLiteral(stage.id)}, partition`;
  switch (stage.kind) {
    case 'python':
      return `python_stage(${head}, ${kwargs([['callable', stage.callable], ['kwargs', stage.kwargs], ...retry])})`;
    case 'bash':
      return `bash_stage(${head}, ${kwargs([['command', stage.command], ['env', stage.env], ...retry])})`;
    case 'k8s_job':
      return `k8s_job_stage(${head}, ${kwargs([
        ['image', stage.image],
        ['command', stage.command],
        ['env', stage.env],
        ['resources', kubernetesResources(stage)],
        ['spot', stage.resources.spot],
        ['fault_tolerant', stage.resources.faultTolerant],
        ...retry,
      ])})`;
    case 'handoff':
      return `handoff_stage(${head}, ${kwargs([['workflow', stage.workflow], ['input', stage.input], ['wait', handoffWaitOf(stage.workflow, stage.wait)], ...retry])})`;
    case 'evaluation':
      return `evaluation_stage(${head}, ${kwargs([['suite', stage.suite], ['min_score', stage.minScore], ...retry])})`;
  }
}

function pyDate(isoDate: string, timezone: string): string {
  const [y, m, d] = isoDate.split('-').map(Number);
  return `pendulum.datetime(${y}, ${m}, ${d}, tz=${pyLiteral(timezone)})`;
}

/** Spec → Python source of one DAG file. The spec must come from `parsePipelineSpec`. */
export function generateDag(spec: PipelineSpec): GeneratedDag {
  const dagId = dagIdFor(spec.id);
  const fileName = `${dagId}.py`;
  const specHash = specHashOf(spec);
  const timezone = spec.schedule?.timezone ?? 'UTC';
  const keys = spec.partitions?.keys;
  const byDate = spec.partitions?.date !== undefined;
  const kinds = [...new Set(spec.stages.map((s) => s.kind))];
  const factoryOf: Record<PipelineStage['kind'], string> = {
    python: 'python_stage',
    bash: 'bash_stage',
    k8s_job: 'k8s_job_stage',
    handoff: 'handoff_stage',
    evaluation: 'evaluation_stage',
  };
  const imports = [
    'PipelinePartition',
    'PipelineRunFinishedNotifier',
    'check_sources_task',
    'commit_fingerprints_task',
    'source_failure_task',
    ...kinds.map((k) => factoryOf[k]),
  ].sort();

  const variable = new Map(spec.stages.map((s, i) => [s.id, `stage_${i}`]));
  const dependents = new Set(spec.stages.flatMap((s) => s.dependsOn));
  const roots = spec.stages.filter((s) => s.dependsOn.length === 0).map((s) => variable.get(s.id)!);
  const leaves = spec.stages.filter((s) => !dependents.has(s.id)).map((s) => variable.get(s.id)!);

  const lines: string[] = [];
  const emit = (line = '') => lines.push(line);

  emit('# Generated by tandem from a pipeline spec: do not edit; change the spec and apply it again.');
  emit(`# tandem-generator-version: ${GENERATOR_VERSION}`);
  emit(`# tandem-spec-sha256: ${specHash}`);
  emit('from __future__ import annotations');
  emit();
  emit('import pendulum');
  const sdkNames = ['DAG', ...(spec.schedule ? ['CronTriggerTimetable'] : []), 'Param', ...(keys ? ['TaskGroup'] : [])];
  emit(`from airflow.sdk import ${sdkNames.join(', ')}`);
  emit();
  emit('from tandem_airflow.operators.pipeline_stages import (');
  for (const name of imports) emit(`    ${name},`);
  emit(')');
  emit();
  emit(`PIPELINE_ID = ${pyLiteral(spec.id)}`);
  emit(`DEPARTMENT = ${pyLiteral(spec.department)}`);
  emit(`PARTITION_KEYS = ${keys ? pyLiteral(keys) : 'None'}`);
  emit(`PARTITION_BY_DATE = ${pyLiteral(byDate)}`);
  emit(`SOURCES = [`);
  for (const source of spec.sources) emit(`    ${pyLiteral(source)},`);
  emit(']');
  emit();
  emit();
  emit('def build_partition(partition, check):');
  emit('    unreadable = source_failure_task(partition)');
  spec.stages.forEach((stage) => emit(`    ${variable.get(stage.id)} = ${stageCall(stage)}`));
  emit('    commit = commit_fingerprints_task(partition)');
  emit(`    check >> [unreadable, ${roots.join(', ')}]`);
  for (const stage of spec.stages) {
    if (stage.dependsOn.length === 0) continue;
    const upstream = [...stage.dependsOn].map((d) => variable.get(d)!).sort(byStageNumber);
    emit(`    [${upstream.join(', ')}] >> ${variable.get(stage.id)}`);
  }
  emit(`    [${leaves.join(', ')}] >> commit`);
  emit();
  emit();
  emit('with DAG(');
  emit('    dag_id=' + pyLiteral(dagId) + ',');
  emit('    description=' + pyLiteral(spec.description) + ',');
  emit(
    spec.schedule
      ? `    schedule=CronTriggerTimetable(${pyLiteral(spec.schedule.cron.trim().split(/\s+/).join(' '))}, timezone=${pyLiteral(timezone)}),`
      : '    schedule=None,',
  );
  emit(`    start_date=${pyDate(spec.partitions?.date?.start ?? DEFAULT_START, timezone)},`);
  emit('    catchup=False,');
  emit('    max_active_runs=1,');
  emit(`    tags=${pyLiteral(['tandem', `department:${spec.department}`, ...(spec.refreshesKnowledgeBase ? ['knowledge-base'] : [])])},`);
  emit('    params={');
  emit('        "force": Param(False, type="boolean", description="Run every partition even if its sources did not change"),');
  emit('        "partitions": Param(None, type=["null", "array"], description="Only these partition keys (default: all)"),');
  emit('    },');
  emit(`    default_args={"owner": ${pyLiteral(`tandem:${spec.department}`)}},`);
  // Each run's end is reported to tandem (pipeline.run.finished); each partition task's failure is
  // reported by the task itself (the stage factories set its on_failure_callback).
  emit('    on_success_callback=PipelineRunFinishedNotifier(PIPELINE_ID),');
  emit('    on_failure_callback=PipelineRunFinishedNotifier(PIPELINE_ID),');
  emit('):');
  if (keys) {
    emit('    partitions = [PipelinePartition(PIPELINE_ID, DEPARTMENT, key, PARTITION_BY_DATE) for key in PARTITION_KEYS]');
    emit('    check = check_sources_task(partitions, SOURCES)');
    emit('    for partition in partitions:');
    emit('        with TaskGroup(group_id=partition.key):');
    emit('            build_partition(partition, check)');
  } else {
    emit('    partition = PipelinePartition(PIPELINE_ID, DEPARTMENT, None, PARTITION_BY_DATE)');
    emit('    build_partition(partition, check_sources_task([partition], SOURCES))');
  }
  return { dagId, fileName, source: `${lines.join('\n')}\n`, specHash };
}

function byStageNumber(a: string, b: string): number {
  return Number(a.slice('stage_'.length)) - Number(b.slice('stage_'.length));
}
