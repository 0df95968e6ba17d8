import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../test/support/free-ports.ts';
import { prebuildWorkflowBundle } from './bundle.ts';

const workerEntry = path.join(import.meta.dirname, 'worker.ts');

// The worker writes its state (payload keys, store) before it connects: keep that out of the tree.
let stateDir: string;

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'worker-test-'));
  await prebuildWorkflowBundle();
});

afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe('worker process', () => {
  it('exits 1 with one line naming the address when Temporal is unreachable', async () => {
    const [port] = await freePorts('127.0.0.1', 1);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
    const result = spawnSync(process.execPath, [workerEntry], {
      env: { ...env, TANDEM_STATE_DIR: stateDir, TANDEM_TEMPORAL_PORT: String(port) },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^\\[worker\\] error: Temporal at 127\\.0\\.0\\.1:${port} is not reachable \\(.*Connection refused\\)`));
  });

  it('exits 2 on invalid configuration', () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
    const result = spawnSync(process.execPath, [workerEntry], {
      env: { ...env, TANDEM_STATE_DIR: stateDir, TANDEM_TEMPORAL_PORT: 'x' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^\[worker\] error: invalid configuration: temporal\.port/);
  });
});
