import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configSettings, configToEnv, knownVariables, loadConfig, otherVariables } from './config.ts';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'tandem-config-'));

describe('loadConfig', () => {
  it('gives loopback defaults with URLs derived from ports', () => {
    const dir = tmp();
    const c = loadConfig({ env: { TANDEM_STATE_DIR: dir }, cwd: dir });
    expect(c.stateDir).toBe(dir);
    expect(c.host).toBe('127.0.0.1');
    expect(c.api.url).toBe('http://127.0.0.1:8787');
    expect(c.temporal.address).toBe('127.0.0.1:7233');
    expect(c.airflow.url).toBe('http://127.0.0.1:8080');
    expect(c.airflow.dagsFolder).toMatch(/dags\/generated$/);
  });

  it('lets environment variables override the config file', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ api: { port: 9000 }, temporal: { namespace: 'ns' } }));
    const c = loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_API_PORT: '9100', TANDEM_TEMPORAL_TLS: 'false' }, cwd: dir });
    expect(c.api.port).toBe(9100);
    expect(c.api.url).toBe('http://127.0.0.1:9100');
    expect(c.temporal.namespace).toBe('ns');
    expect(c.temporal.tls).toBe(false);
  });

  it('resolves a relative state dir against the working directory', () => {
    const dir = tmp();
    expect(loadConfig({ env: { TANDEM_STATE_DIR: 'state' }, cwd: dir }).stateDir).toBe(path.join(dir, 'state'));
  });

  it('takes a PostgreSQL database URL for the store, and refuses any other kind naming the variable', () => {
    const dir = tmp();
    const url = 'postgres://tandem:pw@db.example:5432/tandem';
    expect(loadConfig({ env: { TANDEM_STATE_DIR: dir }, cwd: dir }).database).toEqual({ port: 5433 });
    expect(loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_DATABASE_URL: url }, cwd: dir }).database.url).toBe(url);
    expect(() => loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_DATABASE_URL: 'mysql://db/tandem' }, cwd: dir })).toThrow(
      /database\.url \(TANDEM_DATABASE_URL\): must be a postgres:\/\/ \(or postgresql:\/\/\) URL/,
    );
  });

  it('rejects an invalid port naming the variable', () => {
    const dir = tmp();
    expect(() => loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_API_PORT: '70000' }, cwd: dir })).toThrow(
      /api\.port \(TANDEM_API_PORT\): must be between 1 and 65535/,
    );
    expect(() => loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_AIRFLOW_PORT: 'eighty' }, cwd: dir })).toThrow(ConfigError);
  });

  it('rejects unknown TANDEM_ variables (typos) and unknown file keys', () => {
    const dir = tmp();
    expect(() => loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_API_PROT: '1' }, cwd: dir })).toThrow(
      /unknown environment variable TANDEM_API_PROT/,
    );
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ api: { prot: 1 } }));
    expect(() => loadConfig({ env: { TANDEM_STATE_DIR: dir }, cwd: dir })).toThrow(/unknown key\(s\) prot/);
  });

  it('reports a corrupt config file without touching it', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'config.json'), '{ nope');
    expect(() => loadConfig({ env: { TANDEM_STATE_DIR: dir }, cwd: dir })).toThrow(/config\.json is not valid JSON/);
  });

  it('requires a long enough admin key', () => {
    const dir = tmp();
    expect(() => loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_ADMIN_KEY: 'short' }, cwd: dir })).toThrow(/adminKey/);
  });

  it('reconciles hand-offs every 10 s by default; takes 6-field cron or off, and names the variable otherwise', () => {
    const dir = tmp();
    const load = (schedule?: string) =>
      loadConfig({ env: { TANDEM_STATE_DIR: dir, ...(schedule ? { TANDEM_HANDOFF_RECONCILE_SCHEDULE: schedule } : {}) }, cwd: dir });
    expect(load().handoffs.reconcileSchedule).toBe('*/10 * * * * *');
    expect(load('off').handoffs.reconcileSchedule).toBe('off');
    expect(load('0 */5 * * * *').handoffs.reconcileSchedule).toBe('0 */5 * * * *');
    // Five fields would silently mean minutes instead of seconds: refused.
    expect(() => load('*/5 * * * *')).toThrow(/handoffs\.reconcileSchedule \(TANDEM_HANDOFF_RECONCILE_SCHEDULE\): must be 6 cron fields/);
    expect(() => load('61 * * * * *')).toThrow(ConfigError);
  });

  describe('on/off settings', () => {
    const flags = ['TANDEM_TEMPORAL_EMBEDDED', 'TANDEM_AIRFLOW_EMBEDDED', 'TANDEM_TEMPORAL_TLS'];
    const load = (env: Record<string, string>) => {
      const dir = tmp();
      return loadConfig({ env: { TANDEM_STATE_DIR: dir, ...env }, cwd: dir });
    };
    const read = (c: ReturnType<typeof loadConfig>) => [c.temporal.embedded, c.airflow.embedded, c.temporal.tls];

    it('reads TANDEM_TEMPORAL_TLS=0 and =false as off (z.coerce.boolean read them as on)', () => {
      expect(load({ TANDEM_TEMPORAL_TLS: '0' }).temporal.tls).toBe(false);
      expect(load({ TANDEM_TEMPORAL_TLS: 'false' }).temporal.tls).toBe(false);
    });

    it('takes true/false, 1/0 and yes/no in any case for every flag', () => {
      for (const word of ['true', '1', 'yes', 'YES', 'True', ' Yes ']) {
        expect(read(load(Object.fromEntries(flags.map((f) => [f, word]))))).toEqual([true, true, true]);
      }
      for (const word of ['false', '0', 'no', 'No', 'FALSE']) {
        expect(read(load(Object.fromEntries(flags.map((f) => [f, word]))))).toEqual([false, false, false]);
      }
    });

    it('rejects any other word with the variable and the value, instead of guessing', () => {
      for (const flag of flags) {
        expect(() => load({ [flag]: 'ture' })).toThrow(ConfigError);
        expect(() => load({ [flag]: 'ture' })).toThrow(new RegExp(`\\(${flag}\\): must be true/false, 1/0 or yes/no, not "ture"`));
      }
      expect(() => load({ TANDEM_TEMPORAL_TLS: 'on' })).toThrow(/temporal\.tls \(TANDEM_TEMPORAL_TLS\): .*not "on"/);
    });

    it('reads config.json flags the same way, booleans or words', () => {
      const dir = tmp();
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ temporal: { tls: 'no', embedded: false }, airflow: { embedded: '0' } }));
      expect(read(loadConfig({ env: { TANDEM_STATE_DIR: dir }, cwd: dir }))).toEqual([false, false, false]);
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ temporal: { tls: 'maybe' } }));
      expect(() => loadConfig({ env: { TANDEM_STATE_DIR: dir }, cwd: dir })).toThrow(/temporal\.tls \(TANDEM_TEMPORAL_TLS\): .*not "maybe"/);
    });

    it('keeps the defaults: both engines embedded, TLS off', () => {
      expect(read(load({}))).toEqual([true, true, false]);
    });
  });

  it('no longer reads "true" as a boolean for settings that are not flags', () => {
    // Before, every "true"/"false" became a boolean first: TANDEM_API_PORT=true loaded as port 1.
    expect(() => loadConfig({ env: { TANDEM_STATE_DIR: tmp(), TANDEM_API_PORT: 'true' }, cwd: '/' })).toThrow(/TANDEM_API_PORT/);
    expect(loadConfig({ env: { TANDEM_STATE_DIR: tmp(), TANDEM_TEMPORAL_NAMESPACE: 'true' }, cwd: '/' }).temporal.namespace).toBe('true');
  });
});

describe('setting declarations', () => {
  it('declare every setting once: a path, a default and a description each, and a TANDEM_ variable unless config.json only', () => {
    const paths = configSettings.map((s) => s.path);
    expect(new Set(paths).size).toBe(paths.length);
    expect(new Set(knownVariables).size).toBe(knownVariables.length);
    for (const s of [...configSettings, ...otherVariables]) {
      const name = 'path' in s ? s.path : s.env;
      expect(s.description, name).not.toBe('');
      expect(s.defaultText, name).not.toBe('');
      if (s.env !== undefined) expect(s.env).toMatch(/^TANDEM_[A-Z0-9_]+$/);
    }
    // Objects cannot come from one variable; everything else can.
    expect(configSettings.filter((s) => !s.env).map((s) => s.path)).toEqual(['pipelines.offPeakByDepartment']);
  });

  it('know every variable the rest of the repository reads (the ones --help and the README list)', () => {
    expect(knownVariables).toEqual(expect.arrayContaining(['TANDEM_STATE_DIR', 'TANDEM_API_URL', 'TANDEM_PAYLOAD_KEYS_FILE', 'TANDEM_PYTHON', 'TANDEM_API_KEY', 'TANDEM_TEST_KEEP_STATE']));
    expect(otherVariables.find((v) => v.env === 'TANDEM_PYTHON')?.readBy).toBe('bootstrap');
  });

  it('accept the variables read outside loadConfig without reading them into the config', () => {
    const dir = tmp();
    const c = loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_PYTHON: '/usr/bin/python3.11', TANDEM_API_KEY: 'k', TANDEM_TEST_KEEP_STATE: '1' }, cwd: dir });
    expect(c).toEqual(loadConfig({ env: { TANDEM_STATE_DIR: dir }, cwd: dir }));
  });

  it('keep the derived defaults: payload keys stay unset for the codec to default to <state dir>/payload-keys.json', () => {
    const dir = tmp();
    const c = loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_HOST: '0.0.0.0', TANDEM_AIRFLOW_PORT: '9080', TANDEM_TEMPORAL_PORT: '9233' }, cwd: dir });
    expect(c.api.url).toBe('http://0.0.0.0:8787');
    expect(c.airflow.url).toBe('http://0.0.0.0:9080');
    expect(c.temporal.address).toBe('0.0.0.0:9233');
    expect(c.payload.keysFile).toBeUndefined();
  });
});

describe('configToEnv', () => {
  it('round-trips: a child loading its config from this environment sees the same config', () => {
    const dir = tmp();
    const parent = loadConfig({
      env: { TANDEM_STATE_DIR: dir, TANDEM_API_PORT: '9100', TANDEM_TEMPORAL_NAMESPACE: 'ns', TANDEM_TEMPORAL_TLS: 'false', TANDEM_ADMIN_KEY: 'x'.repeat(20) },
      cwd: dir,
    });
    const child = loadConfig({ env: configToEnv(parent), cwd: '/' });
    expect(child).toEqual(parent);
  });

  it('round-trips flags that are off', () => {
    const dir = tmp();
    const parent = loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_TEMPORAL_EMBEDDED: '0', TANDEM_AIRFLOW_EMBEDDED: 'no', TANDEM_TEMPORAL_TLS: '1' }, cwd: dir });
    expect(loadConfig({ env: configToEnv(parent), cwd: '/' })).toEqual(parent);
  });
});
