/**
 * `tandem tenants …`: departments as tenants — namespace, quota, off-peak window, budgets — and
 * the drift between what tandem applied to the cluster and what is there.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { DriftItem, TenantDetail, TenantView } from '../../shared/contracts/tenants.ts';
import { call, CliError, exitCodes, type GlobalOptions } from './api.ts';
import { printRecord, printRows } from './output.ts';

const id = (value: string) => encodeURIComponent(value);

/** A tenant file, YAML or JSON; its `department` (if any) says whose it is. */
function tenantFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, exitCodes.usage);
  }
  let parsed: unknown;
  try {
    parsed = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message}`, exitCodes.usage);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError(`${file} must hold one object (the tenant)`, exitCodes.usage);
  return parsed as Record<string, unknown>;
}

const summaryFields = ['department', 'namespace', 'gpuPeakPolicy', 'spotAllowed', 'llmTokenBudget', 'region', 'offPeak', 'quota', 'cluster', 'updatedAt', 'updatedBy'];

function printTenant(json: boolean, tenant: TenantDetail): void {
  if (json) return printRecord(true, tenant);
  printRecord(false, tenant, summaryFields);
  if (tenant.drift === null) console.log('drift: unknown (this API applies tenants to no cluster)');
  else if (tenant.drift.length === 0) console.log('drift: none (the cluster has what tandem applied)');
  else {
    console.log(`drift: ${tenant.drift.length} field(s) differ from what tandem applied; \`tandem tenants apply ${tenant.department}\` takes them back`);
    printRows<DriftItem>(false, tenant, tenant.drift, [
      { header: 'object', value: (d) => d.object },
      { header: 'path', value: (d) => d.path },
      { header: 'applied', value: (d) => d.applied },
      { header: 'live', value: (d) => d.live ?? '(missing)' },
    ]);
  }
}

export function registerTenants(program: Command, global: () => GlobalOptions): void {
  const tenants = program.command('tenants').description('Departments as tenants: namespace, quota, off-peak window, budgets (admin keys of scope * change them)');
  tenants
    .command('list')
    .description('Tenants you can see')
    .option('--limit <n>', 'at most this many')
    .option('--cursor <cursor>', 'the next page, as the previous page said')
    .action(async (opts: { limit?: string; cursor?: string }) => {
      const q = new URLSearchParams(Object.entries(opts).filter((e): e is [string, string] => typeof e[1] === 'string'));
      const response = (await call(global(), 'GET', `/v1/tenants${q.size ? `?${q}` : ''}`)) as { items: TenantView[] };
      printRows<TenantView>(global().json ?? false, response, response.items, [
        { header: 'department', value: (t) => t.department },
        { header: 'namespace', value: (t) => t.namespace },
        { header: 'GPUs', value: (t) => t.quota.requests['nvidia.com/gpu'] },
        { header: 'off-peak', value: (t) => (t.offPeak ? `${t.offPeak.start}–${t.offPeak.end} ${t.offPeak.timezone}` : '(configured)') },
        { header: 'at peak', value: (t) => t.gpuPeakPolicy },
        { header: 'spot', value: (t) => t.spotAllowed },
        { header: 'region', value: (t) => t.region },
        { header: 'cluster', value: (t) => t.cluster.state },
      ]);
    });
  tenants
    .command('get <department>')
    .description('One tenant, with the drift between the cluster and what tandem applied')
    .action(async (department: string) => printTenant(global().json ?? false, (await call(global(), 'GET', `/v1/tenants/${id(department)}`)) as TenantDetail));
  tenants
    .command('apply [department]')
    .description('Create or replace a tenant from a file (-f), or apply the stored one again (repairs drift)')
    .option('-f, --file <tenant>', 'tenant spec, YAML or JSON; its `department` field, or the argument, says whose')
    .option('--idempotency-key <key>', 'a retry with the same key replays the first answer')
    .action(async (department: string | undefined, opts: { file?: string; idempotencyKey?: string }) => {
      const headers: Record<string, string> = opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {};
      if (!opts.file) {
        if (!department) throw new CliError('name the department to apply again, or pass -f <tenant file>', exitCodes.usage);
        return printTenant(global().json ?? false, (await call(global(), 'POST', `/v1/tenants/${id(department)}/apply`, undefined, headers)) as TenantDetail);
      }
      const { department: inFile, ...spec } = tenantFile(opts.file);
      const whose = department ?? (typeof inFile === 'string' ? inFile : undefined);
      if (!whose) throw new CliError(`${opts.file} has no department field: name the department as the argument`, exitCodes.usage);
      if (department && typeof inFile === 'string' && inFile !== department) {
        throw new CliError(`${opts.file} is the tenant of ${inFile}, not ${department}`, exitCodes.usage);
      }
      printTenant(global().json ?? false, (await call(global(), 'PUT', `/v1/tenants/${id(whose)}`, { json: spec }, headers)) as TenantDetail);
    });
  tenants
    .command('delete <department>')
    .description('Delete a tenant, and its namespace with every Job and Pod in it')
    .action(async (department: string) => {
      await call(global(), 'DELETE', `/v1/tenants/${id(department)}`);
      if (global().json) printRecord(true, { department, deleted: true });
      else console.log(`deleted tenant ${department}`);
    });
}
