/** `tandem workflows …`: durable flows on Temporal. */
import type { Command } from 'commander';
import { call, jsonArgument, type GlobalOptions } from './api.ts';
import { printRecord, printRows } from './output.ts';

export function registerWorkflows(program: Command, global: () => GlobalOptions): void {
  const workflows = program.command('workflows').description('Durable flows (Temporal)');
  workflows
    .command('start')
    .description('Start a durable flow by type')
    .requiredOption('-t, --type <type>', 'workflow type, e.g. smoke.echo')
    .requiredOption('-i, --input <json>', 'input as JSON, or @file.json')
    .option('--idempotency-key <key>', 'a retry with the same key replays the first answer')
    .action(async (opts: { type: string; input: string; idempotencyKey?: string }) =>
      printRecord(
        global().json ?? false,
        await call(global(), 'POST', '/v1/workflows', { json: { type: opts.type, input: jsonArgument(opts.input) } }, opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {}),
      ),
    );
  workflows
    .command('list')
    .description('Flows of your department, newest first')
    .option('-t, --type <type>', 'only this workflow type')
    .option('-s, --status <status>', 'running, completed, failed, cancelled, terminated or timed_out')
    .option('--limit <n>', 'at most this many')
    .option('--cursor <cursor>', 'the next page, as the previous page said')
    .action(async (opts: { type?: string; status?: string; limit?: string; cursor?: string }) => {
      const q = new URLSearchParams(Object.entries(opts).filter((e): e is [string, string] => typeof e[1] === 'string'));
      const response = (await call(global(), 'GET', `/v1/workflows${q.size ? `?${q}` : ''}`)) as { workflows: Record<string, unknown>[] };
      printRows(global().json ?? false, response, response.workflows, [
        { header: 'workflow id', value: (w) => w.workflowId },
        { header: 'type', value: (w) => w.type },
        { header: 'status', value: (w) => w.status },
        { header: 'department', value: (w) => w.department },
        { header: 'started', value: (w) => w.startedAt },
        { header: 'closed', value: (w) => w.closedAt },
      ]);
    });
  workflows
    .command('get <id>')
    .description('State of a workflow, with its result once completed')
    .action(async (id: string) => printRecord(global().json ?? false, await call(global(), 'GET', `/v1/workflows/${encodeURIComponent(id)}`)));
  workflows
    .command('cancel <id>')
    .description('Request cancellation of a workflow')
    .action(async (id: string) =>
      printRecord(global().json ?? false, await call(global(), 'POST', `/v1/workflows/${encodeURIComponent(id)}/cancel`), ['workflowId', 'type', 'status']),
    );
}
