import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors.ts';
import type { AirflowClient, AirflowDag } from '../airflow/client.ts';
import { AirflowNotFoundError } from '../airflow/errors.ts';
import { DeployTimeoutError, deployDag, undeployDag } from './deployer.ts';

/**
 * A fake Airflow whose dag-processor parses the file on every reparse request (or, when it has
 * never seen the file, on the n-th poll, like a folder scan): a file containing BROKEN becomes an
 * import error, anything else the DAG.
 */
function fakeAirflow(folder: string, options: { scanAfterPolls?: number; neverParse?: boolean } = {}) {
  let dag: AirflowDag | undefined;
  let storedSource: string | null = null;
  const importErrors: { filename: string; timestamp: string; stack_trace: string }[] = [];
  const calls: string[] = [];
  let polls = 0;
  const parse = () => {
    if (options.neverParse) return;
    const file = path.join(folder, 'tandem__p.py');
    const now = new Date(Date.now() + 1).toISOString();
    if (!existsSync(file)) {
      if (dag) dag = { ...dag, is_stale: true };
      return;
    }
    if (readFileSync(file, 'utf8').includes('BROKEN')) {
      importErrors.push({ filename: 'tandem__p.py', timestamp: now, stack_trace: 'SyntaxError: BROKEN on line 1' });
      if (dag) dag = { ...dag, is_stale: true };
      return;
    }
    importErrors.length = 0;
    storedSource = readFileSync(file, 'utf8');
    dag = { ...(dag ?? ({ dag_id: 'tandem__p', is_paused: true, file_token: 'tok' } as AirflowDag)), is_stale: false, last_parsed_time: now };
  };
  const client = {
    async getDag(dagId: string) {
      calls.push('getDag');
      if (!dag && ++polls >= (options.scanAfterPolls ?? 1)) parse();
      if (!dag) throw new AirflowNotFoundError({ status: 404, detail: 'not found', method: 'GET', path: `/dags/${dagId}` });
      return dag;
    },
    async listImportErrors() {
      return { import_errors: importErrors.map((e, i) => ({ ...e, import_error_id: i, bundle_name: 'dags-folder' })), total_entries: importErrors.length };
    },
    async getDagSource(dagId: string) {
      return { dag_id: dagId, content: storedSource, version_number: 1 };
    },
    async reparseDagFile() {
      calls.push('reparse');
      parse();
    },
    async unpauseDag() {
      calls.push('unpause');
      dag = { ...dag!, is_paused: false };
      return dag;
    },
    async pauseDag() {
      calls.push('pause');
      if (!dag) throw new AirflowNotFoundError({ status: 404, detail: 'not found', method: 'PATCH', path: '/dags/x' });
      dag = { ...dag, is_paused: true };
      return dag;
    },
  };
  return { client: client as unknown as AirflowClient, calls, state: () => dag };
}

const generated = (source: string) => ({ dagId: 'tandem__p', fileName: 'tandem__p.py', source, specHash: 'h' });

let folder: string;
beforeEach(() => {
  folder = mkdtempSync(path.join(tmpdir(), 'tandem-deploy-'));
});
afterEach(() => rmSync(folder, { recursive: true, force: true }));

describe('deployDag', () => {
  it('writes the file without leaving temp files, waits for the parse and unpauses', async () => {
    const airflow = fakeAirflow(folder, { scanAfterPolls: 3 });
    const result = await deployDag(airflow.client, folder, generated('v1'), { pollMs: 1 });
    expect(readFileSync(path.join(folder, 'tandem__p.py'), 'utf8')).toBe('v1');
    expect(readdirSync(folder)).toEqual(['tandem__p.py']);
    expect(result).toMatchObject({ dagId: 'tandem__p', unchanged: false, dag: { is_paused: false } });
    expect(airflow.calls).toContain('unpause');
  });

  it('an update is reparsed at once; the same bytes again are "unchanged"', async () => {
    const airflow = fakeAirflow(folder);
    await deployDag(airflow.client, folder, generated('v1'), { pollMs: 1 });
    airflow.calls.length = 0;
    await deployDag(airflow.client, folder, generated('v2'), { pollMs: 1 });
    expect(airflow.calls).toContain('reparse');
    expect((await deployDag(airflow.client, folder, generated('v2'), { pollMs: 1 })).unchanged).toBe(true);
  });

  it('a rejected file returns the import error and puts the previous version back, parsed', async () => {
    const airflow = fakeAirflow(folder);
    await deployDag(airflow.client, folder, generated('v1'), { pollMs: 1 });
    const err = await deployDag(airflow.client, folder, generated('BROKEN v2'), { pollMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).status).toBe(422);
    expect((err as ValidationError).message).toContain('the previous version keeps running');
    expect((err as ValidationError).errors[0]).toEqual({ path: 'tandem__p.py', message: 'SyntaxError: BROKEN on line 1' });
    expect(readFileSync(path.join(folder, 'tandem__p.py'), 'utf8')).toBe('v1');
    expect(airflow.state()).toMatchObject({ is_stale: false });
  });

  it('a rejected first version leaves no file behind', async () => {
    const airflow = fakeAirflow(folder);
    await expect(deployDag(airflow.client, folder, generated('BROKEN'), { pollMs: 1 })).rejects.toThrow(/nothing was deployed/);
    expect(existsSync(path.join(folder, 'tandem__p.py'))).toBe(false);
  });

  it('times out with a clear error when Airflow never parses the file', async () => {
    writeFileSync(path.join(folder, 'tandem__p.py'), 'v1');
    const airflow = fakeAirflow(folder, { neverParse: true });
    const err = await deployDag(airflow.client, folder, generated('v2'), { pollMs: 1, timeoutMs: 30 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployTimeoutError);
    expect((err as Error).message).toMatch(/did not parse tandem__p\.py within .* is the dag-processor running/);
    expect(readFileSync(path.join(folder, 'tandem__p.py'), 'utf8')).toBe('v1');
  });
});

describe('undeployDag', () => {
  it('pauses the DAG and removes the file; a DAG Airflow never knew is fine', async () => {
    const airflow = fakeAirflow(folder);
    await deployDag(airflow.client, folder, generated('v1'), { pollMs: 1 });
    await undeployDag(airflow.client, folder, 'tandem__p', 'tandem__p.py');
    expect(existsSync(path.join(folder, 'tandem__p.py'))).toBe(false);
    expect(airflow.state()).toMatchObject({ is_paused: true });
    await expect(undeployDag(fakeAirflow(folder).client, folder, 'tandem__p', 'tandem__p.py')).resolves.toBeUndefined();
  });
});
