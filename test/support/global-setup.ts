/**
 * Boots the real embedded stack once for the whole integration tier, in a temporary state dir
 * and on free ports, so it runs beside a developer's own `npm start` stack without touching it.
 * Set TANDEM_TEST_KEEP_STATE=1 to keep the state dir (logs!) after the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../shared/config.ts';
import { startStack, type StackHandle } from '../../deploy/dev/stack.ts';
import { isolatedStackEnv } from './free-ports.ts';
import type { StackInfo } from './stack-info.ts';

let stack: StackHandle | undefined;
let stateDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-it-'));
  Object.assign(process.env, await isolatedStackEnv(stateDir), { TANDEM_LOG_LEVEL: process.env.TANDEM_LOG_LEVEL ?? 'info' });
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
    dagsFolder: config.airflow.dagsFolder,
  };
  project.provide('stack', info);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
  if (stateDir && !process.env.TANDEM_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
}
