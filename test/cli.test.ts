// The CLI against the real API: it prints JSON on success, and on bad input the problem with
// every path, exiting non-zero.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../shared/config.ts';

const stack = inject('stack');

function tandem(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/tandem.ts'), ...args], {
    env: { ...process.env, TANDEM_API_URL: stack.apiUrl, TANDEM_API_KEY: stack.adminKey },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tandem CLI', () => {
  it('prints the API version', () => {
    const r = tandem('version');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'tandem' });
  });

  it('starts a workflow and shows a schema failure with its path', () => {
    const ok = tandem('workflows', 'start', '--type', 'smoke.echo', '--input', '{"message":"from the cli"}');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ type: 'smoke.echo', created: true });

    const bad = tandem('workflows', 'start', '--type', 'smoke.echo', '--input', '{"message":""}');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/422 Request is not valid/);
    expect(bad.stderr).toMatch(/input\.message: /);
  });

  it('validates a pipeline spec file, and lists every problem of a bad one with its path', () => {
    const ok = tandem('pipelines', 'validate', '-f', path.join(repoRoot, 'examples/kb-refresh/pipeline.yaml'));
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ valid: true, dagId: 'tandem__kb-refresh' });

    const bad = path.join(mkdtempSync(path.join(os.tmpdir(), 'tandem-cli-')), 'bad.yaml');
    const example = readFileSync(path.join(repoRoot, 'examples/kb-refresh/pipeline.yaml'), 'utf8');
    writeFileSync(bad, example.replace(/cron: .*/, 'cron: "61 * * * *"'));
    const r = tandem('pipelines', 'validate', '-f', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tandem: 422 Request is not valid/);
    expect(r.stderr).toMatch(/schedule\.cron: /);
  });
});
