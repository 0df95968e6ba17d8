import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePorts } from '../../test/support/free-ports.ts';
import { createLocalEnv } from '../../test/support/temporal-test-env.ts';
import { prebuildWorkflowBundle } from './bundle.ts';

const workerEntry = path.join(import.meta.dirname, 'worker.ts');

let env: TestWorkflowEnvironment;
let stateDir: string;

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'worker-health-'));
  [env] = await Promise.all([createLocalEnv(), prebuildWorkflowBundle()]);
});

afterAll(async () => {
  await env?.teardown();
  rmSync(stateDir, { recursive: true, force: true });
});

async function probe(url: string): Promise<number | 'refused'> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 'refused';
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

describe('the worker process with TANDEM_WORKER_HEALTH_PORT', () => {
  it('becomes ready once it polls Temporal, and frees the port when it stops', async () => {
    const [port] = await freePorts('127.0.0.1', 1);
    const base = `http://127.0.0.1:${port}`;
    const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
    const child = spawn(process.execPath, [workerEntry], {
      env: {
        ...childEnv,
        TANDEM_STATE_DIR: stateDir,
        TANDEM_TEMPORAL_ADDRESS: env.address,
        TANDEM_TEMPORAL_TASK_QUEUE: 'health-probe',
        TANDEM_WORKER_HEALTH_PORT: String(port),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      let ready = false;
      for (let i = 0; i < 100 && !ready; i++) {
        ready = (await probe(`${base}/readyz`)) === 200;
        if (!ready) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ready, stderr).toBe(true);
      expect(await probe(`${base}/healthz`)).toBe(200);
      const body = await (await fetch(`${base}/readyz`)).json();
      expect(body).toEqual({ status: 'ready', state: 'RUNNING' });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited(child)).toBe(0);
    expect(await probe(`${base}/healthz`)).toBe('refused');
  });
});
