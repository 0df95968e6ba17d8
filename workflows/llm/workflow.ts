/**
 * llm.complete: one chat completion as a durable flow. The activity does the work and the
 * `llmCall` preset decides the retries; the workflow adds the department that pays, taken from
 * the memo the API wrote from the caller's API key (never from the input).
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { LlmActivities } from '../../services/worker/activities/llm.ts';
import type { LlmCompleteInput, LlmCompleteResult } from '../../shared/contracts/llm.ts';
import { llmCall } from '../activity-options.ts';

const { chat } = proxyActivities<LlmActivities>(llmCall);

/** Budget bucket of a workflow started without the API (tests, tctl): visible, never free. */
export const unattributedDepartment = 'unattributed';

export async function llmCompleteWorkflow(input: LlmCompleteInput): Promise<LlmCompleteResult> {
  const department = workflowInfo().memo?.department;
  const completion = await chat({ ...input, department: typeof department === 'string' ? department : unattributedDepartment });
  return { content: completion.content, finishReason: completion.finishReason, model: completion.model, usage: completion.usage };
}
