/** `tandem subscriptions …`: webhook subscriptions, their deliveries and redelivery. */
import type { Command } from 'commander';
import { call, type GlobalOptions } from './api.ts';
import { printRecord, printRows } from './output.ts';

const id = (value: string) => encodeURIComponent(value);
const pageQuery = (opts: { limit?: string; cursor?: string }) => {
  const q = new URLSearchParams(Object.entries(opts).filter((e): e is [string, string] => typeof e[1] === 'string'));
  return q.size ? `?${q}` : '';
};

export function registerSubscriptions(program: Command, global: () => GlobalOptions): void {
  const subscriptions = program.command('subscriptions').description('Webhook subscriptions (admin and service keys)');
  subscriptions
    .command('create')
    .description('Subscribe a URL to event types; the signing secret is shown once')
    .requiredOption('--department <department>', 'whose events')
    .requiredOption('--url <url>', 'where events are POSTed')
    .requiredOption('-e, --event <type...>', 'event types, e.g. review.decided workflow.failed')
    .option('--description <text>', 'what it is for')
    .action(async (opts: { department: string; url: string; event: string[]; description?: string }) =>
      printRecord(
        global().json ?? false,
        await call(global(), 'POST', '/v1/subscriptions', {
          json: { department: opts.department, url: opts.url, eventTypes: opts.event, ...(opts.description ? { description: opts.description } : {}) },
        }),
      ),
    );
  subscriptions
    .command('list')
    .description('Subscriptions you can see')
    .option('--limit <n>', 'at most this many')
    .option('--cursor <cursor>', 'the next page, as the previous page said')
    .action(async (opts: { limit?: string; cursor?: string }) => {
      const response = (await call(global(), 'GET', `/v1/subscriptions${pageQuery(opts)}`)) as { items: Record<string, unknown>[] };
      printRows(global().json ?? false, response, response.items, [
        { header: 'id', value: (s) => s.id },
        { header: 'department', value: (s) => s.department },
        { header: 'url', value: (s) => s.url },
        { header: 'events', value: (s) => (s.eventTypes as string[] | undefined)?.join(', ') },
      ]);
    });
  subscriptions
    .command('delete <id>')
    .description('Stop delivering to a subscription')
    .action(async (subscriptionId: string) => {
      await call(global(), 'DELETE', `/v1/subscriptions/${id(subscriptionId)}`);
      if (global().json) printRecord(true, { id: subscriptionId, deleted: true });
      else console.log(`deleted ${subscriptionId}`);
    });
  subscriptions
    .command('deliveries <id>')
    .description('A subscription’s deliveries, newest first')
    .option('--limit <n>', 'at most this many')
    .option('--cursor <cursor>', 'the next page, as the previous page said')
    .action(async (subscriptionId: string, opts: { limit?: string; cursor?: string }) => {
      const response = (await call(global(), 'GET', `/v1/subscriptions/${id(subscriptionId)}/deliveries${pageQuery(opts)}`)) as { items: Record<string, unknown>[] };
      printRows(global().json ?? false, response, response.items, [
        { header: 'id', value: (d) => d.id },
        { header: 'event', value: (d) => d.eventType },
        { header: 'status', value: (d) => d.status },
        { header: 'attempts', value: (d) => d.attempts },
        { header: 'last status', value: (d) => d.lastStatusCode },
        { header: 'next try', value: (d) => d.nextAttemptAt },
      ]);
    });
  subscriptions
    .command('redeliver <id> <deliveryId>')
    .description('Deliver an event again, with the same event id')
    .action(async (subscriptionId: string, deliveryId: string) =>
      printRecord(global().json ?? false, await call(global(), 'POST', `/v1/subscriptions/${id(subscriptionId)}/deliveries/${id(deliveryId)}/redeliver`)),
    );
}
