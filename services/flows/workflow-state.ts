/**
 * How a durable flow stands, as `GET /v1/workflows/{id}` shows it: status, type, department, who
 * started it, and its result or failure once closed. Another department's workflow reads exactly
 * like a missing one, so ids are not a side channel.
 */
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { Principal } from '../../shared/contracts/principal.ts';
import { scopeIncludes } from '../../shared/contracts/roles.ts';
import { workflowTypes } from '../../shared/contracts/workflow-types.ts';
import type { WorkflowState } from '../../shared/contracts/workflow-runs.ts';
import { NotFoundError } from '../../shared/errors.ts';
import type { FlowMemo } from './start-workflow.ts';

const publicTypeOf = new Map<string, string>(Object.entries(workflowTypes).map(([name, def]) => [def.workflowName, name]));

/** The innermost cause says what went wrong ("… context length …"), not "Activity task failed". */
export function innermostMessage(err: unknown): string {
  let e = err as Error;
  while (e.cause instanceof Error) e = e.cause;
  return e.message;
}

export async function workflowStateOf(handle: WorkflowHandle, principal: Principal): Promise<WorkflowState> {
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new NotFoundError(`workflow ${handle.workflowId} not found`);
    throw err;
  }
  const memo = (description.memo ?? {}) as Partial<FlowMemo>;
  // A workflow without a department in its memo is visible to `*` keys only.
  if (!scopeIncludes(principal.department, memo.department ?? '')) throw new NotFoundError(`workflow ${handle.workflowId} not found`);
  const status = description.status.name.toLowerCase() as WorkflowState['status'];
  const state: WorkflowState = {
    workflowId: description.workflowId,
    runId: description.runId,
    // Workflows started before every start path wrote the public name keep a function name.
    type: (memo.type && publicTypeOf.get(memo.type)) ?? memo.type ?? publicTypeOf.get(description.type) ?? description.type,
    status,
    department: memo.department ?? null,
    startedBy: memo.startedBy ?? null,
    startedAt: description.startTime.toISOString(),
    closedAt: description.closeTime?.toISOString() ?? null,
    historyLength: description.historyLength,
  };
  if (status === 'completed') state.result = await handle.result();
  if (status === 'failed') state.failure = await handle.result().then(() => 'unknown failure', innermostMessage);
  return state;
}
