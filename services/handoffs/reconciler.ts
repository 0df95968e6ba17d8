/**
 * The hand-off reconciler: keeps Airflow's task instances and Temporal's hand-off workflows in
 * step when one side changed without the other noticing.
 *
 * A. Every hand-off the store says is running: observe its workflow (closing the record if it
 *    ended), then read its Airflow task instance:
 *    - gone (404: the DAG run or task was deleted), ended without its hand-off (marked failed or
 *      success by hand, skipped, upstream failed, removed) or cleared (state none / restarting)
 *      → cancel the workflow, audited — nothing waits for it any more;
 *    - scheduled, queued, running, up for retry or reschedule → leave it: the next try attaches
 *      to the running workflow (shared/contracts/handoffs.ts);
 *    - deferred or parked (`awaiting_input`) while Temporal has no workflow → start it again from
 *      the stored input.
 * B. Every deferred or parked `TemporalHandoffOperator` task instance across all DAGs: a parked
 *    one whose workflow has closed was never resumed (its push was lost: the worker died, or the
 *    workflow was terminated or timed out and ran no last step) → resume it now
 *    (services/handoffs/parked.ts). Temporal has no
 *    workflow for it → start it again from the store; the store has no record of it →
 *    `unrecoverable` (without the recorded start nothing knows the input; the trigger gets 404
 *    and fails the task, which is the right outcome). A task starts from the triggerer, deferred
 *    before its trigger has started the hand-off, so a deferral younger than
 *    `triggerStartGraceMs` without a record is still starting and is left alone.
 * C. Every answered Human-in-the-loop request of a hand-off task: one answered by anyone but
 *    tandem's own Airflow user (Airflow lets that through when every user is an admin) whose task
 *    has not ended → fail the task with a note saying who answered; Part A then cancels the
 *    workflow. The operator itself fails such a task when it resumes; this covers a task that
 *    resumed some other way.
 *
 * Safe to run anywhere at any time: one reconciler never runs two passes at once (a tick while
 * one runs is skipped and counted), and every action is idempotent, so two API processes
 * reconciling at once are safe too — a cancel of a run already asked to cancel is a no-op in
 * Temporal, a restart starts with `USE_EXISTING` so two restarts land on the same run, and the
 * audit entries carry dedupe keys per run (services/handoffs/handoff-service.ts).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { handoffIdFor, type HandoffAirflowCoordinates } from '../../shared/contracts/handoffs.ts';
import type { HandoffReconcileReport } from '../../shared/contracts/handoff-reconciler.ts';
import type { AuditActor } from '../../shared/store/audit-log.ts';
import type { HandoffRecord } from '../../shared/store/handoffs.ts';
import type { Store } from '../../shared/store/store.ts';
import type { AirflowClient, AirflowTaskInstance } from '../airflow/client.ts';
import { AirflowApiError, AirflowNotFoundError } from '../airflow/errors.ts';
import type { HandoffService } from './handoff-service.ts';
import { NotParkedYetError, resumeParkedHandoff } from './parked.ts';

/** Class name of the deferrable operator of `handoff` stages (dags/tandem_airflow/operators/handoff.py). */
export const handoffOperatorClass = 'TemporalHandoffOperator';

const reconcilerActor: AuditActor = { kind: 'system', name: 'handoff-reconciler' };

/** One page of the deferred task instance list; all pages are read, up to `maxDeferredTaskInstances`. */
const deferredPageSize = 100;
const maxDeferredTaskInstances = 10_000;
/**
 * How long a deferred hand-off task may have no record: its trigger starts the hand-off in its first
 * moments (or hands the start to a worker, and the task leaves `deferred`); a slow triggerer start
 * (loading plugins on a busy machine) has been seen to take ~35 s.
 */
export const triggerStartGraceMs = 60_000;

/** When the task's current deferral began: its trigger's creation, else its start. */
function deferredSince(ti: AirflowTaskInstance): number | undefined {
  const at = ti.trigger?.created_date ?? ti.start_date;
  const ms = at ? Date.parse(at) : Number.NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

export type ReconcilerAction = 'cancelled' | 'restarted' | 'closed' | 'resumed' | 'refused' | 'unrecoverable';
const actions: readonly ReconcilerAction[] = ['cancelled', 'restarted', 'closed', 'resumed', 'refused', 'unrecoverable'];

export interface ReconcilerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface HandoffReconcilerOptions {
  handoffs: Pick<HandoffService, 'closeIfEnded' | 'describe' | 'cancel' | 'restart'>;
  store: Pick<Store, 'handoffs'>;
  airflow: Pick<
    AirflowClient,
    'getTaskInstance' | 'listTaskInstances' | 'getHitlDetail' | 'answerHitlDetail' | 'listHitlDetails' | 'patchTaskInstance' | 'username'
  >;
  log: ReconcilerLogger;
  /** Where the reconciler's metrics go (the app's `metricsRegistry`); one reconciler per registry. */
  registry: Registry;
}

/** What the task instance's state means for the workflow serving it. */
type Verdict = { kind: 'leave' } | { kind: 'waiting'; wait: 'triggerer' | 'parked' } | { kind: 'cancel'; reason: string };

/** Ended without the hand-off finishing it: someone marked it, or the run moved on without it. */
const endedStates = new Set(['failed', 'upstream_failed', 'skipped', 'removed', 'success']);
/** What Airflow shows for a task (or run) that was cleared and not yet scheduled again. */
const clearedStates = new Set([null, 'restarting']);

function describeTaskInstance(airflow: Pick<HandoffAirflowCoordinates, 'dagId' | 'runId' | 'taskId' | 'mapIndex'>): string {
  const mapped = airflow.mapIndex >= 0 ? `[${airflow.mapIndex}]` : '';
  return `${airflow.dagId}/${airflow.runId}/${airflow.taskId}${mapped}`;
}

function verdictFor(ti: AirflowTaskInstance | undefined, where: string): Verdict {
  if (!ti) return { kind: 'cancel', reason: `Airflow task instance ${where} was deleted` };
  if (clearedStates.has(ti.state)) return { kind: 'cancel', reason: `Airflow task instance ${where} was cleared` };
  if (ti.state === 'deferred') return { kind: 'waiting', wait: 'triggerer' };
  if (ti.state === 'awaiting_input') return { kind: 'waiting', wait: 'parked' };
  if (ti.state !== null && endedStates.has(ti.state)) {
    return { kind: 'cancel', reason: `Airflow task instance ${where} ended as ${ti.state} without its hand-off` };
  }
  // On its way to (re)attach, or a state this code does not know: never cancel on a guess.
  return { kind: 'leave' };
}

/** Airflow did not answer at all: every further call this pass would fail the same way, slowly. */
function airflowUnreachable(err: unknown): boolean {
  return err instanceof AirflowApiError && err.kind === 'unreachable';
}

function emptyReport(skipped: boolean): HandoffReconcileReport {
  return { skipped, cancelled: [], restarted: [], closed: [], resumed: [], refused: [], unrecoverable: [], errors: [] };
}

export class HandoffReconciler {
  readonly #handoffs: HandoffReconcilerOptions['handoffs'];
  readonly #store: HandoffReconcilerOptions['store'];
  readonly #airflow: HandoffReconcilerOptions['airflow'];
  readonly #log: ReconcilerLogger;
  readonly #actions: Counter<'action'>;
  readonly #errors: Counter;
  readonly #ticks: Counter<'outcome'>;
  readonly #tickSeconds: Histogram;
  readonly #running: Gauge;
  #inFlight: Promise<HandoffReconcileReport> | undefined;
  /**
   * Hand-off id → the run this reconciler already asked to cancel: the workflow may take a while
   * to clean up and close, and the next passes must not count (or log) it again.
   */
  readonly #cancelRequested = new Map<string, string>();

  constructor(options: HandoffReconcilerOptions) {
    this.#handoffs = options.handoffs;
    this.#store = options.store;
    this.#airflow = options.airflow;
    this.#log = options.log;
    const registers = [options.registry];
    this.#actions = new Counter({
      name: 'tandem_handoff_reconciler_actions_total',
      help: 'What the hand-off reconciler did, per hand-off',
      labelNames: ['action'],
      registers,
    });
    this.#errors = new Counter({
      name: 'tandem_handoff_reconciler_errors_total',
      help: 'Airflow, Temporal or store calls of the hand-off reconciler that failed (the rest of the pass still ran)',
      registers,
    });
    this.#ticks = new Counter({
      name: 'tandem_handoff_reconciler_ticks_total',
      help: 'Reconciler passes: ok, error (some call failed), skipped (a pass was already running)',
      labelNames: ['outcome'],
      registers,
    });
    this.#tickSeconds = new Histogram({
      name: 'tandem_handoff_reconciler_tick_seconds',
      help: 'Duration of one reconciler pass',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#running = new Gauge({
      name: 'tandem_handoffs_running',
      help: 'Hand-offs whose workflow is running, as of the last reconciler pass',
      registers,
    });
    // Zeroes from the start, so rates and alerts work before the first action.
    for (const action of actions) this.#actions.inc({ action }, 0);
    for (const outcome of ['ok', 'error', 'skipped']) this.#ticks.inc({ outcome }, 0);
  }

  /** One pass; skipped (and counted) when one is already running. Never rejects. */
  tick(): Promise<HandoffReconcileReport> {
    if (this.#inFlight) {
      this.#ticks.inc({ outcome: 'skipped' });
      return Promise.resolve(emptyReport(true));
    }
    const pass = this.#pass().finally(() => {
      this.#inFlight = undefined;
    });
    this.#inFlight = pass;
    return pass;
  }

  /** Resolves when no pass is running (the API awaits this on close). */
  async idle(): Promise<void> {
    await this.#inFlight;
  }

  async #pass(): Promise<HandoffReconcileReport> {
    const report = emptyReport(false);
    const endTimer = this.#tickSeconds.startTimer();
    try {
      const running = await this.#store.handoffs.listRunning();
      const seen = new Set<string>();
      let airflowDown = false;
      for (const record of running) {
        seen.add(record.handoffId);
        try {
          await this.#reconcileRunning(record, report, airflowDown);
        } catch (err) {
          this.#failed(report, err, record.handoffId);
          airflowDown ||= airflowUnreachable(err);
        }
      }
      this.#forgetClosed(seen);
      if (!airflowDown) await this.#reconcileWaiting(seen, report);
      if (!airflowDown) await this.#refuseForeignAnswers(report);
      this.#running.set((await this.#store.handoffs.listRunning()).length);
    } catch (err) {
      this.#failed(report, err);
    }
    endTimer();
    this.#ticks.inc({ outcome: report.errors.length > 0 ? 'error' : 'ok' });
    return report;
  }

  /** Part A: a hand-off the store says is running. */
  async #reconcileRunning(record: HandoffRecord, report: HandoffReconcileReport, airflowDown: boolean): Promise<void> {
    const id = record.handoffId;
    const state = await this.#handoffs.closeIfEnded(id);
    if (state.status !== 'pending') {
      this.#act(report, 'closed', id, `workflow ended ${state.status}`);
      return;
    }
    // Temporal is observed for every row; Airflow only while it answers.
    if (airflowDown) return;
    const where = describeTaskInstance(record.airflow);
    const verdict = verdictFor(await this.#taskInstance(record.airflow), where);
    if (verdict.kind === 'leave') return;
    const description = await this.#handoffs.describe(id, record);
    if (verdict.kind === 'waiting') {
      if (description) return;
      const how = verdict.wait === 'parked' ? 'parked' : 'deferred';
      await this.#handoffs.restart(record, reconcilerActor, `Airflow task instance ${where} is ${how} but Temporal has no workflow`, verdict.wait);
      this.#act(report, 'restarted', id, `Airflow task instance ${where} is ${how} but Temporal had no workflow`);
      return;
    }
    if (!description) {
      // Temporal lost the workflow and Airflow no longer waits for it: nothing to cancel, but the
      // record must stop counting as running.
      if (await this.#store.handoffs.markClosed(id, record.runId, 'cancelled', verdict.reason)) {
        this.#act(report, 'closed', id, `${verdict.reason}; Temporal had no workflow`);
      }
      return;
    }
    if (this.#cancelRequested.get(id) === description.runId) return;
    const after = await this.#handoffs.cancel(id, reconcilerActor, verdict.reason);
    if (after.status === 'pending') {
      this.#cancelRequested.set(id, description.runId);
      this.#act(report, 'cancelled', id, verdict.reason);
    } else {
      // It ended between the two reads; its record is closed now.
      this.#act(report, 'closed', id, `workflow ended ${after.status}`);
    }
  }

  /**
   * Part B: waiting hand-off tasks. A parked one whose workflow closed is resumed (Part A has just
   * closed its record, so seen ones count too); a deferred one Part A did not see may have lost
   * its workflow.
   */
  async #reconcileWaiting(seen: ReadonlySet<string>, report: HandoffReconcileReport): Promise<void> {
    for (const ti of await this.#waitingHandoffTaskInstances()) {
      const airflow = { dagId: ti.dag_id, runId: ti.dag_run_id, taskId: ti.task_id, mapIndex: ti.map_index };
      const id = handoffIdFor(airflow);
      if (ti.state === 'awaiting_input') {
        await this.#reconcileParked(id, describeTaskInstance(airflow), seen.has(id), report);
        continue;
      }
      if (seen.has(id)) continue;
      try {
        const record = await this.#store.handoffs.get(id);
        const where = describeTaskInstance(airflow);
        if (!record) {
          const since = deferredSince(ti);
          // Its trigger is (probably) starting it right now.
          if (since !== undefined && Date.now() - since < triggerStartGraceMs) continue;
          this.#act(report, 'unrecoverable', id, `Airflow task instance ${where} is deferred but tandem has no record of its hand-off start; the task will fail`);
          continue;
        }
        if (await this.#handoffs.describe(id, record)) continue;
        await this.#handoffs.restart(record, reconcilerActor, `Airflow task instance ${where} is deferred but Temporal has no workflow`);
        this.#act(report, 'restarted', id, `Airflow task instance ${where} is deferred but Temporal had no workflow`);
      } catch (err) {
        this.#failed(report, err, id);
      }
    }
  }

  /** A parked hand-off task: resumed when its workflow has closed, started again when Temporal lost it. */
  async #reconcileParked(id: string, where: string, seen: boolean, report: HandoffReconcileReport): Promise<void> {
    try {
      const record = await this.#store.handoffs.get(id);
      // A task parks only after its start was recorded; without a record there is nothing to resume with.
      if (!record) return;
      const description = await this.#handoffs.describe(id, record);
      if (description?.status.name === 'RUNNING') return;
      if (!description) {
        if (seen) return; // Part A started it again
        await this.#handoffs.restart(record, reconcilerActor, `Airflow task instance ${where} is parked but Temporal has no workflow`, 'parked');
        this.#act(report, 'restarted', id, `Airflow task instance ${where} is parked but Temporal had no workflow`);
        return;
      }
      const resumed = await resumeParkedHandoff({ store: this.#store, airflow: this.#airflow }, id);
      if (resumed.outcome === 'resumed') {
        this.#act(report, 'resumed', id, `Airflow task instance ${where} was still parked after its workflow ended ${description.status.name.toLowerCase()}`);
      }
    } catch (err) {
      if (err instanceof NotParkedYetError) return; // parked moments ago: the next pass resumes it
      this.#failed(report, err, id);
    }
  }

  /** Part C: hand-off tasks answered by someone other than tandem, not yet ended: failed, saying who. */
  async #refuseForeignAnswers(report: HandoffReconcileReport): Promise<void> {
    const tandem = this.#airflow.username;
    const answered = [];
    while (answered.length < maxDeferredTaskInstances) {
      const page = await this.#airflow.listHitlDetails({
        response_received: true,
        // Only tasks that have not ended yet: once failed, there is nothing left to do.
        state: ['awaiting_input', 'scheduled', 'queued', 'running', 'up_for_retry'],
        order_by: 'ti_id',
        limit: deferredPageSize,
        offset: answered.length,
      });
      answered.push(...page.hitl_details);
      if (page.hitl_details.length < deferredPageSize) break;
    }
    for (const detail of answered) {
      const ti = detail.task_instance;
      const responder = detail.responded_by_user?.id;
      if (ti.operator !== handoffOperatorClass || responder === tandem || ti.state === null || endedStates.has(ti.state)) continue;
      const airflow = { dagId: ti.dag_id, runId: ti.dag_run_id, taskId: ti.task_id, mapIndex: ti.map_index };
      const id = handoffIdFor(airflow);
      const reason =
        `parked hand-off ${id} was answered in Airflow by ${responder ? `user ${responder}` : 'a timeout'}, not by tandem (${tandem}): ` +
        'only tandem resumes a parked hand-off; the task is failed and its workflow cancelled';
      try {
        await this.#airflow.patchTaskInstance(airflow.dagId, airflow.runId, airflow.taskId, airflow.mapIndex, {
          new_state: 'failed',
          note: reason.slice(0, 1000),
        });
        this.#act(report, 'refused', id, reason);
      } catch (err) {
        this.#failed(report, err, id);
      }
    }
  }

  async #waitingHandoffTaskInstances(): Promise<AirflowTaskInstance[]> {
    const all: AirflowTaskInstance[] = [];
    while (all.length < maxDeferredTaskInstances) {
      const page = await this.#airflow.listTaskInstances('~', '~', {
        state: ['deferred', 'awaiting_input'],
        operator: [handoffOperatorClass],
        // A stable order, so offset paging neither skips nor repeats rows.
        order_by: 'id',
        limit: deferredPageSize,
        offset: all.length,
      });
      all.push(...page.task_instances);
      if (page.task_instances.length < deferredPageSize) break;
    }
    return all;
  }

  /** The task instance at these coordinates; undefined when Airflow says it (or its run) is gone. */
  async #taskInstance(airflow: HandoffAirflowCoordinates): Promise<AirflowTaskInstance | undefined> {
    try {
      return await this.#airflow.getTaskInstance(airflow.dagId, airflow.runId, airflow.taskId, airflow.mapIndex);
    } catch (err) {
      if (err instanceof AirflowNotFoundError) return undefined;
      throw err;
    }
  }

  #forgetClosed(running: ReadonlySet<string>): void {
    for (const id of this.#cancelRequested.keys()) {
      if (!running.has(id)) this.#cancelRequested.delete(id);
    }
  }

  #act(report: HandoffReconcileReport, action: ReconcilerAction, handoffId: string, reason: string): void {
    report[action].push(handoffId);
    this.#actions.inc({ action });
    const line = `hand-off reconciler: ${action} ${handoffId} (${reason})`;
    if (action === 'unrecoverable' || action === 'restarted' || action === 'refused' || action === 'resumed') this.#log.warn({ handoffId, action, reason }, line);
    else this.#log.info({ handoffId, action, reason }, line);
  }

  #failed(report: HandoffReconcileReport, err: unknown, handoffId?: string): void {
    const message = err instanceof Error ? err.message : String(err);
    report.errors.push(handoffId ? { handoffId, message } : { message });
    this.#errors.inc();
    this.#log.error({ err, handoffId }, `hand-off reconciler: ${handoffId ?? 'pass'} failed: ${message}`);
  }
}
