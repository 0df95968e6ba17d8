/**
 * The pipeline domain behind `/v1/pipelines`: dry-run and apply a spec (parse → lint → generate →
 * deploy), read, pause, unpause and delete applied pipelines, trigger runs and backfills, and
 * read runs and partitions back from Airflow. The routes only parse HTTP and call this.
 *
 * Department scoping: a principal sees and changes only pipelines of departments its scope
 * includes; another department's pipeline answers exactly like a missing one (404).
 */
import { describeSchedule, parsePipelineSpec, type PipelineSpec, type PipelineValidation } from '../../shared/contracts/pipeline-spec.ts';
import type {
  ApplyResult,
  PartitionView,
  PipelineRunView,
  PipelineView,
  TriggeredRun,
  TriggerRequest,
} from '../../shared/contracts/pipelines.ts';
import type { PartitionFailureBody } from '../../shared/contracts/fingerprints.ts';
import type { Principal } from '../../shared/contracts/principal.ts';
import { departmentFilterOf, scopeIncludes } from '../../shared/contracts/roles.ts';
import { AirflowUnavailableError, ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../shared/errors.ts';
import { auditActorOf, type AuditEntry } from '../../shared/store/audit-log.ts';
import type { PartitionFingerprintState, PartitionRunRecord } from '../../shared/store/fingerprints.ts';
import type { PipelineRecord } from '../../shared/store/pipelines.ts';
import type { Store } from '../../shared/store/store.ts';
import { allTaskInstances, type AirflowClient } from '../airflow/client.ts';
import { deployDag, undeployDag } from './deployer.ts';
import type { LintOptions } from './lint.ts';
import { planPipeline, validationReport, type PipelinePlan } from './plan.ts';
import {
  failedTaskOf,
  failureReason,
  failureSummary,
  partitionFailedEntry,
  partitionKeyOf,
  partitionsByOutcome,
  pipelineRunFinishedEntry,
  type RunPartitionOutcomes,
} from './run-outcomes.ts';
import { listPipelineRuns, partitionsOfRun, runRequestIssues, triggerPipelineRuns } from './runs.ts';

export interface PipelineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface PipelineServiceOptions {
  /** `tenants`: a department's own off-peak window wins over the configured ones in `lintOptions`. */
  store: Pick<Store, 'pipelines' | 'fingerprints' | 'audit'> & Partial<Pick<Store, 'tenants'>>;
  /** Without a client, everything that needs Airflow fails as `AirflowUnavailable` (503). */
  airflow: AirflowClient | null;
  dagsFolder: string;
  /** From the app's configuration: the dry run and the deploy lint with the very same options. */
  lintOptions: LintOptions;
  log: PipelineLogger;
  /**
   * Sees each audit entry the service appends (also one a retried report found written), to emit
   * the webhook events it stands for; the API passes its emitter (services/webhooks/events.ts).
   */
  onAudited?: (entry: AuditEntry) => Promise<void>;
}

/** What `recordRunFinished` recorded: the run's end as Airflow has it, and its partitions by outcome. */
export interface RecordedRunEnd {
  pipelineId: string;
  dagId: string;
  runId: string;
  state: 'success' | 'failed';
  partitions: RunPartitionOutcomes;
}

function specOf(record: PipelineRecord): PipelineSpec {
  // Stored only after parsePipelineSpec accepted it.
  return record.spec as PipelineSpec;
}

export function pipelineView(record: PipelineRecord): PipelineView {
  const spec = specOf(record);
  return {
    id: record.id,
    department: record.department,
    description: spec.description ?? '',
    status: record.status,
    schedule: spec.schedule ? { cron: spec.schedule.cron, timezone: spec.schedule.timezone, description: describeSchedule(spec) } : null,
    partitionKeys: spec.partitions?.keys ?? null,
    partitionByDate: spec.partitions?.date !== undefined,
    specHash: record.specHash,
    dagId: record.dagId,
    fileName: record.fileName,
    deployedAt: record.deployedAt,
    lastError: record.lastError,
    updatedAt: record.updatedAt,
    spec: record.spec,
  };
}

/** One piece of work at a time per key: two deploys of one DAG file must not interleave. */
function serialised() {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const previous = tails.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    tails.set(key, next);
    try {
      return await next;
    } finally {
      if (tails.get(key) === next) tails.delete(key);
    }
  };
}

export class PipelineService {
  readonly #store: PipelineServiceOptions['store'];
  readonly #airflow: AirflowClient | null;
  readonly #dagsFolder: string;
  readonly #lintOptions: LintOptions;
  readonly #log: PipelineLogger;
  readonly #onAudited: (entry: AuditEntry) => Promise<void>;
  readonly #withPipelineLock = serialised();

  constructor(options: PipelineServiceOptions) {
    this.#store = options.store;
    this.#onAudited = options.onAudited ?? (async () => {});
    this.#airflow = options.airflow;
    this.#dagsFolder = options.dagsFolder;
    this.#lintOptions = options.lintOptions;
    this.#log = options.log;
  }

  /** A dry run: the lint findings and the DAG file that applying `input` would deploy. */
  async validate(input: unknown, principal: Principal): Promise<PipelineValidation> {
    return validationReport(await this.#plan(input, principal));
  }

  /** Apply a spec: 201 for a pipeline that was not live, 200 for a new version of a live one. */
  async apply(input: unknown, principal: Principal): Promise<{ created: boolean; result: ApplyResult }> {
    // The same plan as validate(), so a dry run and a deploy never disagree.
    const { spec, findings, dag: generated } = await this.#plan(input, principal);
    const errors = findings.filter((f) => f.severity === 'error');
    if (errors.length > 0) {
      throw new ValidationError(
        `the pipeline spec fails ${errors.length} lint rule(s)`,
        errors.map((f) => ({ path: f.path, message: `${f.message} (${f.rule})` })),
      );
    }
    const warnings = findings.filter((f) => f.severity === 'warning');
    const airflow = this.#client();
    const { pipelines } = this.#store;

    return this.#withPipelineLock(spec.id, async () => {
      const existing = await pipelines.get(spec.id);
      if (existing && existing.status !== 'deleted' && existing.department !== spec.department) {
        throw new ForbiddenError(`pipeline ${spec.id} belongs to department ${existing.department}; its department cannot change`);
      }
      if (existing && !scopeIncludes(principal.department, existing.department)) throw new NotFoundError(`pipeline ${spec.id} not found`);
      const row = { id: spec.id, department: spec.department, spec, specHash: generated.specHash, dagId: generated.dagId, fileName: generated.fileName };
      const keepPaused = existing?.status === 'paused';
      const live = existing !== undefined && (existing.status === 'deployed' || existing.status === 'paused');
      try {
        const deployed = await deployDag(airflow, this.#dagsFolder, generated, {
          paused: keepPaused,
          progress: (line) => this.#log.info({ pipelineId: spec.id }, line),
        });
        const saved = await pipelines.save({
          ...row,
          status: keepPaused ? 'paused' : 'deployed',
          deployedAt: deployed.unchanged && existing?.deployedAt ? existing.deployedAt : new Date().toISOString(),
          lastError: null,
        });
        this.#log.info({ pipelineId: spec.id, specHash: generated.specHash, unchanged: deployed.unchanged }, 'pipeline applied');
        return { created: !live, result: { pipeline: pipelineView(saved), warnings, unchanged: deployed.unchanged } };
      } catch (err) {
        const message = err instanceof ValidationError ? (err.errors[0]?.message ?? err.message) : (err as Error).message;
        if (live) await pipelines.update(spec.id, { lastError: message });
        else await pipelines.save({ ...row, status: 'failed', deployedAt: null, lastError: message });
        throw err;
      }
    });
  }

  /** One page, sorted by id: at most `limit` pipelines after `afterId`. */
  async list(principal: Principal, includeDeleted: boolean, page: { afterId?: string | undefined; limit?: number } = {}): Promise<PipelineView[]> {
    const list = await this.#store.pipelines.list({
      ...departmentFilterOf(principal.department),
      includeDeleted,
      ...(page.afterId !== undefined ? { afterId: page.afterId } : {}),
      ...(page.limit !== undefined ? { limit: page.limit } : {}),
    });
    return list.map(pipelineView);
  }

  async get(principal: Principal, id: string): Promise<PipelineView> {
    return pipelineView(await this.#visible(principal, id, true));
  }

  /** Pause (no new runs; runs in flight finish) or unpause the pipeline's DAG. */
  async setPaused(principal: Principal, id: string, paused: boolean): Promise<PipelineView> {
    const record = await this.#visible(principal, id);
    if (record.status === 'failed') throw new ValidationError(`pipeline ${record.id} was never deployed: ${record.lastError ?? ''}`);
    if (paused) await this.#client().pauseDag(record.dagId);
    else await this.#client().unpauseDag(record.dagId);
    return pipelineView((await this.#store.pipelines.update(record.id, { status: paused ? 'paused' : 'deployed' }))!);
  }

  /** Pause the DAG and remove its file; Airflow keeps the run history and the row stays as deleted. */
  async remove(principal: Principal, id: string): Promise<PipelineView> {
    const record = await this.#visible(principal, id);
    return this.#withPipelineLock(record.id, async () => {
      await undeployDag(this.#client(), this.#dagsFolder, record.dagId, record.fileName);
      this.#log.info({ pipelineId: record.id }, 'pipeline deleted');
      return pipelineView((await this.#store.pipelines.update(record.id, { status: 'deleted' }))!);
    });
  }

  /** Trigger chosen partitions (default all), or one run per day of a backfill range. */
  async triggerRuns(principal: Principal, id: string, request: TriggerRequest, idempotencyKey: string | undefined): Promise<TriggeredRun[]> {
    const record = await this.#visible(principal, id);
    const spec = specOf(record);
    const issues = runRequestIssues(spec, request);
    if (issues.length) throw new ValidationError('the run request is not valid for this pipeline', issues);
    if (record.status === 'failed') throw new ValidationError(`pipeline ${record.id} was never deployed: ${record.lastError ?? ''}`);
    const runs = await triggerPipelineRuns(
      this.#client(),
      record.dagId,
      request,
      { callerKeyId: principal.keyId, idempotencyKey },
      spec.schedule?.timezone ?? 'UTC',
    );
    this.#log.info({ pipelineId: record.id, runs: runs.map((r) => r.runId) }, 'pipeline runs triggered');
    return runs;
  }

  /** Newest first; `offset` skips that many (Airflow pages its runs by offset). */
  async listRuns(principal: Principal, id: string, limit: number, offset = 0): Promise<PipelineRunView[]> {
    const record = await this.#visible(principal, id, true);
    return listPipelineRuns(this.#client(), record.dagId, specOf(record), limit, offset);
  }

  /**
   * Per partition: the last committed fingerprints, when they last changed, and the last run. A
   * run the store still has as `pending` (checked as changed, never committed) is looked up in
   * Airflow and shown as failed when it ended without committing — a read: nothing is written.
   */
  async partitions(principal: Principal, id: string): Promise<PartitionView[]> {
    const record = await this.#visible(principal, id, true);
    const spec = specOf(record);
    const states = await this.#store.fingerprints.partitions(record.id);
    const resolved = await Promise.all(states.map(async (state) => ({ ...state, lastRun: await this.#lastRunOf(record, spec, state) })));
    const known = new Map(resolved.map((s) => [s.partition, s]));
    const declared = spec.partitions?.date ? [] : (spec.partitions?.keys ?? ['all']);
    for (const key of declared) if (!known.has(key)) known.set(key, { partition: key, fingerprints: [], lastRun: null });
    return [...known.values()]
      .sort((a, b) => (a.partition < b.partition ? -1 : a.partition > b.partition ? 1 : 0))
      .map((s) => ({
        ...s,
        lastChangedAt: s.fingerprints.reduce<string | null>((max, fp) => (max === null || fp.changedAt > max ? fp.changedAt : max), null),
      }));
  }

  /** A `pending` last run as Airflow tells it ended; any other last run as the store has it. */
  async #lastRunOf(record: PipelineRecord, spec: PipelineSpec, state: PartitionFingerprintState): Promise<PartitionRunRecord | null> {
    const lastRun = state.lastRun;
    if (lastRun?.outcome !== 'pending' || !this.#airflow) return lastRun;
    try {
      const run = await this.#airflow.getDagRun(record.dagId, lastRun.runId);
      const task_instances = await allTaskInstances(this.#airflow, record.dagId, lastRun.runId);
      const partition = partitionsOfRun(run, spec, task_instances).find((p) => p.partition === state.partition);
      const ended = run.state !== 'running' && run.state !== 'queued';
      if (partition?.state !== 'failed' && !(ended && partition?.state !== 'ran')) return lastRun;
      const failedTasks = Object.entries(partition?.tasks ?? {}).filter(([, s]) => s === 'failed' || s === 'upstream_failed');
      const what = failedTasks.length ? failedTasks.map(([t, s]) => `${t} ${s}`).join(', ') : `run ${run.state}`;
      return { ...lastRun, outcome: 'failed', reason: `${what}; fingerprints not committed, the partition runs again next time` };
    } catch (err) {
      this.#log.warn({ err, runId: lastRun.runId }, 'could not resolve a pending partition run from Airflow');
      return lastRun;
    }
  }

  /**
   * A task of the partition failed for good (its `on_failure_callback`): the partition's last run
   * is `failed` with the reason, an audit entry of the pipeline's department is written — whoever
   * reports it, the department is the pipeline's — and `partition.failed` is emitted. Idempotent:
   * the callback retries, and a retry finds the entry and emits again (the same event id).
   */
  async recordPartitionFailure(principal: Principal, body: PartitionFailureBody) {
    const record = await this.#visible(principal, body.pipelineId, true);
    const keys = specOf(record).partitions?.keys;
    const key = partitionKeyOf(body.partition, keys);
    if (keys && (key === null || !keys.includes(key))) {
      throw new ValidationError('the partition is not one of the pipeline’s', [{ path: 'body.partition', message: `unknown partition ${body.partition}; known: ${keys.join(', ')}` }]);
    }
    const lastRun = await this.#store.fingerprints.recordFailure({
      pipelineId: record.id,
      partition: body.partition,
      runId: body.runId,
      reason: failureReason(body),
    });
    const entry = await this.#store.audit.append(
      partitionFailedEntry(
        record,
        body.runId,
        { partition: body.partition, taskId: body.taskId, tryNumber: body.tryNumber, errorType: body.error.type, failedAt: lastRun.at },
        auditActorOf(principal),
      ),
    );
    await this.#onAudited(entry);
    this.#log.info({ pipelineId: record.id, dagRunId: body.runId, partition: body.partition, taskId: body.taskId }, 'partition failed');
    return lastRun;
  }

  /**
   * A DAG run of the pipeline ended (the DAG's success/failure callback). The reporter names the
   * run only: its state and partitions are read from Airflow, so a report cannot claim an outcome
   * Airflow does not have. A failed partition whose own report never arrived (the API was down
   * through the callback's retries, or Airflow failed the task without running it) is recorded
   * here. Then the run's end is audited and `pipeline.run.finished` emitted.
   */
  async recordRunFinished(principal: Principal, id: string, runId: string): Promise<RecordedRunEnd> {
    const record = await this.#visible(principal, id, true);
    const spec = specOf(record);
    const airflow = this.#client();
    const run = await airflow.getDagRun(record.dagId, runId);
    if (run.state !== 'success' && run.state !== 'failed') throw new ConflictError(`run ${runId} of pipeline ${record.id} has not ended (${run.state})`);
    const task_instances = await allTaskInstances(airflow, record.dagId, runId);
    const partitions = partitionsOfRun(run, spec, task_instances);
    const actor = auditActorOf(principal);

    const known = new Map((await this.#store.fingerprints.partitions(record.id)).map((s) => [s.partition, s.lastRun]));
    for (const p of partitions.filter((p) => p.state === 'failed')) {
      const last = known.get(p.partition);
      if (last?.runId === runId && last.outcome === 'failed') continue;
      const task = failedTaskOf(partitionKeyOf(p.partition, spec.partitions?.keys), task_instances);
      const taskId = task?.task_id ?? `${p.partition}.(unknown)`;
      const tryNumber = task?.try_number ?? null;
      const lastRun = await this.#store.fingerprints.recordFailure({
        pipelineId: record.id,
        partition: p.partition,
        runId,
        reason: `${failureSummary(taskId, tryNumber, 'an error')} (found at the run’s end; see the task log); fingerprints not committed, the partition runs again next time`,
      });
      const entry = await this.#store.audit.append(
        partitionFailedEntry(record, runId, { partition: p.partition, taskId, tryNumber, errorType: 'unknown', failedAt: task?.end_date ?? lastRun.at }, actor),
      );
      await this.#onAudited(entry);
      this.#log.warn({ pipelineId: record.id, dagRunId: runId, partition: p.partition }, 'partition failure found at the run’s end (its task did not report it)');
    }

    const outcomes = partitionsByOutcome(partitions);
    const entry = await this.#store.audit.append(pipelineRunFinishedEntry(record, run, outcomes, actor));
    await this.#onAudited(entry);
    this.#log.info({ pipelineId: record.id, dagRunId: runId, state: run.state }, 'pipeline run finished');
    return { pipelineId: record.id, dagId: record.dagId, runId, state: run.state, partitions: outcomes };
  }

  /** Parse, lint and generate; the principal must be allowed the spec's department. */
  async #plan(input: unknown, principal: Principal): Promise<PipelinePlan> {
    const planned = planPipeline(input, await this.#lintOptionsFor(input));
    if (!planned.ok) {
      throw new ValidationError(
        `the pipeline spec has ${planned.issues.length} problem(s): ${planned.issues.map((i) => `${i.path || '(spec)'}: ${i.message}`).join('; ')}`,
        planned.issues.map((i) => ({ path: i.path, message: i.message })),
      );
    }
    const { department } = planned.plan.spec;
    if (!scopeIncludes(principal.department, department)) {
      throw new ForbiddenError(`this key is scoped to department ${principal.department} and cannot use a ${department} pipeline`);
    }
    return planned.plan;
  }

  /** The configured windows, with the department's tenant's own window over them when it has one. */
  async #lintOptionsFor(input: unknown): Promise<LintOptions> {
    const parsed = this.#store.tenants ? parsePipelineSpec(input) : undefined;
    if (!parsed?.ok) return this.#lintOptions;
    const { department } = parsed.spec;
    const window = (await this.#store.tenants!.get(department))?.spec.offPeak;
    return window ? { ...this.#lintOptions, offPeakWindows: { ...this.#lintOptions.offPeakWindows, [department]: window } } : this.#lintOptions;
  }

  async #visible(principal: Principal, id: string, includeDeleted = false): Promise<PipelineRecord> {
    const record = await this.#store.pipelines.get(id);
    if (!record || !scopeIncludes(principal.department, record.department) || (record.status === 'deleted' && !includeDeleted)) {
      throw new NotFoundError(`pipeline ${id} not found`);
    }
    return record;
  }

  #client(): AirflowClient {
    if (!this.#airflow) throw new AirflowUnavailableError('this API runs without an Airflow client, so pipelines cannot be deployed or run');
    return this.#airflow;
  }
}
