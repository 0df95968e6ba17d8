/**
 * An app fixture whose workflows really run: a Temporal test server (the dev server, or the
 * time-skipping one) and a worker with the pre-built bundle and the real activities, on the
 * fixture's own SQLite store — for route tests that need real workflow behaviour.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { registerDepartmentSearchAttribute } from '../../services/flows/department-search-attribute.ts';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../services/worker/activities/index.ts';
import { prebuildWorkflowBundle } from '../../services/worker/bundle.ts';
import { createLocalEnv, createTimeSkippingEnv } from './temporal-test-env.ts';
import { appFixture, type AppFixture, type AppFixtureOptions } from './app-fixture.ts';

export interface AppWithWorker {
  env: TestWorkflowEnvironment;
  f: AppFixture;
  close(): Promise<void>;
}

export async function appWithWorker(server: 'dev' | 'time-skipping', options: AppFixtureOptions = {}): Promise<AppWithWorker> {
  const [env, { codePath }] = await Promise.all([server === 'dev' ? createLocalEnv() : createTimeSkippingEnv(), prebuildWorkflowBundle()]);
  // As the API's start-up does; the time-skipping server cannot hold custom search attributes.
  const departmentSearchAttribute = await registerDepartmentSearchAttribute(env.client);
  const f = await appFixture({ ...options, temporalClient: env.client, departmentSearchAttribute });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: f.app.temporal.taskQueue,
    workflowBundle: { codePath },
    activities: createActivities({ store: f.store, config: f.config, ...(options.airflowClient ? { airflowClient: options.airflowClient } : {}) }),
  });
  const running = worker.run();
  return {
    env,
    f,
    async close() {
      worker.shutdown();
      await running;
      await f.close();
      await env.teardown();
    },
  };
}
