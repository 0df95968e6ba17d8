/**
 * Deploys a generated DAG file to Airflow: write it atomically into the DAGs folder, ask Airflow to
 * parse it now (when Airflow already knows the file), wait until Airflow has parsed *this* version
 * — or reported an import error for it — and unpause the DAG.
 *
 * A version Airflow rejects never replaces a working one: the previous file is written back (and
 * reparsed), so the previous version keeps running, and the import error goes back to the caller.
 * A pipeline that had no previous version has its file removed. "This version" is told apart from
 * older parses by time: a parse (or import error) stamped after the file was written.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TandemError, ValidationError } from '../../shared/errors.ts';
import type { AirflowClient, AirflowDag } from '../airflow/client.ts';
import { AirflowNotFoundError } from '../airflow/errors.ts';
import type { GeneratedDag } from './dag-generator.ts';

/** Airflow did not parse the file in time; the previous version (if any) was put back. */
export class DeployTimeoutError extends TandemError {
  override name = 'DeployTimeoutError';
  constructor(detail: string) {
    super(detail, { status: 504, slug: 'deploy-timeout', title: 'Airflow did not pick up the DAG in time' });
  }
}

export interface DeployOptions {
  /** Budget from writing the file to a parse. Default 90 s (a new file waits for a folder scan). */
  timeoutMs?: number;
  pollMs?: number;
  /** Leave the DAG paused (a pipeline the user paused stays paused across a redeploy). */
  paused?: boolean;
  progress?: (line: string) => void;
}

export interface DeployResult {
  dagId: string;
  fileName: string;
  specHash: string;
  /** The file's bytes were already there: nothing was rewritten. */
  unchanged: boolean;
  dag: AirflowDag;
  parsedAfterMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Temp name not ending in .py (the dag-processor ignores it), then rename: never half a file. */
export function writeDagFileAtomic(dagsFolder: string, fileName: string, source: string): string {
  mkdirSync(dagsFolder, { recursive: true });
  const file = path.join(dagsFolder, fileName);
  const tmp = path.join(dagsFolder, `.${fileName}.${process.pid}.${Date.now()}.tmp`);
  writeFileSync(tmp, source);
  renameSync(tmp, file);
  return file;
}

async function findDag(client: AirflowClient, dagId: string): Promise<AirflowDag | undefined> {
  try {
    return await client.getDag(dagId);
  } catch (err) {
    if (err instanceof AirflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * An import error for `fileName` stamped at or after `since`, if Airflow has one — other than one
 * stamped at or before `seenAt`: the error already reported for the rejected file stays listed
 * until the restored file is parsed, and can carry the same millisecond as the restore.
 */
async function importErrorSince(client: AirflowClient, fileName: string, since: number, seenAt?: number): Promise<{ stackTrace: string; at: number } | undefined> {
  const { import_errors } = await client.listImportErrors({ filename: fileName, limit: 5 });
  const fresh = import_errors
    .map((e) => ({ stackTrace: e.stack_trace, at: Date.parse(e.timestamp) }))
    .find((e) => e.at >= since && (seenAt === undefined || e.at > seenAt));
  return fresh;
}

type ParseOutcome =
  | { kind: 'parsed'; dag: AirflowDag }
  | { kind: 'rejected'; importError: string; at: number }
  | { kind: 'timeout'; known: boolean };

/**
 * Polls until Airflow has parsed the file as written at `since` — or reported an import error
 * stamped at or after it — and asks for a reparse as soon as Airflow knows the DAG (a file it never
 * saw is found by the folder scan).
 *
 * A parse stamped after `since` proves little on its own: a parse of the old file that was already
 * running when we renamed the new one in is stamped after it too. So a parse counts when Airflow
 * stores exactly `source` for the DAG, or else when it came from the second of two reparses we
 * requested, each after seeing the previous parse finish (Airflow keeps the old text when a change
 * leaves the serialized DAG as it was, e.g. new stage kwargs, so the text alone cannot always decide).
 */
async function awaitParse(
  client: AirflowClient,
  generated: Pick<GeneratedDag, 'dagId' | 'fileName'>,
  source: string,
  since: number,
  deadline: number,
  pollMs: number,
  progress: (line: string) => void,
  seenErrorAt?: number,
): Promise<ParseOutcome> {
  let reparseRequested = false;
  // Two confirming parses, not one: under load a parse of the old file that began before the write
  // can end after the first request (seen in CI: a broken spec reported deployed). The second
  // request comes after that stale parse ended, so a parse stamped after it read the new file.
  const confirmingReparses = 2;
  let confirmations = 0;
  /** When the last confirming reparse was asked for; a parse counts only once stamped after it. */
  let confirmAfter = 0;
  for (;;) {
    const importError = await importErrorSince(client, generated.fileName, since, seenErrorAt);
    if (importError !== undefined) return { kind: 'rejected', importError: importError.stackTrace, at: importError.at };
    const current = await findDag(client, generated.dagId);
    const parsedAt = current?.last_parsed_time ? Date.parse(current.last_parsed_time) : 0;
    if (current && !current.is_stale && parsedAt >= since) {
      // Otherwise still waiting for the parse the last confirming request asked for.
      if (confirmations === 0 || parsedAt > confirmAfter) {
        if (confirmations === 0) {
          const stored = await client.getDagSource(generated.dagId).catch(() => undefined);
          if (stored?.content === source) return { kind: 'parsed', dag: current };
        } else if (confirmations === confirmingReparses) {
          return { kind: 'parsed', dag: current };
        }
        confirmAfter = Date.now();
        confirmations += 1;
        await client.reparseDagFile(current.file_token);
        progress(`requested a confirming reparse of ${generated.fileName} (${confirmations} of ${confirmingReparses})`);
      }
    } else if (current && !reparseRequested) {
      await client.reparseDagFile(current.file_token);
      reparseRequested = true;
      progress(`requested a reparse of ${generated.fileName}`);
    }
    if (Date.now() > deadline) return { kind: 'timeout', known: current !== undefined };
    await sleep(pollMs);
  }
}

/** Whole milliseconds down, so a parse stamped in the same millisecond still counts. */
const mtimeOf = (file: string) => Math.floor(statSync(file).mtimeMs);

export async function deployDag(
  client: AirflowClient,
  dagsFolder: string,
  generated: GeneratedDag,
  options: DeployOptions = {},
): Promise<DeployResult> {
  const t0 = Date.now();
  const timeoutMs = options.timeoutMs ?? 90_000;
  const pollMs = options.pollMs ?? 500;
  const progress = options.progress ?? (() => {});
  const file = path.join(dagsFolder, generated.fileName);
  const previous = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  const unchanged = previous === generated.source;
  if (!unchanged) writeDagFileAtomic(dagsFolder, generated.fileName, generated.source);
  const outcome = await awaitParse(client, generated, generated.source, mtimeOf(file), t0 + timeoutMs, pollMs, progress);

  if (outcome.kind !== 'parsed') {
    // Put the previous version back and wait until Airflow runs it again, so that when the caller
    // hears "rejected" the previous version is what Airflow has (a broken parse unloads the DAG).
    let restored: string;
    if (!unchanged && previous === undefined) {
      rmSync(file, { force: true });
      restored = 'nothing was deployed';
    } else if (!unchanged && previous !== undefined) {
      writeDagFileAtomic(dagsFolder, generated.fileName, previous);
      const seenErrorAt = outcome.kind === 'rejected' ? outcome.at : undefined;
      const back = await awaitParse(client, generated, previous, mtimeOf(file), Date.now() + timeoutMs, pollMs, progress, seenErrorAt);
      restored =
        back.kind === 'parsed'
          ? 'the previous version keeps running'
          : `the previous file was put back but Airflow has not parsed it yet (${back.kind === 'rejected' ? 'it reports an import error' : 'timed out'})`;
    } else {
      restored = 'the file was already deployed as it is';
    }
    if (outcome.kind === 'rejected') {
      throw new ValidationError(`Airflow rejected the generated DAG file ${generated.fileName}; ${restored}`, [
        { path: generated.fileName, message: outcome.importError },
      ]);
    }
    throw new DeployTimeoutError(
      `Airflow did not parse ${generated.fileName} within ${Math.round(timeoutMs / 1000)} s ` +
        `(${outcome.known ? 'only an older parse is known' : 'the DAG is unknown to Airflow'}); is the dag-processor running and ` +
        `watching ${dagsFolder}? ${restored}`,
    );
  }
  let dag = outcome.dag;
  progress(`DAG ${generated.dagId} parsed after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  if (!options.paused && dag.is_paused) dag = await client.unpauseDag(generated.dagId);
  if (options.paused && !dag.is_paused) dag = await client.pauseDag(generated.dagId);
  return {
    dagId: generated.dagId,
    fileName: generated.fileName,
    specHash: generated.specHash,
    unchanged,
    dag,
    parsedAfterMs: Date.now() - t0,
  };
}

/**
 * Removes a pipeline's DAG: pause it (no new runs), then delete the file. Airflow marks the DAG
 * stale but keeps its runs and task logs; the metadata is deliberately not deleted.
 */
export async function undeployDag(client: AirflowClient, dagsFolder: string, dagId: string, fileName: string): Promise<void> {
  try {
    await client.pauseDag(dagId);
  } catch (err) {
    if (!(err instanceof AirflowNotFoundError)) throw err;
  }
  rmSync(path.join(dagsFolder, fileName), { force: true });
}
