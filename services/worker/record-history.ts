/**
 * Records the event history of a workflow from a running Temporal into
 * workflows/histories/<family>/<workflow id>.json, where workflows/replay.test.ts replays it
 * against the current workflow code: a change that breaks determinism for executions already in
 * flight then fails CI instead of production.
 *
 *   node services/worker/record-history.ts <workflowId> [--family <name>] [--run-id <id>] [--name <file>] [--region <name>]
 *
 * The file is the standard JSON form of a History (the same as `temporal workflow show -o json`).
 * The family defaults to the one whose registered type (shared/contracts/workflow-types.ts)
 * names the workflow's function. Record completed executions: they cover every step.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { loadConfig, repoRoot } from '../../shared/config.ts';
import { workflowTypes } from '../../shared/contracts/workflow-types.ts';
import { clientDataConverter, decryptPayloadsDeep, payloadCodecFor } from '../../shared/payload-codec.ts';
import { localRegion, temporalRegions } from '../../shared/regions.ts';
import { connectTemporal, describeTemporalError } from '../../shared/temporal-connection.ts';
import { historyToJsonValue } from './history-json.ts';

export const historiesDir = path.join(repoRoot, 'workflows', 'histories');

/** `smoke.echo` → `smoke`: the family is the part of the public type name before the dot. */
export function familyOfWorkflow(workflowName: string): string | undefined {
  const entry = Object.entries(workflowTypes).find(([, def]) => def.workflowName === workflowName);
  return entry?.[0].split('.')[0];
}

/** File names are workflow ids made safe for every file system. */
export function historyFileName(workflowId: string): string {
  return `${workflowId.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`;
}

export interface RecordOptions {
  workflowId: string;
  runId?: string;
  family?: string;
  name?: string;
  overwrite?: boolean;
  /** The data-residency region whose namespace holds the workflow (default `local`). */
  region?: string;
}

export async function recordHistory(options: RecordOptions): Promise<{ file: string; events: number; status: string }> {
  const config = loadConfig();
  const regions = temporalRegions(config);
  const region = regions.find((r) => r.name === (options.region ?? localRegion));
  if (!region) throw new Error(`no region ${options.region} is configured (regions: ${regions.map((r) => r.name).join(', ')}); see TANDEM_REGIONS`);
  const codec = payloadCodecFor(config);
  const client = await connectTemporal(config, { dataConverter: clientDataConverter(codec), region });
  try {
    const handle = client.workflow.getHandle(options.workflowId, options.runId);
    const description = await handle.describe();
    const family = options.family ?? familyOfWorkflow(description.type);
    if (!family) {
      throw new Error(`workflow type ${description.type} is not in the registry; pass --family`);
    }
    const dir = path.join(historiesDir, family);
    const file = path.join(dir, options.name ? `${options.name.replace(/\.json$/, '')}.json` : historyFileName(options.workflowId));
    if (existsSync(file) && !options.overwrite) {
      throw new Error(`${path.relative(repoRoot, file)} exists; pass --overwrite to replace it`);
    }
    // Stored decrypted: the replay tests have no keys (and recorded executions hold test data).
    const history = await decryptPayloadsDeep(await handle.fetchHistory(), codec);
    await mkdir(dir, { recursive: true });
    // Pretty-printed so a recorded history reviews like any other fixture.
    await writeFile(file, `${JSON.stringify(historyToJsonValue(history), null, 2)}\n`);
    return { file, events: history.events?.length ?? 0, status: description.status.name };
  } finally {
    await client.connection.close();
  }
}

if (import.meta.main) {
  const program = new Command('record-history')
    .description('Record a workflow history from the configured Temporal into workflows/histories/<family>/ for replay tests.')
    .argument('<workflowId>', 'id of the workflow execution to record')
    .option('--run-id <id>', 'a specific run (default: the latest)')
    .option('--family <name>', 'folder under workflows/histories (default: from the workflow type)')
    .option('--name <file>', 'file name without .json (default: the workflow id)')
    .option('--overwrite', 'replace an existing recording')
    .option('--region <name>', 'the data-residency region whose namespace holds it (default: local)')
    .parse();
  const [workflowId] = program.args as [string];
  const opts = program.opts<{ runId?: string; family?: string; name?: string; overwrite?: boolean; region?: string }>();
  try {
    const { file, events, status } = await recordHistory({ workflowId, ...opts });
    console.log(`recorded ${events} events of ${workflowId} (${status}) into ${path.relative(process.cwd(), file)}`);
    if (status === 'RUNNING') console.warn('note: the execution is still running; its recording covers only the steps so far');
  } catch (err) {
    console.error(`record-history: error: ${describeTemporalError(err)}`);
    process.exit(1);
  }
}
