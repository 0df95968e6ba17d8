/**
 * Boots the real embedded stack once for the whole integration tier, in a temporary state dir
 * and on free ports, so it runs beside a developer's own `npm start` stack without touching it.
 * Set TANDEM_TEST_KEEP_STATE=1 to keep the state dir (logs!) after the run.
 *
 * Only when a selected test file uses it (`inject('stack')`): files that boot stacks of their own
 * (the fault drills, the launcher interrupts), run alone, need not wait ~40 s for one more.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../shared/config.ts';
import { startStack, type StackHandle } from '../../deploy/dev/stack.ts';
import { isolatedStackEnv } from './free-ports.ts';
import type { StackInfo } from './stack-info.ts';

let stack: StackHandle | undefined;
let stateDir: string | undefined;

/** The files this run will execute use the shared stack. When unsure, they do. */
async function sharedStackWanted(project: TestProject): Promise<boolean> {
  // The command line's file filters; not part of vitest's typed API, hence the guard.
  const filters = (project.vitest as unknown as { filenamePattern?: unknown }).filenamePattern;
  if (filters !== undefined && !(Array.isArray(filters) && filters.every((f) => typeof f === 'string'))) return true;
  const { testFiles } = await project.globTestFiles((filters as string[] | undefined) ?? []);
  return testFiles.length === 0 || testFiles.some((file) => /\binject\(\s*['"]stack['"]\s*\)/.test(readFileSync(file, 'utf8')));
}

export async function setup(project: TestProject): Promise<void> {
  if (!(await sharedStackWanted(project))) {
    console.log('[integration] no selected test file uses the shared stack (inject(\'stack\')); not starting it');
    return;
  }
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-it-'));
  // The rate limit counts per client address, and every test (the contract fuzzer's thousands of
  // requests included) comes from loopback: a shared limit would turn later files' calls into 429s.
  Object.assign(process.env, await isolatedStackEnv(stateDir), {
    TANDEM_LOG_LEVEL: process.env.TANDEM_LOG_LEVEL ?? 'info',
    TANDEM_API_RATE_LIMIT_PER_MINUTE: process.env.TANDEM_API_RATE_LIMIT_PER_MINUTE ?? '1000000',
  });
  const config = loadConfig();
  console.log(`[integration] starting the embedded stack in ${stateDir}`);
  stack = await startStack(config, (line) => console.log(`[integration] ${line}`));
  console.log(`[integration] stack ready in ${stack.readySeconds.toFixed(1)} s`);
  const info: StackInfo = {
    stateDir,
    apiUrl: config.api.url,
    airflowUrl: config.airflow.url,
    temporalAddress: config.temporal.address,
    temporalNamespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    adminKey: stack.credentials.adminApiKey,
    serviceKey: stack.credentials.serviceApiKey,
    airflowUser: stack.credentials.airflow.adminUser,
    airflowPassword: stack.credentials.airflow.adminPassword,
    airflowTandemUser: stack.credentials.airflow.tandemUser,
    dagsFolder: config.airflow.dagsFolder,
  };
  project.provide('stack', info);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
  if (stateDir && !process.env.TANDEM_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
}
