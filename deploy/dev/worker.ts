/** How the dev-stack launcher runs the tandem worker (services/worker/worker.ts), and how it knows the worker is polling. */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { repoRoot, type TandemConfig } from '../../shared/config.ts';
import { temporalRegions, type TemporalRegion } from '../../shared/regions.ts';
import { connectTemporal } from '../../shared/temporal-connection.ts';
import type { ProcessSpec } from './process-spec.ts';

// Values of temporal.api.enums.v1 (@temporalio/proto is not a direct dependency).
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_WORKFLOW = 1;
const TASK_QUEUE_TYPE_ACTIVITY = 2;

export function workerProcess(config: TandemConfig): ProcessSpec {
  // A fresh identity per start: Temporal remembers pollers for minutes, so a worker that just
  // died must not make its replacement look ready.
  const identity = `tandem-worker-${randomBytes(4).toString('hex')}`;
  return {
    name: 'worker',
    command: process.execPath,
    args: [path.join(repoRoot, 'services/worker/worker.ts'), '--identity', identity],
    cwd: repoRoot,
    env: { TANDEM_STATE_DIR: config.stateDir },
    ports: [],
    ready: () => workerIsPolling(config, identity),
    readyTimeoutMs: 30_000,
  };
}

/**
 * Ready = Temporal itself lists a poller with this identity on both the workflow and the
 * activity side of the task queue, in every region — proof the worker is connected and taking
 * work wherever a department's flows may run.
 */
export async function workerIsPolling(config: TandemConfig, identity: string): Promise<boolean> {
  for (const region of temporalRegions(config)) {
    if (!(await pollingIn(config, region, identity))) return false;
  }
  return true;
}

async function pollingIn(config: TandemConfig, region: TemporalRegion, identity: string): Promise<boolean> {
  const client = await connectTemporal(config, { connectTimeoutMs: 1000, region });
  try {
    const { namespace } = region;
    const { taskQueue } = config.temporal;
    const pollerIdentities = async (taskQueueType: number) => {
      const res = await client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
        taskQueueType,
      });
      return new Set((res.pollers ?? []).map((p) => p.identity));
    };
    const [workflowPollers, activityPollers] = await Promise.all([
      pollerIdentities(TASK_QUEUE_TYPE_WORKFLOW),
      pollerIdentities(TASK_QUEUE_TYPE_ACTIVITY),
    ]);
    return workflowPollers.has(identity) && activityPollers.has(identity);
  } finally {
    await client.connection.close();
  }
}
