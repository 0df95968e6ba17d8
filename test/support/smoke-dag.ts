/**
 * A smoke test of a running Airflow through the same path real pipelines take: a DAG file is
 * written into the DAGs folder, Airflow finds and parses it, we unpause and trigger it through the
 * REST API and wait for the run to succeed. Used by the integration tier and by `npm start`
 * diagnostics; a failure says which step failed and shows the failing task's log.
 */
import { statSync } from 'node:fs';
import { writeDagFileAtomic } from '../../services/pipelines/deployer.ts';
import { AirflowConflictError, AirflowNotFoundError } from '../../services/airflow/errors.ts';
import type { AirflowClient, AirflowDag, AirflowDagRun } from '../../services/airflow/client.ts';
import { formatTaskLog } from '../../services/airflow/task-log.ts';

export const SMOKE_DAG_ID = 'tandem_smoke';
const DAG_ID_PATTERN = /^[A-Za-z0-9_.-]{1,200}$/;

export class SmokeDagError extends Error {
  override name = 'SmokeDagError';
}

export interface SmokeDagFile {
  dagId: string;
  file: string;
  /** File name relative to the DAGs folder, as Airflow reports it in import errors. */
  relativePath: string;
}

/**
 * Writes `<dagsFolder>/<dagId>.py`: one BashOperator that echoes `message`. The message reaches
 * the shell as an environment variable and Python as a JSON string literal, so no input can
 * change the code.
 */
export function writeSmokeDag(
  dagsFolder: string,
  options: { dagId?: string; message?: string } = {},
): SmokeDagFile {
  const dagId = options.dagId ?? SMOKE_DAG_ID;
  if (!DAG_ID_PATTERN.test(dagId)) {
    throw new SmokeDagError(`invalid DAG id ${JSON.stringify(dagId)}: use letters, digits, '_', '.', '-'`);
  }
  const message = options.message ?? `hello from ${dagId}`;
  const source = `# Written by tandem (test/support/smoke-dag.ts): proves this Airflow parses and runs DAGs.
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

DAG_ID = ${JSON.stringify(dagId)}
MESSAGE = ${JSON.stringify(message)}

with DAG(dag_id=DAG_ID, schedule=None, catchup=False, tags=["tandem-smoke"]):
    BashOperator(
        task_id="echo",
        bash_command='echo "tandem smoke: $TANDEM_SMOKE_MESSAGE"',
        env={"TANDEM_SMOKE_MESSAGE": MESSAGE},
        append_env=True,
    )
`;
  const relativePath = `${dagId}.py`;
  // The deployer's atomic write: the dag-processor never sees half a file.
  const file = writeDagFileAtomic(dagsFolder, relativePath, source);
  return { dagId, file, relativePath };
}

export interface SmokeRunOptions {
  /** Whole smoke run budget. Default 180 s. */
  timeoutMs?: number;
  /** Poll interval. Default 1 s. */
  pollMs?: number;
  /** Progress lines, e.g. `console.log`. */
  progress?: (line: string) => void;
}

export interface SmokeRunResult {
  dagId: string;
  dagRunId: string;
  /** Milliseconds from the start of `runSmokeDag` to the DAG being parsed, and to run success. */
  parsedAfterMs: number;
  succeededAfterMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits for the DAG written by `writeSmokeDag` to be parsed (reporting its import error if it has
 * one, and asking for a reparse when Airflow knows an older parse of the file), unpauses it,
 * triggers one run and waits for it to succeed.
 */
export async function runSmokeDag(
  client: AirflowClient,
  dag: SmokeDagFile,
  options: SmokeRunOptions = {},
): Promise<SmokeRunResult> {
  const t0 = Date.now();
  const deadline = t0 + (options.timeoutMs ?? 180_000);
  const pollMs = options.pollMs ?? 1_000;
  const progress = options.progress ?? (() => {});
  const timeLeft = () => deadline - Date.now();

  // 1. Parsed: the DAG exists with a parse at least as new as the file.
  const fileMtime = statSync(dag.file).mtimeMs;
  let reparseRequested = false;
  let parsed: AirflowDag | undefined;
  while (!parsed) {
    let current: AirflowDag | undefined;
    try {
      current = await client.getDag(dag.dagId);
    } catch (err) {
      if (!(err instanceof AirflowNotFoundError)) throw err;
    }
    const parsedAt = current?.last_parsed_time ? Date.parse(current.last_parsed_time) : 0;
    if (current && !current.is_stale && parsedAt >= fileMtime) {
      parsed = current;
      break;
    }
    const importError = (await client.listImportErrors({ filename: dag.relativePath, limit: 1 })).import_errors[0];
    if (importError && Date.parse(importError.timestamp) >= fileMtime) {
      throw new SmokeDagError(`Airflow could not import ${dag.relativePath}:\n${importError.stack_trace}`);
    }
    if (current && !reparseRequested) {
      // Known from an earlier version of the file: ask for a parse now instead of waiting a cycle.
      await client.reparseDagFile(current.file_token);
      reparseRequested = true;
      progress(`requested a reparse of ${dag.relativePath}`);
    }
    if (timeLeft() <= 0) {
      throw new SmokeDagError(
        `DAG ${dag.dagId} not parsed within ${elapsed(t0)} s (${current ? 'only an older parse is known' : 'Airflow does not know it'}); ` +
          `is the dag-processor running and watching the folder of ${dag.file}?`,
      );
    }
    await sleep(pollMs);
  }
  const parsedAfterMs = Date.now() - t0;
  progress(`DAG ${dag.dagId} parsed after ${elapsed(t0)} s`);

  // 2. Unpause and trigger. The fixed run id makes the trigger safe to retry (a replay is a 409).
  if (parsed.is_paused) await client.unpauseDag(dag.dagId);
  const dagRunId = `smoke__${new Date().toISOString().replace(/[^0-9A-Za-z]/g, '')}`;
  await client.triggerDagRun(dag.dagId, { dag_run_id: dagRunId, conf: {} }, { idempotent: true }).catch(async (err: unknown) => {
    // A retried trigger that already went through: the run exists, carry on with it.
    if (err instanceof AirflowConflictError) return client.getDagRun(dag.dagId, dagRunId);
    throw err;
  });
  progress(`triggered run ${dagRunId}`);

  // 3. Poll until the run finishes.
  let run: AirflowDagRun = await client.getDagRun(dag.dagId, dagRunId);
  while (run.state === 'queued' || run.state === 'running') {
    if (timeLeft() <= 0) {
      throw new SmokeDagError(
        `run ${dagRunId} of ${dag.dagId} still ${run.state} after ${elapsed(t0)} s; tasks: ${await taskStates(client, dag.dagId, dagRunId)}`,
      );
    }
    await sleep(pollMs);
    run = await client.getDagRun(dag.dagId, dagRunId);
  }
  if (run.state !== 'success') {
    throw new SmokeDagError(
      `run ${dagRunId} of ${dag.dagId} ${run.state}; tasks: ${await taskStates(client, dag.dagId, dagRunId)}\n` +
        (await failedTaskLogs(client, dag.dagId, dagRunId)),
    );
  }
  progress(`run ${dagRunId} succeeded after ${elapsed(t0)} s`);
  return { dagId: dag.dagId, dagRunId, parsedAfterMs, succeededAfterMs: Date.now() - t0 };
}

function elapsed(t0: number): string {
  return ((Date.now() - t0) / 1000).toFixed(1);
}

async function taskStates(client: AirflowClient, dagId: string, dagRunId: string): Promise<string> {
  const { task_instances } = await client.listTaskInstances(dagId, dagRunId);
  return task_instances.map((ti) => `${ti.task_id}=${ti.state ?? 'none'}`).join(', ') || '(none yet)';
}

/** The last lines of each failed task's latest try, so the error shows why without opening the UI. */
async function failedTaskLogs(client: AirflowClient, dagId: string, dagRunId: string, maxLines = 40): Promise<string> {
  const { task_instances } = await client.listTaskInstances(dagId, dagRunId, {
    state: ['failed', 'upstream_failed', 'up_for_retry'],
  });
  const parts: string[] = [];
  for (const ti of task_instances) {
    if (ti.try_number < 1) continue;
    try {
      const log = await client.getTaskLog(dagId, dagRunId, ti.task_id, ti.try_number, { mapIndex: ti.map_index });
      const lines = formatTaskLog(log).split('\n');
      parts.push(`--- ${ti.task_id} try ${ti.try_number} (last ${Math.min(maxLines, lines.length)} lines)\n${lines.slice(-maxLines).join('\n')}`);
    } catch (err) {
      parts.push(`--- ${ti.task_id} try ${ti.try_number}: log unavailable (${(err as Error).message})`);
    }
  }
  return parts.join('\n');
}
