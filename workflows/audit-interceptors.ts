/**
 * Every workflow's end goes into the audit log through the `appendAudit` activity, run as a local
 * activity so it completes within the workflow task that ends the workflow: completed,
 * failed or cancelled, with the workflow type. (Its start is audited by the API, which knows the
 * caller's key.) Bundled into the worker's workflow code as an interceptor module, so no workflow
 * has to remember it. A terminated or timed-out workflow runs no more code, so only the server
 * knows of those ends.
 *
 * A hand-off whose Airflow task is parked (memo `handoffWait: parked`) then resumes that task,
 * the push that ends the task's wait the moment the workflow ends (services/handoffs/parked.ts).
 * A resume that fails for good is left to the reconciler: the workflow's own outcome stands.
 *
 * `patched()` keeps this deterministic for histories recorded before it existed: replaying such a
 * history skips the append instead of failing on an unexpected command, and one recorded while the
 * append was a normal activity replays it as one.
 */
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  TemporalFailure,
  workflowInfo,
  type WorkflowExecuteInput,
  type WorkflowInterceptorsFactory,
  type Next,
  type WorkflowInboundCallsInterceptor,
} from '@temporalio/workflow';
import type { AuditActivities } from '../services/worker/activities/audit.ts';
import type { HandoffActivities } from '../services/worker/activities/handoffs.ts';
import { audit, handoffResume } from './activity-options.ts';

const { appendAudit } = proxyActivities<AuditActivities>(audit);
const { appendAudit: appendAuditLocally } = proxyLocalActivities<AuditActivities>(audit);
const { resumeParkedHandoff } = proxyActivities<HandoffActivities>(handoffResume);

const auditFinishPatch = 'audit-workflow-finished';
/** The end's entry is a local activity: it completes in the workflow task that ends the workflow. */
const auditFinishLocallyPatch = 'audit-workflow-finished-local';

type WorkflowOutcome = 'completed' | 'failed' | 'cancelled';

/**
 * The department the finish is audited under: the input's, for a flow about one department (a
 * review), else the starter's from the memo — the same rule as the API's `workflow-started`, so a
 * department sees both ends of its flows.
 */
function departmentOf(args: readonly unknown[]): string {
  const first = args[0] as { department?: unknown } | null | undefined;
  if (typeof first?.department === 'string') return first.department;
  const memo = workflowInfo().memo?.department;
  return typeof memo === 'string' ? memo : '*';
}

/**
 * What failed, without the message: a failure message may carry patient data, and the audit log is
 * not encrypted. The innermost application failure's type (e.g. `LlmContentFiltered`) names the
 * cause; an error without one is named by its class.
 */
function failureTypeOf(err: unknown): string {
  let applicationType: string | undefined;
  let innermost = 'unknown';
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    innermost = e.name;
    if (e instanceof ApplicationFailure && e.type) applicationType = e.type;
  }
  return applicationType ?? innermost;
}

async function auditFinish(args: readonly unknown[], outcome: WorkflowOutcome, failureType?: string): Promise<void> {
  if (!patched(auditFinishPatch)) return;
  const info = workflowInfo();
  const append = patched(auditFinishLocallyPatch) ? appendAuditLocally : appendAudit;
  await append({
    actor: { kind: 'workflow', name: info.workflowType },
    department: departmentOf(args),
    subject: `workflow:${info.workflowId}`,
    event: 'workflow-finished',
    workflowId: info.workflowId,
    details: { type: info.workflowType, outcome, runId: info.runId, ...(failureType ? { failureType } : {}) },
    // Per run: a fresh run under the same workflow id (a hand-off retried by Airflow) is audited too.
    dedupeKey: `${info.workflowId}:${info.runId}:workflow-finished`,
  });
}

/** Resumes the parked Airflow task of a hand-off (only those: the memo says so). Never fails the workflow. */
async function resumeParkedTask(): Promise<void> {
  const info = workflowInfo();
  if (info.memo?.handoffWait !== 'parked') return;
  try {
    await resumeParkedHandoff({ handoffId: info.workflowId, runId: info.runId });
  } catch {
    // Retries exhausted (Airflow down for minutes): the reconciler resumes the task later.
  }
}

async function finish(args: readonly unknown[], outcome: WorkflowOutcome, failureType?: string): Promise<void> {
  await auditFinish(args, outcome, failureType);
  await resumeParkedTask();
}

class AuditFinishInterceptor implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    let result: unknown;
    try {
      result = await next(input);
    } catch (err) {
      // Only a Temporal failure ends the workflow. Continuing as new ends this run but not the
      // workflow (its last run audits the end); any other error (a bug: TypeError, …) fails only the
      // workflow task, which Temporal retries, and a fixed release must replay without an audit here.
      if (!(err instanceof TemporalFailure)) throw err;
      // A cancelled workflow's root scope cancels whatever it schedules; the record must be written anyway.
      await CancellationScope.nonCancellable(() =>
        isCancellation(err) ? finish(input.args, 'cancelled') : finish(input.args, 'failed', failureTypeOf(err)),
      );
      throw err;
    }
    await finish(input.args, 'completed');
    return result;
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new AuditFinishInterceptor()] });
