import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.ts';
import { temporalProcess, temporalServerArgs } from './temporal.ts';

const config = loadConfig({ env: { TANDEM_STATE_DIR: '/state' }, cwd: '/' });

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

describe('embedded Temporal dev server', () => {
  const args = temporalServerArgs(config);

  it('keeps its state in the state dir', () => {
    expect(flag(args, '--db-filename')).toBe('/state/temporal/temporal.db');
  });

  it('keeps the SQLite file in WAL mode with synchronous=NORMAL (no fsync wait per commit)', () => {
    const pragmas = args.flatMap((a, i) => (args[i - 1] === '--sqlite-pragma' ? [a] : []));
    expect(pragmas).toEqual(['journal_mode=wal', 'synchronous=normal']);
  });

  it('binds gRPC and the UI to loopback, never all interfaces', () => {
    expect(flag(args, '--ip')).toBe('127.0.0.1');
    expect(flag(args, '--ui-ip')).toBe('127.0.0.1');
    expect(args).not.toContain('0.0.0.0');
  });

  it('pins every port so the launcher can check them up front', () => {
    const spec = temporalProcess(config);
    expect(spec.ports).toEqual([7233, 8233, 7243, 7253]);
    for (const [name, port] of [['--port', 7233], ['--ui-port', 8233], ['--http-port', 7243], ['--metrics-port', 7253]] as const) {
      expect(flag(args, name)).toBe(String(port));
    }
  });

  it('registers the namespace of every region it serves, and only those', () => {
    const regional = loadConfig({ env: { TANDEM_STATE_DIR: '/state', TANDEM_REGIONS: 'eu=127.0.0.1:7233/tandem-eu,us=temporal-us:7233/tandem-us' }, cwd: '/' });
    const served = temporalServerArgs(regional).flatMap((a, i, all) => (all[i - 1] === '--namespace' ? [a] : []));
    // us lives on another server: the launcher probes it instead.
    expect(served).toEqual(['default', 'tandem-eu']);
  });

  it('creates the configured namespace', () => {
    const custom = loadConfig({ env: { TANDEM_STATE_DIR: '/state', TANDEM_TEMPORAL_NAMESPACE: 'clinical' }, cwd: '/' });
    expect(flag(temporalServerArgs(custom), '--namespace')).toBe('clinical');
  });
});
