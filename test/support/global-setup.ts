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
import { freePorts } from './free-ports.ts';
import type { StackInfo } from './stack-info.ts';

let stack: StackHandle | undefined;
let stateDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-it-'));
  const [api, temporal, temporalUi, temporalHttp, temporalMetrics, airflow] = await freePorts('127.0.0.1', 6);
  Object.assign(process.env, {
    TANDEM_STATE_DIR: stateDir,
    TANDEM_API_PORT: String(api),
    TANDEM_TEMPORAL_PORT: String(temporal),
    TANDEM_TEMPORAL_UI_PORT: String(temporalUi),
    TANDEM_TEMPORAL_HTTP_PORT: String(temporalHttp),
    TANDEM_TEMPORAL_METRICS_PORT: String(temporalMetrics),
    TANDEM_AIRFLOW_PORT: String(airflow),
    // Keep test DAG files out of the repository's dags/generated, which a dev stack may be reading.
    TANDEM_AIRFLOW_DAGS_FOLDER: path.join(stateDir, 'dags'),
    TANDEM_LOG_LEVEL: process.env.TANDEM_LOG_LEVEL ?? 'info',
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
    dagsFolder: config.airflow.dagsFolder,
  };
  project.provide('stack', info);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
  if (stateDir && !process.env.TANDEM_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
}
