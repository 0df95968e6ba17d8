/**
 * The off-peak step of gpu.batch: before the job is submitted, the department's GPU peak rule
 * (its tenant's off-peak window and `gpuPeakPolicy`) is read once; at peak time a `wait`
 * department sleeps on a durable timer until the window opens (zero compute: no activity, no
 * Pod), and a `refuse` department fails at once — the API refuses such a start before it gets
 * here, this is the same rule for any other path. While it waits, the memo says so and until
 * when (`GET /v1/workflows/{id}` shows it as `waiting`), and the timer's summary says it in
 * Temporal's UI. After the sleep the window is checked again, so a daylight-saving change in
 * between costs one more, shorter sleep rather than a start at peak time.
 */
import { ApplicationFailure, proxyActivities, setCurrentDetails, sleep, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { TenantActivities } from '../../services/worker/activities/tenants.ts';
import { activityErrorTypes } from '../../shared/contracts/activity-errors.ts';
import type { WorkflowWait } from '../../shared/contracts/workflow-runs.ts';
import { windowStatus } from '../../shared/off-peak-window.ts';
import { local } from '../activity-options.ts';

const { gpuPeakRule } = proxyActivities<TenantActivities>(local);

export async function waitForOffPeakWindow(): Promise<void> {
  const department = workflowInfo().memo?.department;
  if (typeof department !== 'string') return;
  const rule = await gpuPeakRule({ department });
  if (!rule) return;
  const { start, end, timezone } = rule.window;
  let waited = false;
  for (;;) {
    // The workflow's clock: deterministic on replay, and skipped by the time-skipping test server.
    const now = new Date();
    const status = windowStatus(rule.window, now);
    if (status.inside) break;
    if (rule.policy === 'refuse') {
      throw ApplicationFailure.create({
        type: activityErrorTypes.gpuJob.outsideOffPeakWindow,
        message: `department ${department} refuses GPU batch work at peak time; its off-peak window is ${start}–${end} ${timezone} and opens at ${status.opensAt.toISOString()}`,
        nonRetryable: true,
      });
    }
    const detail = `waiting for department ${department}'s off-peak window ${start}–${end} ${timezone}, which opens at ${status.opensAt.toISOString()}`;
    const waiting: WorkflowWait = { reason: 'off-peak-window', until: status.opensAt.toISOString(), detail };
    upsertMemo({ waiting });
    setCurrentDetails(detail);
    waited = true;
    await sleep(status.opensAt.getTime() - now.getTime(), { summary: detail });
  }
  if (waited) {
    upsertMemo({ waiting: null });
    setCurrentDetails('');
  }
}
