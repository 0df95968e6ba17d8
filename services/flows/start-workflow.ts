/**
 * The one way tandem starts a durable flow, for `POST /v1/workflows` and for hand-offs alike:
 * check the input against its public type, decide which department the flow belongs to, refuse a
 * starter whose scope does not include that department (before anything starts), refuse a GPU
 * batch at peak time where the department's tenant says so, start it in the department's region
 * (refused when this process has no Temporal for that region) with the same memo shape on every
 * path, and audit `workflow-started` once per run.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { scopeIncludes } from '../../shared/contracts/roles.ts';
import { parseWorkflowInput, type WorkflowTypeName } from '../../shared/contracts/workflow-types.ts';
import { BadRequestError, ForbiddenError, ValidationError } from '../../shared/errors.ts';
import type { AuditActor, AuditEvent } from '../../shared/store/audit-log.ts';
import type { Store } from '../../shared/store/store.ts';
import type { TandemConfig } from '../../shared/config.ts';
import type { WorkflowWait } from '../../shared/contracts/workflow-runs.ts';
import type { TenantStore } from '../../shared/store/tenants.ts';
import { gpuPeakRuleOf, refuseAtPeak } from '../tenants/settings.ts';
import { departmentSearchAttribute } from './department-search-attribute.ts';
import type { RegionalTemporal } from './regional-temporal.ts';

/** What every tandem workflow carries in its memo; `type` is always the public type name. */
export interface FlowMemo {
  department: string;
  startedBy: string;
  type: string;
  /** Started by an Airflow hand-off (`/v1/handoffs`). */
  handoff?: boolean;
  /**
   * A hand-off whose Airflow task is parked in `awaiting_input`: the workflow's last step resumes
   * it (workflows/audit-interceptors.ts). Absent for a task deferred to the triggerer.
   */
  handoffWait?: 'parked';
  /** Set by the workflow while it sleeps on a durable timer (e.g. gpu.batch's off-peak wait). */
  waiting?: WorkflowWait | null;
}

export interface FlowStarter {
  /** The key's department scope (`*` for every department). */
  scope: string;
  /** Shown as `startedBy`. */
  name: string;
  actor: AuditActor;
}

export interface ParsedFlow {
  type: WorkflowTypeName;
  workflowName: string;
  input: unknown;
}

/** Input checked against its type: unknown type → 400, input off its schema → 422 with every path. */
export function parseFlow(type: string, input: unknown): ParsedFlow {
  const parsed = parseWorkflowInput(type, input);
  if (parsed.ok) return parsed;
  const first = parsed.issues[0];
  if (first?.path[0] === 'type') throw new BadRequestError(first.message);
  throw new ValidationError(
    `input is not valid for workflow type ${type}`,
    parsed.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  );
}

/**
 * The department a flow's input names, for the types that have one (a review, a pipeline run);
 * such a flow belongs to that department, whoever starts it.
 */
export function inputDepartmentOf(input: unknown): string | undefined {
  const own = (input as { department?: unknown } | null)?.department;
  return typeof own === 'string' ? own : undefined;
}

export interface WorkflowStart {
  flow: ParsedFlow;
  workflowId: string;
  department: string;
  starter: FlowStarter;
  taskQueue: string;
  /** Start in this region instead of the department's: a hand-off restarted where it ran. */
  region?: string;
  /**
   * `once`: a closed workflow keeps its id, so a retried request never starts it twice
   * (`POST /v1/workflows`). `per-attempt`: a closed run may be followed by a fresh one under
   * the same id, and two concurrent starts end on one run (hand-offs, one run per Airflow try).
   */
  reuse: 'once' | 'per-attempt';
  /** The closed run a `per-attempt` start replaces, if any: the start created a run unless it got this one back. */
  replacesRunId?: string | undefined;
  handoff?: boolean;
  /** The hand-off's task is parked (see FlowMemo.handoffWait). */
  handoffWait?: 'parked' | 'triggerer';
  /** Audited instead of `workflow-started` (a hand-off the reconciler starts again). */
  auditEvent?: AuditEvent;
  auditDetails?: Record<string, unknown>;
}

export interface StartedWorkflow {
  workflowId: string;
  runId: string;
  type: WorkflowTypeName;
  department: string;
  /** False when the id already had a workflow (an Idempotency-Key retry) and nothing was started. */
  created: boolean;
  /** The data-residency region whose namespace holds it. */
  region: string;
}

export interface WorkflowStartDeps {
  /** The department's region picks the client: its workflows start in that region's namespace only. */
  regions: Pick<RegionalTemporal, 'forDepartment' | 'inRegion'>;
  store: Pick<Store, 'audit'>;
  /**
   * A gpu.batch of a department whose tenant refuses GPU batch work at peak time is refused here,
   * at peak time, before anything starts (services/tenants/settings.ts).
   */
  gpuPeak?: { tenants: Pick<TenantStore, 'get'>; pipelines: TandemConfig['pipelines']; now?: () => Date };
}

export async function startWorkflow(deps: WorkflowStartDeps, request: WorkflowStart): Promise<StartedWorkflow> {
  const { flow, workflowId, department, starter } = request;
  if (!scopeIncludes(starter.scope, department)) {
    throw new ForbiddenError(`key ${starter.name} is scoped to department ${starter.scope} and may not start work for department ${department}`);
  }
  if (flow.type === 'gpu.batch' && deps.gpuPeak) {
    const { tenants, pipelines, now = () => new Date() } = deps.gpuPeak;
    refuseAtPeak(await gpuPeakRuleOf(tenants, pipelines, department), now());
  }
  const target = request.region === undefined ? await deps.regions.forDepartment(department) : deps.regions.inRegion(request.region, department);
  const { region, client, departmentSearchAttribute: hasDepartmentAttribute } = target;
  const memo: FlowMemo = { department, startedBy: starter.name, type: flow.type, ...(request.handoff ? { handoff: true } : {}),
    ...(request.handoff && request.handoffWait === 'parked' ? { handoffWait: 'parked' as const } : {}),
  };
  let runId: string;
  try {
    const handle = await client.workflow.start(flow.workflowName, {
      taskQueue: request.taskQueue,
      workflowId,
      args: [flow.input],
      memo: { ...memo },
      ...(hasDepartmentAttribute ? { typedSearchAttributes: [{ key: departmentSearchAttribute, value: department }] } : {}),
      ...(request.reuse === 'once'
        ? { workflowIdReusePolicy: 'REJECT_DUPLICATE' as const }
        : { workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const, workflowIdConflictPolicy: 'USE_EXISTING' as const }),
    });
    runId = handle.firstExecutionRunId;
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const existing = await client.workflow.getHandle(workflowId).describe();
    return { workflowId, runId: existing.runId, type: flow.type, department, created: false, region };
  }
  const created = runId !== request.replacesRunId;
  if (created) {
    const event = request.auditEvent ?? 'workflow-started';
    // Who started what is part of the audit trail, under the flow's department so that department
    // sees it; the dedupe key keeps a retried start of one run to one entry.
    await deps.store.audit.append({
      actor: starter.actor,
      department,
      subject: `workflow:${workflowId}`,
      event,
      workflowId,
      details: { type: flow.type, runId, region, ...request.auditDetails },
      dedupeKey: `${workflowId}:${runId}:${event}`,
    });
  }
  return { workflowId, runId, type: flow.type, department, created, region };
}
