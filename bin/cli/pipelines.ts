/** `tandem pipelines …`: specs to Airflow DAGs, runs and partitions. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { call, CliError, exitCodes, type Body, type GlobalOptions } from './api.ts';
import type { PartitionView, PipelineRunView, PipelineView } from '../../shared/contracts/pipelines.ts';
import { printRecord, printRows } from './output.ts';

function specBody(file: string): Body {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, exitCodes.usage);
  }
  return /\.ya?ml$/i.test(file) ? { text, contentType: 'application/yaml' } : { text, contentType: 'application/json' };
}

const id = (value: string) => encodeURIComponent(value);
const page = (opts: { limit?: string; cursor?: string }) => {
  const q = new URLSearchParams();
  if (opts.limit) q.set('limit', opts.limit);
  if (opts.cursor) q.set('cursor', opts.cursor);
  return q.size ? `?${q}` : '';
};

export function registerPipelines(program: Command, global: () => GlobalOptions): void {
  const pipelines = program.command('pipelines').description('Pipeline specs → Airflow DAGs');
  pipelines
    .command('validate')
    .description('Dry run: lint findings and the generated Python, nothing deployed')
    .requiredOption('-f, --file <spec>', 'pipeline spec, YAML or JSON')
    .action(async (opts: { file: string }) => {
      const report = (await call(global(), 'POST', '/v1/pipelines/validate', specBody(opts.file))) as { valid: boolean; findings: unknown[] };
      if (global().json) return printRecord(true, report);
      printRecord(false, report, ['valid', 'pipelineId', 'dagId', 'schedule', 'specHash']);
      printRows(false, report, report.findings as { severity: string; rule: string; path: string; message: string }[], [
        { header: 'severity', value: (f) => f.severity },
        { header: 'rule', value: (f) => f.rule },
        { header: 'path', value: (f) => f.path },
        { header: 'message', value: (f) => f.message },
      ]);
    });
  pipelines
    .command('apply')
    .description('Validate, generate and deploy a pipeline (creates or updates it)')
    .requiredOption('-f, --file <spec>', 'pipeline spec, YAML or JSON')
    .option('--idempotency-key <key>', 'a retry with the same key replays the first answer')
    .action(async (opts: { file: string; idempotencyKey?: string }) => {
      const result = (await call(global(), 'POST', '/v1/pipelines', specBody(opts.file), opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {})) as {
        pipeline: Record<string, unknown>;
        unchanged: boolean;
      };
      if (global().json) return printRecord(true, result);
      printRecord(false, { ...result.pipeline, unchanged: result.unchanged }, ['id', 'department', 'status', 'dagId', 'specHash', 'unchanged', 'deployedAt']);
    });
  pipelines
    .command('list')
    .description('Pipelines you can see')
    .option('--include-deleted', 'deleted pipelines too')
    .option('--limit <n>', 'at most this many')
    .option('--cursor <cursor>', 'the next page, as the previous page said')
    .action(async (opts: { includeDeleted?: boolean; limit?: string; cursor?: string }) => {
      const query = page(opts);
      const sep = query ? '&' : '?';
      const response = (await call(global(), 'GET', `/v1/pipelines${query}${opts.includeDeleted ? `${sep}includeDeleted=true` : ''}`)) as { pipelines: PipelineView[] };
      printRows(global().json ?? false, response, response.pipelines, [
        { header: 'id', value: (p) => p.id },
        { header: 'department', value: (p) => p.department },
        { header: 'status', value: (p) => p.status },
        { header: 'schedule', value: (p) => p.schedule?.description ?? '' },
        { header: 'partitions', value: (p) => p.partitionKeys?.join(', ') ?? (p.partitionByDate ? 'by date' : '') },
      ]);
    });
  pipelines
    .command('get <id>')
    .description('One pipeline')
    .action(async (pipelineId: string) =>
      printRecord(global().json ?? false, await call(global(), 'GET', `/v1/pipelines/${id(pipelineId)}`), ['id', 'department', 'description', 'status', 'dagId', 'specHash', 'deployedAt', 'lastError']),
    );
  pipelines
    .command('trigger <id>')
    // `run` was this command's name before; scripts that use it keep working.
    .alias('run')
    .description('Trigger a run of chosen partitions (default all), or a backfill range')
    .option('-p, --partition <key...>', 'partition keys to run')
    .option('--force', 'run partitions whose sources did not change', false)
    .option('--from <date>', 'backfill start (YYYY-MM-DD)')
    .option('--to <date>', 'backfill end (YYYY-MM-DD)')
    .option('--idempotency-key <key>', 'a retry with the same key replays the first answer')
    .action(async (pipelineId: string, opts: { partition?: string[]; force: boolean; from?: string; to?: string; idempotencyKey?: string }) => {
      const response = (await call(
        global(),
        'POST',
        `/v1/pipelines/${id(pipelineId)}/runs`,
        { json: { force: opts.force, ...(opts.partition ? { partitions: opts.partition } : {}), ...(opts.from ? { from: opts.from } : {}), ...(opts.to ? { to: opts.to } : {}) } },
        opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {},
      )) as { runs: Record<string, unknown>[] };
      printRows(global().json ?? false, response, response.runs, [
        { header: 'run id', value: (r) => r.runId },
        { header: 'logical date', value: (r) => r.logicalDate },
        { header: 'state', value: (r) => r.state },
        { header: 'created', value: (r) => r.created },
      ]);
    });
  pipelines
    .command('runs <id>')
    .description('Recent runs from Airflow, newest first, with each partition’s state')
    .option('--limit <n>', 'at most this many')
    .option('--cursor <cursor>', 'the next page, as the previous page said')
    .action(async (pipelineId: string, opts: { limit?: string; cursor?: string }) => {
      const response = (await call(global(), 'GET', `/v1/pipelines/${id(pipelineId)}/runs${page(opts)}`)) as { runs: PipelineRunView[] };
      printRows(global().json ?? false, response, response.runs, [
        { header: 'run id', value: (r) => r.runId },
        { header: 'state', value: (r) => r.state },
        { header: 'run after', value: (r) => r.runAfter },
        { header: 'partitions', value: (r) => r.partitions.map((p) => `${p.partition}: ${p.state}`).join(', ') },
      ]);
    });
  pipelines
    .command('partitions <id>')
    .description('Per partition: last fingerprint, when it changed, last run, skipped or ran and why')
    .action(async (pipelineId: string) => {
      const response = (await call(global(), 'GET', `/v1/pipelines/${id(pipelineId)}/partitions`)) as { partitions: PartitionView[] };
      printRows(global().json ?? false, response, response.partitions, [
        { header: 'partition', value: (p) => p.partition },
        { header: 'last run', value: (p) => p.lastRun?.runId ?? '' },
        { header: 'outcome', value: (p) => p.lastRun?.outcome ?? '' },
        { header: 'reason', value: (p) => p.lastRun?.reason ?? '' },
        { header: 'changed at', value: (p) => p.lastChangedAt },
      ]);
    });
  pipelines
    .command('delete <id>')
    .description('Pause and remove the DAG; run history is kept')
    .action(async (pipelineId: string) => printRecord(global().json ?? false, await call(global(), 'DELETE', `/v1/pipelines/${id(pipelineId)}`), ['id', 'status']));
}
