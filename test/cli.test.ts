// The CLI against the real API: tables for people, --json for scripts, and on bad input the
// problem with every path, with the documented exit codes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../shared/config.ts';

const stack = inject('stack');

function tandem(...args: string[]) {
  return run({ TANDEM_API_URL: stack.apiUrl, TANDEM_API_KEY: stack.adminKey }, ...args);
}

function run(env: Record<string, string>, ...args: string[]) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'TANDEM_API_URL' && k !== 'TANDEM_API_KEY'));
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/tandem.ts'), ...args], {
    env: { ...clean, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tandem CLI', () => {
  it('prints the API version', () => {
    const r = tandem('--json', 'version');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'tandem' });
  });

  it('starts a workflow and shows a schema failure with its path', () => {
    const ok = tandem('--json', 'workflows', 'start', '--type', 'smoke.echo', '--input', '{"message":"from the cli"}');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ type: 'smoke.echo', created: true });

    const bad = tandem('workflows', 'start', '--type', 'smoke.echo', '--input', '{"message":""}');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/422 Request is not valid/);
    expect(bad.stderr).toMatch(/input\.message: /);
  });

  it('validates a pipeline spec file, and lists every problem of a bad one with its path', () => {
    const ok = tandem('--json', 'pipelines', 'validate', '-f', path.join(repoRoot, 'examples/kb-refresh/pipeline.yaml'));
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

  it('prints tables for people: the API keys, and flows of a type', () => {
    const r = tandem('keys', 'list');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/│ id\s+│ name\s+│ role\s+│ department/);
    expect(r.stdout).toMatch(/│ admin\s+│ \*\s+│/);
    expect(() => JSON.parse(r.stdout)).toThrow();
    const flows = tandem('workflows', 'list', '--type', 'smoke.echo', '--limit', '5');
    expect(flows.code).toBe(0);
    expect(flows.stdout).toMatch(/workflow id|\(none\)/);
  });

  it('subscribes a receiver, lists it and its (empty) deliveries, and deletes it', () => {
    const created = tandem('--json', 'subscriptions', 'create', '--department', 'cli-dept', '--url', 'http://127.0.0.1:9/hooks', '-e', 'review.decided', 'workflow.failed');
    expect(created.code).toBe(0);
    const subscription = JSON.parse(created.stdout);
    expect(subscription).toMatchObject({ department: 'cli-dept', eventTypes: ['review.decided', 'workflow.failed'], secret: expect.stringMatching(/^whsec_/) });
    const listed = tandem('subscriptions', 'list');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(subscription.id);
    expect(tandem('subscriptions', 'deliveries', subscription.id).stdout).toContain('(none)');
    expect(tandem('subscriptions', 'delete', subscription.id).code).toBe(0);
    expect(tandem('subscriptions', 'deliveries', 'whs_nope').code).toBe(1);
  });

  it('reads URL and key from its config file when the environment has none', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'tandem-cli-')), 'cli.json');
    writeFileSync(file, JSON.stringify({ apiUrl: stack.apiUrl, apiKey: stack.adminKey }), { mode: 0o600 });
    const r = run({ TANDEM_CLI_CONFIG: file }, '--json', 'version');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'tandem' });
  });

  it('exits with the documented codes: 2 for bad usage, 3 when the API cannot be reached', () => {
    expect(tandem('pipelines', 'nosuch').code).toBe(2);
    expect(tandem('workflows', 'start', '--type', 'smoke.echo', '--input', '{not json').code).toBe(2);
    const down = run({ TANDEM_API_URL: 'http://127.0.0.1:9', TANDEM_API_KEY: 'x'.repeat(20) }, 'version');
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('cannot reach the tandem API');
    expect(tandem('--help').code).toBe(0);
    expect(tandem('--help').stdout).toContain('Exit codes:');
  });
});
