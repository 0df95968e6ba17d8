import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configToEnv, loadConfig } from './config.ts';

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
});
