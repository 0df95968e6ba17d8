// `tandem tenants …` as a user runs it: the CLI in its own process against the API listening on
// loopback, over a real store and an in-memory cluster, tables for people and --json for scripts.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../shared/config.ts';
import { appFixture, regionWithoutTemporal, type AppFixture } from '../../test/support/app-fixture.ts';
import { FakeTenantCluster } from '../../test/support/fake-tenant-cluster.ts';

const exec = promisify(execFile);
let f: AppFixture;
let url: string;
const cluster = new FakeTenantCluster();
const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-cli-tenants-'));

beforeAll(async () => {
  f = await appFixture({ tenantCluster: cluster, regions: [regionWithoutTemporal('eu-west')] });
  url = await f.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => f?.close());

async function tandem(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [path.join(repoRoot, 'bin/tandem.ts'), ...args], {
      env: { ...process.env, TANDEM_API_URL: url, TANDEM_API_KEY: f.keys.admin },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('tandem tenants', () => {
  it('applies a tenant from a YAML file, lists and shows it, reports drift and takes it back, deletes it', async () => {
    const file = path.join(dir, 'radiology.yaml');
    writeFileSync(
      file,
      ['department: radiology', 'quota:', '  requests:', '    nvidia.com/gpu: 4', 'offPeak: {start: "22:00", end: "06:00", timezone: Europe/Paris}', 'gpuPeakPolicy: refuse', 'region: eu-west', ''].join('\n'),
    );
    const applied = await tandem('--json', 'tenants', 'apply', '-f', file);
    expect(applied.code, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ department: 'radiology', gpuPeakPolicy: 'refuse', cluster: { state: 'applied' }, drift: [] });

    const listed = await tandem('tenants', 'list');
    expect(listed.stdout).toMatch(/radiology .*│ 4 .*22:00–06:00 Europe\/Paris .*refuse/);

    cluster.edit('tandem-radiology', (live) => {
      live.resourceQuota!.spec!.hard!['requests.nvidia.com/gpu'] = '12';
    });
    const shown = await tandem('tenants', 'get', 'radiology');
    expect(shown.stdout).toContain('drift: 1 field(s) differ from what tandem applied; `tandem tenants apply radiology` takes them back');
    expect(shown.stdout).toMatch(/ResourceQuota\/tandem .*spec\.hard\["requests\.nvidia\.com\/gpu"\] .*│ 4 .*│ 12/);

    expect((await tandem('tenants', 'apply', 'radiology')).stdout).toContain('drift: none');
    expect(cluster.namespaces.get('tandem-radiology')!.resourceQuota!.spec!.hard!['requests.nvidia.com/gpu']).toBe('4');

    expect((await tandem('tenants', 'delete', 'radiology')).stdout).toContain('deleted tenant radiology');
    const gone = await tandem('tenants', 'get', 'radiology');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/404 Not found: no tenant for department radiology/);
  });

  it('says what is wrong with a bad tenant file, with its paths, and refuses a file for another department', async () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ department: 'oncology', namespace: 'Bad_Name', gpuPeakPolicy: 'sometimes' }));
    const r = await tandem('tenants', 'apply', '-f', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/422 Request is not valid/);
    expect(r.stderr).toMatch(/body\.namespace: /);
    expect(r.stderr).toMatch(/body\.gpuPeakPolicy: /);
    const mismatch = await tandem('tenants', 'apply', 'cardiology', '-f', bad);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toContain('is the tenant of oncology, not cardiology');
  });
});
