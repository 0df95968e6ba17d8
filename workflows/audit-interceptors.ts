/**
 * Every workflow's end goes into the audit log through the `appendAudit` activity: completed,
 * failed or cancelled, with the workflow type. (Its start is audited by the API, which knows the
 * caller's key.) Bundled into the worker's workflow code as an interceptor module, so no workflow
 * has to remember it.
 *
 * `patched()` keeps this deterministic for histories recorded before it existed: replaying such a
 * history skips the append instead of failing on an unexpected command.
 */
import {
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
  type WorkflowExecuteInput,
  type WorkflowInterceptorsFactory,
  type Next,
  type WorkflowInboundCallsInterceptor,
} from '@temporalio/workflow';
import type { AuditActivities } from '../services/worker/activities/audit.ts';
import { audit } from './activity-options.ts';

const { appendAudit } = proxyActivities<AuditActivities>(audit);

const AUDIT_FINISH_PATCH = 'audit-workflow-finished';

/** Outcome only: a failure message may carry patient data, and the audit log is not encrypted. */
async function auditFinish(outcome: 'completed' | 'failed' | 'cancelled'): Promise<void> {
  if (!patched(AUDIT_FINISH_PATCH)) return;
  const info = workflowInfo();
  const department = typeof info.memo?.department === 'string' ? info.memo.department : '*';
  await appendAudit({
    actor: { kind: 'workflow', name: info.workflowType },
    department,
    subject: `workflow:${info.workflowId}`,
    event: 'workflow-finished',
    workflowId: info.workflowId,
    details: { type: info.workflowType, outcome },
    dedupeKey: `${info.workflowId}:${info.runId}:workflow-finished`,
  });
}

class AuditFinishInterceptor implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    let result: unknown;
    try {
      result = await next(input);
    } catch (err) {
      // A cancelled workflow's root scope cancels whatever it schedules; the record must be written anyway.
      await CancellationScope.nonCancellable(() => auditFinish(isCancellation(err) ? 'cancelled' : 'failed'));
      throw err;
    }
    await auditFinish('completed');
    return result;
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new AuditFinishInterceptor()] });
