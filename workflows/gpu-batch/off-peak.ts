/**
 * The off-peak step of gpu.batch: before the job is submitted, with the department's GPU peak rule
 * (its tenant's off-peak window and `gpuPeakPolicy`, read once by the workflow), at peak time a `wait`
 * department sleeps on a durable timer until the window opens (zero compute: no activity, no
 * Pod), and a `refuse` department fails at once — the API refuses such a start before it gets
 * here, this is the same rule for any other path. While it waits, the memo says so and until
 * when (`GET /v1/workflows/{id}` shows it as `waiting`), and the timer's summary says it in
 * Temporal's UI. After the sleep the window is checked again, so a daylight-saving change in
 * between costs one more, shorter sleep rather than a start at peak time.
 */
import { ApplicationFailure, setCurrentDetails, sleep, upsertMemo } from '@temporalio/workflow';
import type { GpuPeakRule } from '../../services/tenants/settings.ts';
import { activityErrorTypes } from '../../shared/contracts/activity-errors.ts';
import type { WorkflowWait } from '../../shared/contracts/workflow-runs.ts';
import { windowStatus } from '../../shared/off-peak-window.ts';

/** `rule`: the department's, read by the workflow at its start (null: no tenant, no wait). */
export async function waitForOffPeakWindow(rule: GpuPeakRule | null): Promise<void> {
  if (!rule) return;
  const { department } = rule;
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
