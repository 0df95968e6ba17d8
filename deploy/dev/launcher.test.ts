// `npm start` with bad input: one clear line naming the problem and the fix, a non-zero exit,
// and nothing in the state dir destroyed. Each case fails before any engine is started.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { knownVariables, repoRoot } from '../../shared/config.ts';
import { freeConsecutivePorts, freePorts } from './ports.ts';
import { isolatedStackEnv } from '../../test/support/free-ports.ts';

const launcher = path.join(repoRoot, 'deploy/dev/launcher.ts');

/** Environment without the caller's TANDEM_* settings, on free ports, in a fresh state dir. */
async function launch(extra: Record<string, string>, args: string[] = []) {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
  Object.assign(env, await isolatedStackEnv(), extra);
  // SIGKILL on timeout: the launcher stops cleanly on SIGTERM and exits 0, which would read as success.
  const result = spawnSync(process.execPath, [launcher, ...args], { env, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr.trim() };
}

const stateDir = () => mkdtempSync(path.join(os.tmpdir(), 'tandem-launcher-'));

describe('launcher', () => {
  it('--help lists every environment variable and exits 0', async () => {
    const r = await launch({}, ['--help']);
    expect(r.code).toBe(0);
    for (const name of knownVariables) expect(r.stdout).toContain(name);
  });

  it('rejects an invalid port with one line naming the variable (exit 2)', async () => {
    const r = await launch({ TANDEM_STATE_DIR: stateDir(), TANDEM_API_PORT: '99999' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('[tandem] error: invalid configuration: api.port (TANDEM_API_PORT): must be between 1 and 65535');
  });

  it('rejects an unknown config key in config.json without touching the file', async () => {
    const dir = stateDir();
    writeFileSync(path.join(dir, 'config.json'), '{"apii": {}}');
    const r = await launch({ TANDEM_STATE_DIR: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown key\(s\) apii/);
    expect(readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe('{"apii": {}}');
  });

  it('refuses a state dir that is a file', async () => {
    const file = path.join(stateDir(), 'not-a-dir');
    writeFileSync(file, 'x');
    const r = await launch({ TANDEM_STATE_DIR: file });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/state dir .* exists but is not a directory/);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });

  it('reports a corrupt credentials file and leaves it in place', async () => {
    const dir = stateDir();
    writeFileSync(path.join(dir, 'credentials.json'), '{"adminApiKey": 1}');
    const r = await launch({ TANDEM_STATE_DIR: dir });
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toMatch(/credentials file .* is corrupt/);
    expect(readFileSync(path.join(dir, 'credentials.json'), 'utf8')).toBe('{"adminApiKey": 1}');
  });

  it('names a port that is already in use and the setting to change', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await launch({ TANDEM_STATE_DIR: stateDir(), TANDEM_API_PORT: String(port) });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`api: port 127.0.0.1:${port} is already in use.*choose another port`));
    } finally {
      blocker.close();
    }
  });

  it('--profile cluster with a database URL nobody answers: one line naming the server and the fix, nothing written for Temporal', async () => {
    const [dead] = await freePorts('127.0.0.1', 1);
    const dir = stateDir();
    const r = await launch(
      {
        TANDEM_STATE_DIR: dir,
        TANDEM_DATABASE_URL: `postgres://tandem:pw@127.0.0.1:${dead}/tandem`,
        TANDEM_TEMPORAL_CLUSTER_PORT_BASE: String(await freeConsecutivePorts('127.0.0.1', 7, [dead!])),
      },
      ['--profile', 'cluster'],
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`[tandem] error: cannot reach PostgreSQL at 127.0.0.1:${dead}/postgres (ECONNREFUSED); start it, or fix TANDEM_DATABASE_URL`);
    expect(existsSync(path.join(dir, 'temporal-cluster', 'config.yaml'))).toBe(false);
  });

  it('refuses a region with no endpoint in one line (exit 2), writing nothing', async () => {
    const dir = stateDir();
    const r = await launch({ TANDEM_STATE_DIR: dir, TANDEM_REGIONS: 'eu=' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('[tandem] error: invalid configuration: temporal.regions (TANDEM_REGIONS): region eu has no Temporal endpoint; write it as eu=host:port/namespace');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails fast when a region’s external Temporal is down, naming the region’s setting', async () => {
    const [dead] = await freePorts('127.0.0.1', 1);
    const r = await launch({ TANDEM_STATE_DIR: stateDir(), TANDEM_REGIONS: `eu=127.0.0.1:${dead}/tandem-eu` });
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`Temporal at 127.0.0.1:${dead} is not reachable .*; start it or fix region eu in TANDEM_REGIONS$`));
  });

  it('fails fast when an external Temporal or Airflow is down', async () => {
    const [dead] = await freePorts('127.0.0.1', 1);
    const temporal = await launch({ TANDEM_STATE_DIR: stateDir(), TANDEM_TEMPORAL_EMBEDDED: 'false', TANDEM_TEMPORAL_ADDRESS: `127.0.0.1:${dead}` });
    expect(temporal.code).toBe(1);
    expect(temporal.stderr).toMatch(new RegExp(`Temporal at 127.0.0.1:${dead} is not reachable .*TANDEM_TEMPORAL_ADDRESS`));
    // External Airflow is probed while preparing, before the embedded Temporal is started.
    const airflow = await launch({ TANDEM_STATE_DIR: stateDir(), TANDEM_AIRFLOW_EMBEDDED: 'false', TANDEM_AIRFLOW_URL: `http://127.0.0.1:${dead}` });
    expect(airflow.code).toBe(1);
    expect(airflow.stderr).toMatch(new RegExp(`Airflow at http://127.0.0.1:${dead} is not reachable .*TANDEM_AIRFLOW_URL`));
  });
});
