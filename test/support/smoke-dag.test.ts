import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SmokeDagError, writeSmokeDag } from './smoke-dag.ts';

let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'tandem-smoke-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writeSmokeDag', () => {
  it('writes one airflow.sdk DAG file and nothing else', () => {
    const dag = writeSmokeDag(dir);
    expect(dag).toEqual({ dagId: 'tandem_smoke', file: path.join(dir, 'tandem_smoke.py'), relativePath: 'tandem_smoke.py' });
    expect(readdirSync(dir)).toEqual(['tandem_smoke.py']);
    const source = readFileSync(dag.file, 'utf8');
    expect(source).toContain('from airflow.sdk import DAG');
    expect(source).toContain('DAG_ID = "tandem_smoke"');
  });

  it('keeps the message a string constant, whatever it contains', () => {
    const message = 'x"""\nimport os; os.system("rm -rf /")  # $(reboot) `id`';
    const source = readFileSync(writeSmokeDag(dir, { message }).file, 'utf8');
    expect(source).toContain(`MESSAGE = ${JSON.stringify(message)}\n`);
    expect(source.split('\n').filter((line) => line.includes('os.system'))).toHaveLength(1);
  });

  it('rejects a DAG id that is not a plain identifier', () => {
    expect(() => writeSmokeDag(dir, { dagId: 'a"; import os' })).toThrow(SmokeDagError);
    expect(() => writeSmokeDag(dir, { dagId: '../escape' })).toThrow(SmokeDagError);
  });
});
