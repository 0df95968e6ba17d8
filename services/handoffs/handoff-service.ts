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
import { AirflowNotFoundError } from '../airflow/errors.ts';
import { inputDepartmentOf, parseFlow, startWorkflow, type WorkflowStartDeps } from '../flows/start-workflow.ts';
import type { RegionalTemporal } from '../flows/regional-temporal.ts';
import { innermostMessage } from '../flows/workflow-state.ts';
import { handoffStartDecision, type LatestRun, type RecordedRun } from './attach-or-start.ts';

export interface HandoffLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface HandoffServiceOptions {
  /**
   * A hand-off starts in its department's region and stays there (its record keeps the region):
   * every call goes to that region's client.
   */
  regions: Pick<RegionalTemporal, 'forDepartment' | 'inRegion'>;
  taskQueue: string;
  store: Store;
  log: HandoffLogger;
  /** Base URL of the Temporal Web UI, when there is one to link to. */
  temporalUiUrl?: string;
  /**
   * Airflow's REST client, to write a hand-off's result as its task's XCom (`publishResult`) and
   * end its deferred task (`completeTask`); its user is the `resumer` a parked start is answered
   * with (tandem's own Airflow identity).
   */
  airflow?: HandoffAirflow | undefined;
}

type HandoffAirflow = Pick<AirflowClient, 'setXcom' | 'getTaskInstance' | 'getTaskInstanceTry' | 'patchTaskInstance' | 'username'>;

/** Where a hand-off's workflow lives: its region, and the department a refusal names. */
export type HandoffWhere = Pick<HandoffRecord, 'department' | 'region'>;

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
  readonly #regions: Pick<RegionalTemporal, 'forDepartment' | 'inRegion'>;
  readonly #taskQueue: string;
  readonly #store: Store;
  readonly #log: HandoffLogger;
  readonly #temporalUiUrl: string | undefined;
  readonly #airflow: HandoffAirflow | undefined;
  readonly #starting: WorkflowStartDeps;

  constructor(options: HandoffServiceOptions) {
    this.#airflow = options.airflow;
    this.#regions = options.regions;
    this.#taskQueue = options.taskQueue;
    this.#store = options.store;
    this.#log = options.log;
    this.#temporalUiUrl = options.temporalUiUrl?.replace(/\/+$/, '');
    this.#starting = { regions: options.regions, store: options.store };
  }

  #clientAt(where: HandoffWhere): Client {
    return this.#regions.inRegion(where.region, where.department).client;
  }

  /** Every region's client has the process's one keyring. */
  #codecAt(where: HandoffWhere): PayloadCodec | undefined {
    return this.#clientAt(where).options.loadedDataConverter.payloadCodecs[0];
  }

  /** Start (or attach to) the workflow of a task instance; see shared/contracts/handoffs.ts. */
  async start(request: StartHandoffRequest, principal: Principal): Promise<HandoffStarted> {
    const started = await this.#start(request, principal);
    // A parked task is assigned to tandem's Airflow user alone; without one it must not park.
    if (request.wait !== 'parked' || !this.#airflow) return started;
    return { ...started, resumer: { id: this.#airflow.username, name: this.#airflow.username } };
  }

  async #start(request: StartHandoffRequest, principal: Principal): Promise<HandoffStarted> {
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
    // A hand-off stays in the region it began in (a later try included); a new one starts in its department's.
    const region = (await this.#store.handoffs.get(handoffId))?.region ?? (await this.#regions.forDepartment(request.department)).region;
    const where = { department: request.department, region };
    let existing = await this.describe(handoffId, where);
    const record = await this.#store.handoffs.get(handoffId);
    // A closed run's outcome, which its record holds only once someone has read it (and which a
    // duplicate start answers with).
    const closedState =
      record && existing && existing.status.name !== 'RUNNING' && existing.runId === record.runId
        ? await this.#stateOf(handoffId, existing)
        : undefined;
    const recorded: RecordedRun | undefined = record && { runId: record.runId, status: closedState?.status ?? record.status, tryNumber: record.airflow.tryNumber };
    const canAskAirflow = this.#airflow !== undefined;
    let decision = handoffStartDecision(latestOf(existing), recorded, tryNumber, { canAskAirflow });
    if (decision === 'wait-for-cancel') {
      await this.#waitForClose(handoffId, where, 20_000);
      existing = await this.describe(handoffId, where);
      decision = handoffStartDecision(latestOf(existing), recorded, tryNumber, { waitedForCancel: true, canAskAirflow });
    }
    if (decision === 'ask-airflow') {
      const servedTrySucceeded = await this.#trySucceeded(request.airflow, recorded!.tryNumber);
      decision = handoffStartDecision(latestOf(existing), recorded, tryNumber, { canAskAirflow, servedTrySucceeded });
      if (decision === 'return-closed') {
        this.#log.warn(
          { handoffId, tryNumber, servedTry: recorded!.tryNumber },
          'hand-off retried after its workflow succeeded but before Airflow recorded the outcome: answering that outcome',
        );
      }
    }
    if (decision === 'attach') {
      if (record?.runId === existing!.runId) await this.#store.handoffs.recordTry(handoffId, tryNumber);
      else await this.#recordRun(request, region, flow.input, existing!.runId, principal.name);
      return { ...(await this.#stateOf(handoffId, existing)), created: false };
    }
    if (decision === 'return-closed') return { ...(closedState ?? (await this.#stateOf(handoffId, existing))), created: false };
    const started = await startWorkflow(this.#starting, {
      flow,
      workflowId: handoffId,
      department: request.department,
      starter: { scope: principal.department, name: principal.name, actor: auditActorOf(principal) },
      taskQueue: this.#taskQueue,
      region,
      reuse: 'per-attempt',
      replacesRunId: existing?.runId,
      handoff: true,
      handoffWait: request.wait,
      auditDetails: { airflow: request.airflow, pipelineId: request.pipelineId, partition: request.partition },
    });
    await this.#recordRun(request, region, flow.input, started.runId, principal.name);
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
    const record = await this.#recordFor(handoffId, principal);
    // Returns at once for a closed run (its close event is there); a cancelled run may still be cleaning up.
    if (options.waitMs) await this.#waitForClose(handoffId, record, options.waitMs, options.signal);
    return this.#stateOf(handoffId);
  }

  /**
   * Request cancellation of the running workflow (the workflow cleans up), with an audit entry.
   * `principal` (an API caller) must see the hand-off; the reconciler cancels without one.
   */
  async cancel(handoffId: string, actor: AuditActor, reason: string, principal?: Principal): Promise<HandoffState> {
    const record = await this.#recordFor(handoffId, principal);
    const description = await this.describe(handoffId, record);
    if (description?.status.name === 'RUNNING') {
      await this.#clientAt(record).workflow.getHandle(handoffId, description.runId).cancel();
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
   * Airflow's REST API. The trigger calls this when `completeTask` could not end the task, just
   * before it ends the task with its event, so downstream tasks read the result as the dict it
   * is (see AirflowClient.setXcom for why the trigger's own XCom path will not do). Idempotent.
   */
  async publishResult(handoffId: string, principal: Principal): Promise<HandoffState> {
    return (await this.#publish(handoffId, principal)).state;
  }

  /**
   * Ends a succeeded hand-off's deferred task now: writes the result XCom (as `publishResult`),
   * then marks the task instance `success` through Airflow's REST API. The trigger asks for this
   * instead of only yielding its `TaskSuccessEvent`, which Airflow's trigger runner passes on at
   * its next loop, up to a second later; the event that follows finds no deferred task and is a
   * no-op. Only the try this hand-off serves, and only while it is deferred: anything else (the
   * task was cleared, or already ended) is a 409, and the trigger's event path decides.
   */
  async completeTask(handoffId: string, principal: Principal): Promise<HandoffState> {
    const { state, airflow } = await this.#publish(handoffId, principal);
    const { dagId, runId, taskId, mapIndex, tryNumber } = state.airflow;
    const ti = await airflow.getTaskInstance(dagId, runId, taskId, mapIndex);
    if (ti.state !== 'deferred' || ti.try_number !== tryNumber) {
      throw new ConflictError(`hand-off ${handoffId} serves try ${tryNumber}; the task instance is ${ti.state ?? 'without a state'} in try ${ti.try_number}`);
    }
    await airflow.patchTaskInstance(dagId, runId, taskId, mapIndex, { new_state: 'success' });
    this.#log.info({ handoffId, dagId, dagRunId: runId, taskId, mapIndex }, 'hand-off task ended as succeeded through the REST API');
    return state;
  }

  /** Writes a succeeded hand-off's result as its task instance's `return_value` XCom. */
  async #publish(handoffId: string, principal: Principal): Promise<{ state: HandoffState; airflow: HandoffAirflow }> {
    const state = await this.state(handoffId, principal);
    if (state.status !== 'succeeded') throw new ConflictError(`hand-off ${handoffId} is ${state.status}; only a succeeded hand-off has a result to publish`);
    if (!this.#airflow) throw new AirflowUnavailableError('this API runs without an Airflow client, so it cannot write XComs');
    const { dagId, runId, taskId, mapIndex } = state.airflow;
    await this.#airflow.setXcom(dagId, runId, taskId, 'return_value', state.result ?? null, mapIndex);
    this.#log.info({ handoffId, dagId, dagRunId: runId, taskId, mapIndex }, 'hand-off result written as XCom');
    return { state, airflow: this.#airflow };
  }

  /**
   * The reconciler found the task waiting (deferred, or parked: `wait`) but Temporal has no
   * workflow: start it again from the store.
   */
  async restart(record: HandoffRecord, actor: AuditActor, reason: string, wait: 'parked' | 'triggerer' = 'triggerer'): Promise<string> {
    const codec = this.#codecAt(record);
    const input = codec ? await openJson(record.sealedInput, codec) : (JSON.parse(record.sealedInput) as unknown);
    const started = await startWorkflow(this.#starting, {
      flow: parseFlow(record.workflowType, input),
      workflowId: record.handoffId,
      department: record.department,
      // Started again on behalf of whoever started it first, within that hand-off's own department.
      starter: { scope: record.department, name: record.startedBy, actor },
      taskQueue: this.#taskQueue,
      // Where it ran, whatever the department's tenant says by now: never into another region.
      region: record.region,
      reuse: 'per-attempt',
      handoff: true,
      handoffWait: wait,
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

  /** Temporal's view (in the hand-off's region) of its latest run; undefined when Temporal has none. */
  async describe(handoffId: string, where: HandoffWhere): Promise<WorkflowExecutionDescription | undefined> {
    const client = this.#clientAt(where);
    try {
      return await client.workflow.getHandle(handoffId).describe();
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

  async #recordRun(request: StartHandoffRequest, region: string, input: unknown, runId: string, startedBy: string): Promise<void> {
    const codec = this.#codecAt({ department: request.department, region });
    // Without a codec (tests with an unencrypted client) the input is kept as plain JSON.
    const sealedInput = codec ? await sealJson(input, codec) : JSON.stringify(input);
    await this.#store.handoffs.recordRun({
      handoffId: handoffIdFor(request.airflow),
      workflowType: request.workflowType,
      department: request.department,
      region,
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
  async #waitForClose(handoffId: string, where: HandoffWhere, waitMs: number, signal?: AbortSignal): Promise<void> {
    const client = this.#clientAt(where);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), waitMs);
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const { namespace } = client.options;
    let nextPageToken: Uint8Array | undefined;
    try {
      while (!controller.signal.aborted) {
        const page = await client.connection.withAbortSignal(controller.signal, () =>
          client.workflowService.getWorkflowExecutionHistory({
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

  /** Whether Airflow recorded `tryNumber` of the task a success; a try it does not know did not succeed. */
  async #trySucceeded(task: StartHandoffRequest['airflow'], tryNumber: number): Promise<boolean> {
    try {
      return (await this.#airflow!.getTaskInstanceTry(task.dagId, task.runId, task.taskId, task.mapIndex, tryNumber)).state === 'success';
    } catch (err) {
      if (err instanceof AirflowNotFoundError) return false;
      // Guessing either way could ask a physician twice or skip a review that was asked for.
      throw new AirflowUnavailableError(
        `cannot tell whether try ${tryNumber} of ${task.taskId} succeeded (a cleared task) or died before Airflow recorded its outcome: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async #stateOf(handoffId: string, known?: WorkflowExecutionDescription): Promise<HandoffState> {
    const record = await this.#recordFor(handoffId);
    const client = this.#clientAt(record);
    const description = known ?? (await this.describe(handoffId, record));
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
      links: this.#links(handoffId, description?.runId ?? record.runId, client.options.namespace),
    };
    // Not running and not known to Temporal: pending until the reconciler starts it again.
    if (!description || description.status.name === 'RUNNING') return state;
    const outcome = await this.#outcomeOf(client, handoffId, description);
    await this.#closeRecord(record, description.runId, outcome);
    return { ...state, ...outcome };
  }

  async #outcomeOf(client: Client, handoffId: string, description: WorkflowExecutionDescription): Promise<Outcome> {
    const name = description.status.name;
    const handle = client.workflow.getHandle(handoffId, description.runId, { followRuns: false });
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

  #links(handoffId: string, runId: string, namespace: string): HandoffState['links'] {
    const id = encodeURIComponent(handoffId);
    const links: HandoffState['links'] = { workflow: `/v1/workflows/${id}` };
    if (this.#temporalUiUrl) {
      links.temporalUi = `${this.#temporalUiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${id}/${runId}/history`;
    }
    return links;
  }
}
