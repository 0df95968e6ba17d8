/**
 * Airflow → Temporal hand-offs, the part both the control API (/v1/handoffs) and the reconciler
 * use: start or attach to the workflow serving a task instance, tell how it stands (optionally
 * waiting for it to close), cancel it, and start again a workflow Temporal lost.
 *
 * The rules for which Temporal run serves which Airflow try are in shared/contracts/handoffs.ts.
 * The store row (shared/store/handoffs.ts) is written when a run starts and closed when someone
 * observes its end; Temporal stays the source of truth for whether a run is running.
 */
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import {
  handoffIdFor,
  type HandoffState,
  type HandoffStarted,
  type HandoffStatus,
  type StartHandoffRequest,
} from '../../shared/contracts/handoffs.ts';
import type { Principal } from '../../shared/contracts/principal.ts';
import { scopeIncludes } from '../../shared/contracts/roles.ts';
import { AirflowUnavailableError, ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../shared/errors.ts';
import { openJson, sealJson } from '../../shared/payload-codec.ts';
import { auditActorOf, type AuditActor } from '../../shared/store/audit-log.ts';
import type { HandoffRecord, HandoffRecordStatus } from '../../shared/store/handoffs.ts';
import type { Store } from '../../shared/store/store.ts';
import type { AirflowClient } from '../airflow/client.ts';
import { inputDepartmentOf, parseFlow, startWorkflow, type WorkflowStartDeps } from '../flows/start-workflow.ts';
import { innermostMessage } from '../flows/workflow-state.ts';
import { handoffStartDecision, type LatestRun } from './attach-or-start.ts';

export interface HandoffLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface HandoffServiceOptions {
  client: Client;
  taskQueue: string;
  store: Store;
  log: HandoffLogger;
  /** Base URL of the Temporal Web UI, when there is one to link to. */
  temporalUiUrl?: string;
  /** The namespace has the TandemDepartment search attribute, so started workflows carry it. */
  departmentSearchAttribute?: boolean;
  /** Airflow's REST client, to write a hand-off's result as its task's XCom (`publishResult`). */
  airflow?: Pick<AirflowClient, 'setXcom'> | undefined;
}

/** temporal.api.enums.v1.HistoryEventFilterType.CLOSE_EVENT (@temporalio/proto is not a direct dependency). */
const HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT = 2;

interface Outcome {
  status: Exclude<HandoffStatus, 'pending'>;
  result?: unknown;
  reason?: string;
}

/** Review outcomes that complete the workflow but must fail the Airflow task. */
const unsuccessfulReviewOutcomes: Record<string, Outcome['status']> = {
  rejected: 'rejected',
  'changes-requested': 'rejected',
  expired: 'expired',
};

function latestOf(description: WorkflowExecutionDescription | undefined): LatestRun | undefined {
  return description && { runId: description.runId, running: description.status.name === 'RUNNING' };
}

function describeOutcome(result: unknown): Outcome {
  const review = result as { outcome?: unknown; decidedBy?: unknown; comment?: unknown } | null;
  const status = typeof review?.outcome === 'string' ? unsuccessfulReviewOutcomes[review.outcome] : undefined;
  if (!status) return { status: 'succeeded', result };
  const by = typeof review!.decidedBy === 'string' ? ` by ${review!.decidedBy}` : '';
  const comment = typeof review!.comment === 'string' && review!.comment ? `: ${JSON.stringify(review!.comment)}` : '';
  const reason = status === 'expired' ? 'review expired without a decision' : `review ${String(review!.outcome)}${by}${comment}`;
  return { status, result, reason };
}

const closedStatus: Record<string, Outcome['status'] | undefined> = {
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed-out',
};

export class HandoffService {
  readonly #client: Client;
  readonly #taskQueue: string;
  readonly #store: Store;
  readonly #log: HandoffLogger;
  readonly #temporalUiUrl: string | undefined;
  readonly #airflow: Pick<AirflowClient, 'setXcom'> | undefined;
  readonly #starting: WorkflowStartDeps;

  constructor(options: HandoffServiceOptions) {
    this.#airflow = options.airflow;
    this.#client = options.client;
    this.#taskQueue = options.taskQueue;
    this.#store = options.store;
    this.#log = options.log;
    this.#temporalUiUrl = options.temporalUiUrl?.replace(/\/+$/, '');
    this.#starting = { client: options.client, store: options.store, departmentSearchAttribute: options.departmentSearchAttribute ?? false };
  }

  get #codec(): PayloadCodec | undefined {
    return this.#client.options.loadedDataConverter.payloadCodecs[0];
  }

  /** Start (or attach to) the workflow of a task instance; see shared/contracts/handoffs.ts. */
  async start(request: StartHandoffRequest, principal: Principal): Promise<HandoffStarted> {
    const flow = parseFlow(request.workflowType, request.input);
    // A hand-off belongs to its pipeline's department; an input naming another one is a contradiction.
    const own = inputDepartmentOf(flow.input);
    if (own !== undefined && own !== request.department) {
      throw new ValidationError(`input.department ${own} differs from the hand-off's department ${request.department}`, [
        { path: 'input.department', message: `must be ${request.department}, the department of the hand-off` },
      ]);
    }
    if (!scopeIncludes(principal.department, request.department)) {
      throw new ForbiddenError(`key ${principal.name} may not start hand-offs for department ${request.department}`);
    }
    const handoffId = handoffIdFor(request.airflow);
    const tryNumber = request.airflow.tryNumber;
    let existing = await this.describe(handoffId);
    const record = await this.#store.handoffs.get(handoffId);
    const recorded = record && { runId: record.runId, status: record.status, tryNumber: record.airflow.tryNumber };
    let decision = handoffStartDecision(latestOf(existing), recorded, tryNumber);
    if (decision === 'wait-for-cancel') {
      await this.#waitForClose(handoffId, 20_000);
      existing = await this.describe(handoffId);
      decision = handoffStartDecision(latestOf(existing), recorded, tryNumber, { waitedForCancel: true });
    }
    if (decision === 'attach') {
      if (record?.runId === existing!.runId) await this.#store.handoffs.recordTry(handoffId, tryNumber);
      else await this.#recordRun(request, flow.input, existing!.runId, principal.name);
      return { ...(await this.#stateOf(handoffId, existing)), created: false };
    }
    if (decision === 'return-closed') return { ...(await this.#stateOf(handoffId, existing)), created: false };
    const started = await startWorkflow(this.#starting, {
      flow,
      workflowId: handoffId,
      department: request.department,
      starter: { scope: principal.department, name: principal.name, actor: auditActorOf(principal) },
      taskQueue: this.#taskQueue,
      reuse: 'per-attempt',
      replacesRunId: existing?.runId,
      handoff: true,
      auditDetails: { airflow: request.airflow, pipelineId: request.pipelineId, partition: request.partition },
    });
    await this.#recordRun(request, flow.input, started.runId, principal.name);
    if (started.created) {
      this.#log.info({ handoffId, runId: started.runId, workflowType: request.workflowType, tryNumber }, 'hand-off started');
    }
    return { ...(await this.#stateOf(handoffId)), created: started.created };
  }

  /**
   * How the hand-off stands. With `waitMs`, waits up to that long for the workflow to close
   * first (Temporal's own long poll: the answer comes as soon as it closes).
   */
  async state(handoffId: string, principal: Principal, options: { waitMs?: number; signal?: AbortSignal } = {}): Promise<HandoffState> {
    await this.#recordFor(handoffId, principal);
    // Returns at once for a closed run (its close event is there); a cancelled run may still be cleaning up.
    if (options.waitMs) await this.#waitForClose(handoffId, options.waitMs, options.signal);
    return this.#stateOf(handoffId);
  }

  /**
   * Request cancellation of the running workflow (the workflow cleans up), with an audit entry.
   * `principal` (an API caller) must see the hand-off; the reconciler cancels without one.
   */
  async cancel(handoffId: string, actor: AuditActor, reason: string, principal?: Principal): Promise<HandoffState> {
    const record = await this.#recordFor(handoffId, principal);
    const description = await this.describe(handoffId);
    if (description?.status.name === 'RUNNING') {
      await this.#client.workflow.getHandle(handoffId, description.runId).cancel();
      // Closed in the store at once: a start arriving while the workflow cleans up must not
      // attach to it (see `start`), and the reconciler must not cancel it again.
      await this.#store.handoffs.markClosed(handoffId, description.runId, 'cancelled', reason);
      this.#log.info({ handoffId, runId: description.runId, reason }, 'hand-off cancellation requested');
      await this.#audit(record.department, actor, handoffId, description.runId, 'handoff-cancelled', { reason, airflow: record.airflow });
    }
    return this.#stateOf(handoffId, description);
  }

  /**
   * Writes a succeeded hand-off's result as its task instance's `return_value` XCom, through
   * Airflow's REST API. The trigger calls this just before it ends the task from the triggerer,
   * so downstream tasks read the result as the dict it is (see AirflowClient.setXcom for why the
   * trigger's own XCom path will not do). Idempotent.
   */
  async publishResult(handoffId: string, principal: Principal): Promise<HandoffState> {
    const state = await this.state(handoffId, principal);
    if (state.status !== 'succeeded') throw new ConflictError(`hand-off ${handoffId} is ${state.status}; only a succeeded hand-off has a result to publish`);
    if (!this.#airflow) throw new AirflowUnavailableError('this API runs without an Airflow client, so it cannot write XComs');
    const { dagId, runId, taskId, mapIndex } = state.airflow;
    await this.#airflow.setXcom(dagId, runId, taskId, 'return_value', state.result ?? null, mapIndex);
    this.#log.info({ handoffId, dagId, dagRunId: runId, taskId, mapIndex }, 'hand-off result written as XCom');
    return state;
  }

  /** The reconciler found the task deferred but Temporal has no workflow: start it again from the store. */
  async restart(record: HandoffRecord, actor: AuditActor, reason: string): Promise<string> {
    const codec = this.#codec;
    const input = codec ? await openJson(record.sealedInput, codec) : (JSON.parse(record.sealedInput) as unknown);
    const started = await startWorkflow(this.#starting, {
      flow: parseFlow(record.workflowType, input),
      workflowId: record.handoffId,
      department: record.department,
      // Started again on behalf of whoever started it first, within that hand-off's own department.
      starter: { scope: record.department, name: record.startedBy, actor },
      taskQueue: this.#taskQueue,
      reuse: 'per-attempt',
      handoff: true,
      auditEvent: 'handoff-restarted',
      auditDetails: { reason, airflow: record.airflow },
    });
    await this.#store.handoffs.recordRun({ ...record, runId: started.runId });
    this.#log.warn({ handoffId: record.handoffId, runId: started.runId, reason }, 'hand-off workflow started again');
    return started.runId;
  }

  /**
   * The reconciler's read: observes the latest run and closes the store row when it has ended.
   * No department check (the reconciler acts for every department); the state as the API shows it.
   */
  async closeIfEnded(handoffId: string): Promise<HandoffState> {
    return this.#stateOf(handoffId);
  }

  /** Temporal's view of the latest run of the hand-off; undefined when Temporal has none. */
  async describe(handoffId: string): Promise<WorkflowExecutionDescription | undefined> {
    try {
      return await this.#client.workflow.getHandle(handoffId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** The hand-off's record; another department's hand-off answers exactly like a missing one. */
  async #recordFor(handoffId: string, principal?: Principal): Promise<HandoffRecord> {
    const record = await this.#store.handoffs.get(handoffId);
    if (!record || (principal && !scopeIncludes(principal.department, record.department))) {
      throw new NotFoundError(`hand-off ${handoffId} not found`);
    }
    return record;
  }

  async #recordRun(request: StartHandoffRequest, input: unknown, runId: string, startedBy: string): Promise<void> {
    const codec = this.#codec;
    // Without a codec (tests with an unencrypted client) the input is kept as plain JSON.
    const sealedInput = codec ? await sealJson(input, codec) : JSON.stringify(input);
    await this.#store.handoffs.recordRun({
      handoffId: handoffIdFor(request.airflow),
      workflowType: request.workflowType,
      department: request.department,
      pipelineId: request.pipelineId,
      partition: request.partition,
      airflow: request.airflow,
      runId,
      sealedInput,
      startedBy,
    });
  }

  async #audit(department: string, actor: AuditActor, handoffId: string, runId: string, event: 'handoff-cancelled', details: Record<string, unknown>) {
    await this.#store.audit.append({
      actor,
      department,
      subject: `workflow:${handoffId}`,
      event,
      workflowId: handoffId,
      details: { ...details, runId },
      dedupeKey: `${handoffId}:${runId}:${event}`,
    });
  }

  /**
   * Waits on Temporal's close-event long poll of the latest run. Temporal answers every ~20 s
   * with an empty page while the run is open, so the poll repeats until the deadline.
   */
  async #waitForClose(handoffId: string, waitMs: number, signal?: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), waitMs);
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const { namespace } = this.#client.options;
    let nextPageToken: Uint8Array | undefined;
    try {
      while (!controller.signal.aborted) {
        const page = await this.#client.connection.withAbortSignal(controller.signal, () =>
          this.#client.workflowService.getWorkflowExecutionHistory({
            namespace,
            execution: { workflowId: handoffId },
            waitNewEvent: true,
            historyEventFilterType: HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
            skipArchival: true,
            nextPageToken,
          }),
        );
        if ((page.history?.events?.length ?? 0) > 0) return;
        nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      }
    } catch (err) {
      // The deadline or the caller hanging up ends the wait; the state read after it tells the rest.
      if (controller.signal.aborted) return;
      // Temporal lost the workflow: the reconciler starts it again. Answer `pending` when the
      // wait is over, not at once, so a polling trigger does not spin until then.
      if (err instanceof WorkflowNotFoundError || (err as { code?: number }).code === 5) {
        await new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
        return;
      }
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #stateOf(handoffId: string, known?: WorkflowExecutionDescription): Promise<HandoffState> {
    const record = await this.#recordFor(handoffId);
    const description = known ?? (await this.describe(handoffId));
    const state: HandoffState = {
      handoffId,
      workflowId: handoffId,
      runId: description?.runId ?? record.runId,
      workflowType: record.workflowType,
      department: record.department,
      pipelineId: record.pipelineId,
      partition: record.partition,
      airflow: record.airflow,
      status: 'pending',
      startedAt: description?.startTime.toISOString() ?? record.updatedAt,
      closedAt: description?.closeTime?.toISOString() ?? null,
      links: this.#links(handoffId, description?.runId ?? record.runId),
    };
    // Not running and not known to Temporal: pending until the reconciler starts it again.
    if (!description || description.status.name === 'RUNNING') return state;
    const outcome = await this.#outcomeOf(handoffId, description);
    await this.#closeRecord(record, description.runId, outcome);
    return { ...state, ...outcome };
  }

  async #outcomeOf(handoffId: string, description: WorkflowExecutionDescription): Promise<Outcome> {
    const name = description.status.name;
    const handle = this.#client.workflow.getHandle(handoffId, description.runId, { followRuns: false });
    if (name === 'COMPLETED') return describeOutcome(await handle.result());
    if (name === 'FAILED') {
      const reason = await handle.result().then(() => 'workflow failed', innermostMessage);
      return { status: 'failed', reason };
    }
    const status = closedStatus[name] ?? 'failed';
    return { status, reason: `workflow ${status}` };
  }

  async #closeRecord(record: HandoffRecord, runId: string, outcome: Outcome): Promise<void> {
    const status: Exclude<HandoffRecordStatus, 'running'> = outcome.status;
    if (await this.#store.handoffs.markClosed(record.handoffId, runId, status, outcome.reason ?? null)) {
      this.#log.info({ handoffId: record.handoffId, runId, status, reason: outcome.reason }, 'hand-off closed');
    }
  }

  #links(handoffId: string, runId: string): HandoffState['links'] {
    const id = encodeURIComponent(handoffId);
    const links: HandoffState['links'] = { workflow: `/v1/workflows/${id}` };
    if (this.#temporalUiUrl) {
      links.temporalUi = `${this.#temporalUiUrl}/namespaces/${encodeURIComponent(this.#client.options.namespace)}/workflows/${id}/${runId}/history`;
    }
    return links;
  }
}
