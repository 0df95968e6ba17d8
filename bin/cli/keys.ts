/** `tandem keys …`: API keys and their lifecycle (admin keys only). */
import type { Command } from 'commander';
import { call, type GlobalOptions } from './api.ts';
import { printRecord, printRows } from './output.ts';

const keyColumns = ['id', 'name', 'role', 'department', 'createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt', 'rotatedTo'];

export function registerKeys(program: Command, global: () => GlobalOptions): void {
  const keys = program.command('keys').description('API keys (admin)');
  keys
    .command('create')
    .description('Create a key; its plaintext is shown once')
    .requiredOption('-n, --name <name>', 'who or what uses it')
    .requiredOption('-r, --role <role>', 'admin, data-engineer, ai-engineer, reviewer or service')
    .requiredOption('--department <department>', 'a department id, or * for every department')
    .option('--expires-in <seconds>', 'how long it works, from now')
    .action(async (opts: { name: string; role: string; department: string; expiresIn?: string }) =>
      printRecord(
        global().json ?? false,
        await call(global(), 'POST', '/v1/api-keys', { json: { name: opts.name, role: opts.role, department: opts.department, ...(opts.expiresIn ? { expiresInSeconds: Number(opts.expiresIn) } : {}) } }),
        [...keyColumns.slice(0, 6), 'key'],
      ),
    );
  keys
    .command('list')
    .description('Keys, oldest first (never their hashes)')
    .option('--limit <n>', 'at most this many')
    .option('--cursor <cursor>', 'the next page, as the previous page said')
    .action(async (opts: { limit?: string; cursor?: string }) => {
      const q = new URLSearchParams(Object.entries(opts).filter((e): e is [string, string] => typeof e[1] === 'string'));
      const response = (await call(global(), 'GET', `/v1/api-keys${q.size ? `?${q}` : ''}`)) as { items: Record<string, unknown>[] };
      printRows(global().json ?? false, response, response.items, keyColumns.map((name) => ({ header: name, value: (k: Record<string, unknown>) => k[name] })));
    });
  keys
    .command('rotate <id>')
    .description('A new key with the same name, role and department; the old one works for the overlap')
    .option('--overlap-hours <hours>', 'how long the old key keeps working', '24')
    .action(async (id: string, opts: { overlapHours: string }) => {
      const result = (await call(global(), 'POST', `/v1/api-keys/${encodeURIComponent(id)}/rotate`, { json: { overlapHours: Number(opts.overlapHours) } })) as {
        key: Record<string, unknown>;
        replaced: Record<string, unknown>;
      };
      if (global().json) return printRecord(true, result);
      printRecord(false, { newId: result.key.id, key: result.key.key, replacedId: result.replaced.id, replacedExpiresAt: result.replaced.expiresAt });
    });
  keys
    .command('revoke <id>')
    .description('Revoke a key: refused from its next request on')
    .action(async (id: string) => {
      await call(global(), 'DELETE', `/v1/api-keys/${encodeURIComponent(id)}`);
      if (global().json) printRecord(true, { id, revoked: true });
      else console.log(`revoked ${id}`);
    });
}
