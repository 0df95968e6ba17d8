/**
 * smoke.echo: the smallest durable flow — one activity on the worker, then return. Used to prove
 * that the API, Temporal and the worker are wired together, and as the replay canary in CI.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type * as smoke from '../../services/worker/activities/smoke.ts';
import type { EchoInput, EchoResult } from '../../shared/contracts/workflow-types.ts';
import { local } from '../activity-options.ts';

const { stampEcho } = proxyActivities<typeof smoke>(local);

export async function echoWorkflow({ message }: EchoInput): Promise<EchoResult> {
  const stamped = await stampEcho({ message });
  return { message: stamped.message, echoedAt: stamped.echoedAt, workflowId: workflowInfo().workflowId };
}
