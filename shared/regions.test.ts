import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configToEnv, loadConfig } from './config.ts';
import { parseRegions, temporalRegions } from './regions.ts';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'tandem-regions-'));

describe('parseRegions', () => {
  it('reads name=host:port/namespace entries, comma-separated, spaces allowed', () => {
    expect(parseRegions(' eu=temporal-eu.internal:7233/tandem-eu, us-east=10.0.0.7:7233/tandem ,v6=[::1]:7233/v6.ns ')).toEqual([
      { name: 'eu', address: 'temporal-eu.internal:7233', namespace: 'tandem-eu' },
      { name: 'us-east', address: '10.0.0.7:7233', namespace: 'tandem' },
      { name: 'v6', address: '[::1]:7233', namespace: 'v6.ns' },
    ]);
    expect(parseRegions('')).toEqual([]);
  });

  it('refuses a region with no endpoint, naming it and the form to write', () => {
    expect(() => parseRegions('eu=')).toThrow('region eu has no Temporal endpoint; write it as eu=host:port/namespace');
    expect(() => parseRegions('eu')).toThrow('region eu has no Temporal endpoint; write it as eu=host:port/namespace');
    expect(() => parseRegions('eu=/tandem')).toThrow('region eu has no Temporal endpoint');
  });

  it('refuses a missing namespace, an endpoint without a port, bad names, duplicates and local', () => {
    expect(() => parseRegions('eu=temporal:7233')).toThrow('region eu names no Temporal namespace; write it as eu=temporal:7233/<namespace>');
    expect(() => parseRegions('eu=temporal/tandem')).toThrow('region eu: endpoint "temporal" is not host:port');
    expect(() => parseRegions('EU=temporal:7233/tandem')).toThrow(/region name "EU" must be a lower-case label/);
    expect(() => parseRegions('eu=a:1/x,eu=b:1/y')).toThrow('region eu is listed twice');
    expect(() => parseRegions('local=a:1/x')).toThrow(/region local is temporal\.address \+ temporal\.namespace/);
    expect(() => parseRegions('eu=a:1/bad namespace')).toThrow(/is not a Temporal namespace name/);
  });
});

describe('temporalRegions', () => {
  it('is local alone by default: temporal.address + temporal.namespace, so nothing changes for npm start', () => {
    const dir = tmp();
    const config = loadConfig({ env: { TANDEM_STATE_DIR: dir }, cwd: dir });
    expect(temporalRegions(config)).toEqual([{ name: 'local', address: '127.0.0.1:7233', namespace: 'default' }]);
  });

  it('puts local first, then the configured regions, and survives the trip to a child process', () => {
    const dir = tmp();
    const config = loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_REGIONS: 'eu=127.0.0.1:7233/eu,us=temporal-us:7233/tandem' }, cwd: dir });
    expect(temporalRegions(config).map((r) => `${r.name}=${r.address}/${r.namespace}`)).toEqual([
      'local=127.0.0.1:7233/default',
      'eu=127.0.0.1:7233/eu',
      'us=temporal-us:7233/tandem',
    ]);
    expect(temporalRegions(loadConfig({ env: configToEnv(config), cwd: dir }))).toEqual(temporalRegions(config));
  });
});

describe('TANDEM_REGIONS at load', () => {
  it('is a one-line ConfigError naming the setting, the region and the fix', () => {
    const dir = tmp();
    const load = (regions: string) => () => loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_REGIONS: regions }, cwd: dir });
    expect(load('eu=temporal-eu:7233/tandem,us=')).toThrow(ConfigError);
    expect(load('eu=temporal-eu:7233/tandem,us=')).toThrow(
      /^invalid configuration: temporal\.regions \(TANDEM_REGIONS\): region us has no Temporal endpoint; write it as us=host:port\/namespace$/,
    );
  });

  it('refuses a region that is local’s own namespace under another name: their histories would be one', () => {
    const dir = tmp();
    expect(() => loadConfig({ env: { TANDEM_STATE_DIR: dir, TANDEM_REGIONS: 'eu=127.0.0.1:7233/default' }, cwd: dir })).toThrow(
      'invalid configuration: temporal.regions (TANDEM_REGIONS): regions local and eu are both namespace default at 127.0.0.1:7233; give each region a namespace of its own',
    );
  });
});
