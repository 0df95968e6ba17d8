/** `tandem reviews …` and `tandem audit verify`: the reviewer inbox and the audit chain. */
import type { Command } from 'commander';
import { call, CliError, exitCodes, type GlobalOptions } from './api.ts';
import { printRecord, printRows } from './output.ts';

const decisions = ['approve', 'reject', 'request-changes'];

export function registerReviews(program: Command, global: () => GlobalOptions): void {
  const reviews = program.command('reviews').description('Human reviews (the built-in inbox)');
  reviews
    .command('list')
    .description('Reviews of your department, oldest first')
    .option('--mine', 'only those assigned to your key or to the reviewers group')
    .option('-s, --status <status>', 'pending, approved, rejected, changes-requested or expired')
    .option('--limit <n>', 'at most this many')
    .option('--cursor <cursor>', 'the next page, as the previous page said')
    .action(async (opts: { mine?: boolean; status?: string; limit?: string; cursor?: string }) => {
      const q = new URLSearchParams();
      if (opts.mine) q.set('assignedToMe', 'true');
      for (const key of ['status', 'limit', 'cursor'] as const) if (opts[key]) q.set(key, opts[key]!);
      const response = (await call(global(), 'GET', `/v1/reviews${q.size ? `?${q}` : ''}`)) as { reviews: Record<string, unknown>[] };
      printRows(global().json ?? false, response, response.reviews, [
        { header: 'id', value: (r) => r.id },
        { header: 'type', value: (r) => r.reviewType },
        { header: 'title', value: (r) => r.title },
        { header: 'status', value: (r) => r.status },
        { header: 'assignee', value: (r) => r.assignee },
        { header: 'level', value: (r) => r.escalationLevel },
        { header: 'due', value: (r) => r.dueAt },
      ]);
    });
  reviews
    .command('show <id>')
    .description('One review with its artifact version, escalations and comments')
    .action(async (id: string) =>
      printRecord(global().json ?? false, await call(global(), 'GET', `/v1/reviews/${encodeURIComponent(id)}`), [
        'id', 'department', 'reviewType', 'title', 'status', 'artifactUri', 'artifactVersion', 'assignee', 'escalationLevel', 'dueAt', 'decidedBy', 'decidedAt', 'comment',
      ]),
    );
  reviews
    .command('decide <id>')
    .description('Decide on a review, bound to the artifact version you looked at (your identity is your key)')
    .requiredOption('-d, --decision <decision>', decisions.join(', '))
    .requiredOption('-v, --artifact-version <version>', 'the artifact version you reviewed')
    .option('-c, --comment <text>', 'required when rejecting')
    .option('--idempotency-key <key>', 'a retry with the same key replays the first answer')
    .action(async (id: string, opts: { decision: string; artifactVersion: string; comment?: string; idempotencyKey?: string }) => {
      if (!decisions.includes(opts.decision)) throw new CliError(`--decision must be one of ${decisions.join(', ')}`, exitCodes.usage);
      const body = { decision: opts.decision, artifactVersion: opts.artifactVersion, ...(opts.comment ? { comment: opts.comment } : {}) };
      printRecord(
        global().json ?? false,
        await call(global(), 'POST', `/v1/reviews/${encodeURIComponent(id)}/decision`, { json: body }, opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {}),
        ['id', 'status', 'decidedBy', 'decidedAt', 'artifactVersion', 'comment'],
      );
    });

  const audit = program.command('audit').description('The hash-chained audit log');
  audit
    .command('verify')
    .description('Recompute the whole chain; exits 1 when an entry does not hold')
    .action(async () => {
      const result = (await call(global(), 'GET', '/v1/audit/verify')) as { ok: boolean };
      printRecord(global().json ?? false, result);
      if (!result.ok) process.exitCode = exitCodes.refused;
    });
}
