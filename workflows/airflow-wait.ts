/**
 * Waiting for an Airflow DAG run from a workflow: one short `checkDagRun` activity per poll and a
 * durable timer in between (5 s, doubling to 60 s). Between polls nothing runs anywhere — no
 * activity slot, no heartbeat — which is the point of handing long waits to Temporal.
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { AirflowActivities, DagRunRef, DagRunSummary } from '../services/worker/activities/airflow.ts';
import { airflowCall } from './activity-options.ts';

const { checkDagRun } = proxyActivities<AirflowActivities>(airflowCall);

/**
 * The Airflow run id of a workflow's DAG run: derived from the workflow id, so a retried or
 * replayed trigger finds the run the first attempt created. Airflow run ids allow letters, digits
 * and `._-:+~`; a workflow id may hold anything.
 */
export function dagRunIdOf(workflowId: string): string {
  return `tandem__${workflowId.replace(/[^A-Za-z0-9._:+~-]/g, '_')}`;
}

export async function waitForDagRun(ref: DagRunRef, firstIntervalMs = 5_000, maxIntervalMs = 60_000): Promise<DagRunSummary> {
  let interval = firstIntervalMs;
  for (;;) {
    const run = await checkDagRun(ref);
    if (run.state === 'success') return run;
    await sleep(interval);
    interval = Math.min(maxIntervalMs, interval * 2);
  }
}
