/**
 * How a durable flow stands, as `GET /v1/workflows/{id}` shows it: status, type, department, who
 * started it, and its result or failure once closed. Another department's workflow reads exactly
 * like a missing one, so ids are not a side channel.
 */
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Principal } from '../../shared/contracts/principal.ts';
import { allDepartments, scopeIncludes } from '../../shared/contracts/roles.ts';
import { workflowTypes, type WorkflowTypeName } from '../../shared/contracts/workflow-types.ts';
import { workflowWaitSchema, type listableWorkflowStatuses, type WorkflowState, type WorkflowSummary } from '../../shared/contracts/workflow-runs.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { departmentSearchAttribute } from './department-search-attribute.ts';
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
  const waiting = workflowWaitSchema.safeParse(memo.waiting);
  if (status === 'running' && waiting.success) state.waiting = waiting.data;
  if (status === 'completed') state.result = await handle.result();
  if (status === 'failed') state.failure = await handle.result().then(() => 'unknown failure', innermostMessage);
  return state;
}

/** Temporal's ExecutionStatus names in visibility queries, by our status name. */
const visibilityStatus: Record<(typeof listableWorkflowStatuses)[number], string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  terminated: 'Terminated',
  timed_out: 'TimedOut',
};

/** temporal.api.enums.v1.WorkflowExecutionStatus, by number. */
const statusByNumber: WorkflowSummary['status'][] = ['unknown', 'running', 'completed', 'failed', 'cancelled', 'terminated', 'continued_as_new', 'timed_out'];

export interface WorkflowListRequest {
  principal: Principal;
  type?: WorkflowTypeName | undefined;
  status?: (typeof listableWorkflowStatuses)[number] | undefined;
  pageSize: number;
  /** Temporal's own page token, as the previous page handed it out. */
  pageToken?: Uint8Array | undefined;
}

const utf8 = new TextDecoder();

function departmentOf(payload: { data?: Uint8Array | null } | undefined): string | null {
  if (!payload?.data) return null;
  const value = JSON.parse(utf8.decode(payload.data)) as unknown;
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : null;
}

function timestampOf(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): string | null {
  if (!ts?.seconds) return null;
  return new Date(Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

/** The visibility query of a department's flows (all of them for `*`), by type and status. */
export function workflowListQuery(request: Pick<WorkflowListRequest, 'principal' | 'type' | 'status'>): string {
  const clauses: string[] = [];
  if (request.principal.department !== allDepartments) clauses.push(`${departmentSearchAttribute.name} = '${request.principal.department}'`);
  if (request.type) clauses.push(`WorkflowType = '${workflowTypes[request.type].workflowName}'`);
  if (request.status) clauses.push(`ExecutionStatus = '${visibilityStatus[request.status]}'`);
  return clauses.join(' AND ');
}

/**
 * One page of the caller's department's flows (every department for `*`), newest first, through
 * Temporal's visibility store. Every value in the query comes from a closed set (zod enums, a
 * department id checked as a DNS label when its key was made), so nothing a caller sends is
 * spliced into it as text.
 */
export async function listWorkflows(client: Client, request: WorkflowListRequest): Promise<{ workflows: WorkflowSummary[]; nextPageToken: Uint8Array | null }> {
  const response = await client.workflowService.listWorkflowExecutions({
    namespace: client.options.namespace,
    pageSize: request.pageSize,
    query: workflowListQuery(request),
    ...(request.pageToken ? { nextPageToken: request.pageToken } : {}),
  });
  const workflows = (response.executions ?? []).map((execution) => {
    const workflowName = execution.type?.name ?? '';
    return {
      workflowId: execution.execution?.workflowId ?? '',
      runId: execution.execution?.runId ?? '',
      type: publicTypeOf.get(workflowName) ?? workflowName,
      status: statusByNumber[execution.status ?? 0] ?? 'unknown',
      department: departmentOf(execution.searchAttributes?.indexedFields?.[departmentSearchAttribute.name] ?? undefined),
      startedAt: timestampOf(execution.startTime) ?? '',
      closedAt: timestampOf(execution.closeTime),
    };
  });
  const token = response.nextPageToken;
  return { workflows, nextPageToken: token && token.length > 0 ? token : null };
}

/** Where a region's part of a merged list stands: Temporal's page token (null: the start) and how many of that page were shown. */
export interface RegionListPosition {
  token: Uint8Array | null;
  skip: number;
}

export interface RegionalListRequest extends Omit<WorkflowListRequest, 'pageToken'> {
  /** Per region still to list; undefined for the first page (every region from its start). */
  positions?: Record<string, RegionListPosition> | undefined;
}

/**
 * One page of flows from one or more regions (each its own namespace, so its own visibility),
 * newest first: a k-way merge of each region's newest-first pages. The cursor keeps each region's
 * page token and how far into that page the merge got, so a region's items neither repeat nor go
 * missing however the regions interleave. A region whose fetched items run out while it has
 * more ends the page early rather than letting an older item of another region jump ahead.
 */
export async function listWorkflowsAcross(
  regions: readonly { region: string; client: Client }[],
  request: RegionalListRequest,
): Promise<{ workflows: WorkflowSummary[]; next: Record<string, RegionListPosition> | null }> {
  const { positions, pageSize } = request;
  const active = regions.filter((r) => positions === undefined || positions[r.region] !== undefined);
  // Per region: up to two fetched pages after its position, enough for a whole page of this list.
  const lanes = await Promise.all(
    active.map(async ({ region, client }) => {
      const at = positions?.[region] ?? { token: null, skip: 0 };
      const pages: { token: Uint8Array | null; items: WorkflowSummary[]; next: Uint8Array | null }[] = [];
      let token = at.token;
      let available = 0;
      for (let fetched = 0; fetched < 2; fetched++) {
        const page = await listWorkflows(client, { ...request, pageToken: token ?? undefined });
        pages.push({ token, items: page.workflows, next: page.nextPageToken });
        available += page.workflows.length - (fetched === 0 ? at.skip : 0);
        if (available >= pageSize || !page.nextPageToken) break;
        token = page.nextPageToken;
      }
      return { region, pages, page: 0, index: at.skip };
    }),
  );
  type Lane = (typeof lanes)[number];
  const head = (lane: Lane): WorkflowSummary | undefined => lane.pages[lane.page]?.items[lane.index];
  // Moves a lane on to its next fetched page once the current one is used up.
  const settle = (lane: Lane): void => {
    while (lane.pages[lane.page] && lane.index >= lane.pages[lane.page]!.items.length && lane.pages[lane.page + 1]) {
      lane.page += 1;
      lane.index = 0;
    }
  };
  const more = (lane: Lane): boolean => lane.pages[lane.page]!.next !== null;
  lanes.forEach(settle);
  const workflows: WorkflowSummary[] = [];
  while (workflows.length < pageSize) {
    // A lane with nothing fetched left but more in Temporal could hold the next-newest item.
    if (lanes.some((lane) => head(lane) === undefined && more(lane))) break;
    let best: Lane | undefined;
    for (const lane of lanes) {
      const item = head(lane);
      if (item && (!best || item.startedAt > head(best)!.startedAt)) best = lane;
    }
    if (!best) break;
    workflows.push(head(best)!);
    best.index += 1;
    settle(best);
  }
  const next: Record<string, RegionListPosition> = {};
  for (const lane of lanes) {
    const page = lane.pages[lane.page]!;
    if (lane.index < page.items.length) next[lane.region] = { token: page.token, skip: lane.index };
    else if (page.next) next[lane.region] = { token: page.next, skip: 0 };
  }
  return { workflows, next: Object.keys(next).length > 0 ? next : null };
}
