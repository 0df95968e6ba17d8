import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../../shared/config.ts';
import { stackPlan } from '../stack.ts';
import { clusterPorts, compareVersions, numHistoryShards, temporalDynamicConfig, temporalServerConfig, temporalClusterProcesses } from './cluster.ts';

const ports = clusterPorts(7233, 7243, 7300);
const options = { postgresUrl: 'postgres://tandem:s%40cret@127.0.0.1:5433/postgres', ports, dir: '/tmp/x', namespaces: ['default'] };

describe('temporalServerConfig', () => {
  const config = parse(temporalServerConfig(options));

  it('puts persistence and visibility on PostgreSQL (postgres12) with more than one history shard', () => {
    expect(config.persistence.numHistoryShards).toBe(numHistoryShards);
    expect(numHistoryShards).toBeGreaterThan(1);
    const stores = config.persistence.datastores;
    expect(stores[config.persistence.defaultStore].sql).toMatchObject({
      pluginName: 'postgres12',
      databaseName: 'temporal',
      connectAddr: '127.0.0.1:5433',
      user: 'tandem',
      password: 's@cret',
    });
    expect(stores[config.persistence.visibilityStore].sql).toMatchObject({ pluginName: 'postgres12', databaseName: 'temporal_visibility' });
  });

  it('gives every service its own gRPC and membership port, all on 127.0.0.1, the frontend on temporal.port', () => {
    const rpcs = Object.values(config.services).map((s: any) => s.rpc);
    expect(rpcs).toHaveLength(4);
    const all = rpcs.flatMap((r: any) => [r.grpcPort, r.membershipPort, ...(r.httpPort ? [r.httpPort] : [])]);
    expect(new Set(all).size).toBe(all.length);
    expect(new Set(all)).toEqual(new Set(Object.values(ports)));
    expect(rpcs.every((r: any) => r.bindOnIP === '127.0.0.1')).toBe(true);
    expect(config.services.frontend.rpc).toMatchObject({ grpcPort: 7233, httpPort: 7243 });
    expect(config.global.membership.broadcastAddress).toBe('127.0.0.1');
    expect(config.clusterMetadata.clusterInformation.active.rpcAddress).toBe('127.0.0.1:7233');
  });
});

describe('temporalDynamicConfig', () => {
  it("keeps tandem's namespace refresh, and adds or overrides values as constraint-free lists", () => {
    expect(parse(temporalDynamicConfig())).toEqual({ 'system.namespaceCacheRefreshInterval': [{ value: '1s' }] });
    expect(parse(temporalDynamicConfig({ 'history.transferProcessorEnsureCloseBeforeDelete': false, 'system.namespaceCacheRefreshInterval': '5s' }))).toEqual({
      'system.namespaceCacheRefreshInterval': [{ value: '5s' }],
      'history.transferProcessorEnsureCloseBeforeDelete': [{ value: false }],
    });
  });
});

describe('temporalClusterProcesses', () => {
  it('starts history, matching, the frontend and the worker service one after the other, each with its own ports', () => {
    const waves = temporalClusterProcesses(options, '/cache/temporal');
    expect(waves.map((w) => w.map((s) => s.name))).toEqual([['temporal-history'], ['temporal-matching'], ['temporal-frontend'], ['temporal-worker']]);
    const frontend = waves[2]![0]!;
    expect(frontend.command).toBe('/cache/temporal/bin/temporal-server');
    expect(frontend.args).toEqual(['--config-file', '/tmp/x/config.yaml', '--allow-no-auth', 'start', '--service', 'frontend']);
    expect(frontend.ports).toEqual([7233, 7243, 7300]);
  });
});

describe('compareVersions', () => {
  it('compares dotted versions numerically', () => {
    expect(compareVersions('1.9', '1.10')).toBe(-1);
    expect(compareVersions('1.19', '1.19')).toBe(0);
    expect(compareVersions('2.0', '1.19')).toBe(1);
  });
});

describe('stackPlan with the cluster engines', () => {
  it('runs the Temporal cluster instead of the dev server, its schema check before any other step', () => {
    const config = loadConfig({ env: { TANDEM_STATE_DIR: '/tmp/tandem-plan', TANDEM_DATABASE_URL: 'postgres://u:p@127.0.0.1:5433/tandem' } });
    const credentials = { adminApiKey: 'a', serviceApiKey: 's', airflow: { adminUser: 'admin', adminPassword: 'x' } } as never;
    const plan = stackPlan(config, credentials, undefined, {
      temporal: { ...options, dir: '/tmp/tandem-plan/temporal-cluster' },
      airflowDatabase: { serverUrl: 'postgres://u:p@127.0.0.1:5433/postgres', name: 'airflow' },
    });
    const names = plan.waves.map((w) => w.map((s) => s.name));
    expect(names.flat()).not.toContain('temporal');
    expect(names.slice(0, 4)).toEqual([['temporal-history'], ['temporal-matching'], ['temporal-frontend'], ['temporal-worker', 'airflow-api-server']]);
    expect(plan.prepare[0]!.name).toMatch(/^applying the Temporal schema/);
    expect(plan.prepare.map((s) => s.name)).toContain('creating the airflow database on PostgreSQL (first start only)');
  });
});
