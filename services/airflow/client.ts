/**
 * The one HTTP client tandem uses for Airflow 3's REST API (`/api/v2`), built on axios.
 *
 * - Auth: SimpleAuthManager's `POST /auth/token` (username/password) → JWT sent as Bearer. A 401
 *   refreshes the token once and replays the request; concurrent callers share one token fetch.
 * - Retries (axios-retry): only idempotent calls — GET, HEAD, PUT, DELETE, and any call the
 *   caller marks `idempotent` — on connection errors, timeouts and every 5xx but 501, with bounded
 *   exponential backoff (jittered; honours Retry-After up to the cap). 500 is included because
 *   Airflow's embedded SQLite answers a lock timeout as 500 "Database error", which passes. A plain POST is never
 *   retried: a trigger that reached Airflow before the connection dropped must not run twice.
 * - Errors: every failure is an `AirflowApiError` subclass carrying status, Airflow's `detail`,
 *   method and path (see airflow-errors.ts).
 *
 * Paths and bodies follow the OpenAPI document shipped in the installed apache-airflow-core 3.3
 * (`airflow/api_fastapi/core_api/openapi/v2-rest-api-generated.yaml`); response types below are
 * the subsets of those schemas tandem reads.
 */
import axios, { AxiosError, type AxiosInstance, type AxiosRequestConfig } from 'axios';
import axiosRetry, { retryAfter } from 'axios-retry';
import type { TandemConfig } from '../../shared/config.ts';
import type { Credentials } from '../../shared/credentials.ts';
import { airflowApiError, AirflowApiError, AirflowConflictError } from './errors.ts';

// ---------------------------------------------------------------------------------------------
// Response and request shapes (subsets of Airflow 3.3's OpenAPI schemas)

export type DagRunState = 'queued' | 'running' | 'success' | 'failed';
export type TaskInstanceState =
  | 'removed'
  | 'scheduled'
  | 'queued'
  | 'running'
  | 'success'
  | 'restarting'
  | 'failed'
  | 'up_for_retry'
  | 'up_for_reschedule'
  | 'upstream_failed'
  | 'skipped'
  | 'deferred'
  | 'awaiting_input';

/** `HITLUser`. SimpleAuthManager's user id is its username. */
export interface AirflowHitlUser {
  id: string;
  name: string;
}

/** `HITLDetail`: a task's Human-in-the-loop request and, once answered, the answer. */
export interface AirflowHitlDetail {
  task_instance: AirflowTaskInstance;
  options: string[];
  subject: string;
  body: string | null;
  assigned_users: AirflowHitlUser[];
  created_at: string;
  responded_by_user: AirflowHitlUser | null;
  responded_at: string | null;
  chosen_options: string[] | null;
  params_input: Record<string, unknown>;
  response_received: boolean;
}

export interface AirflowHitlDetailCollection {
  hitl_details: AirflowHitlDetail[];
  total_entries: number;
}

/** `HITLDetailResponse`: what an answer recorded. */
export interface AirflowHitlResponse {
  responded_by: AirflowHitlUser;
  responded_at: string;
  chosen_options: string[];
  params_input: Record<string, unknown>;
}

export interface AirflowComponentHealth {
  status: 'healthy' | 'unhealthy' | null;
}
/** `GET /api/v2/monitor/health`: heartbeats are ISO timestamps of each component's latest job. */
export interface AirflowHealth {
  metadatabase: AirflowComponentHealth;
  scheduler: AirflowComponentHealth & { latest_scheduler_heartbeat: string | null };
  triggerer: AirflowComponentHealth & { latest_triggerer_heartbeat: string | null };
  dag_processor?: (AirflowComponentHealth & { latest_dag_processor_heartbeat: string | null }) | null;
}

export interface AirflowDagVersion {
  id: string;
  version_number: number;
  dag_id: string;
  bundle_name: string | null;
  bundle_version: string | null;
  created_at: string;
}

/** `DAGResponse`. `file_token` is what `reparseDagFile` takes. */
export interface AirflowDag {
  dag_id: string;
  dag_display_name: string;
  is_paused: boolean;
  is_stale: boolean;
  last_parsed_time: string | null;
  last_parse_duration: number | null;
  bundle_name: string | null;
  bundle_version: string | null;
  relative_fileloc: string | null;
  fileloc: string;
  file_token: string;
  description: string | null;
  timetable_summary: string | null;
  tags: { name: string; dag_id: string }[];
  owners: string[];
  max_active_tasks: number;
  max_active_runs: number | null;
  has_import_errors: boolean;
  next_dagrun_logical_date: string | null;
  next_dagrun_run_after: string | null;
}

export interface AirflowImportError {
  import_error_id: number;
  timestamp: string;
  /** Path relative to the bundle root (the DAGs folder). */
  filename: string;
  bundle_name: string | null;
  stack_trace: string;
}

export interface AirflowImportErrorCollection {
  import_errors: AirflowImportError[];
  total_entries: number;
}

/** `DAGSourceResponse`: the file text Airflow stored with the DAG's latest version. */
export interface AirflowDagSource {
  dag_id: string;
  content: string | null;
  version_number: number | null;
}

export interface AirflowDagRun {
  dag_run_id: string;
  dag_id: string;
  logical_date: string | null;
  queued_at: string | null;
  start_date: string | null;
  end_date: string | null;
  duration: number | null;
  run_after: string;
  run_type: 'backfill' | 'scheduled' | 'manual' | 'operator_triggered' | 'asset_triggered' | 'asset_materialization';
  state: DagRunState;
  triggered_by: string | null;
  conf: Record<string, unknown> | null;
  note: string | null;
  partition_key: string | null;
}

export interface AirflowDagRunCollection {
  dag_runs: AirflowDagRun[];
  total_entries: number | null;
  next_cursor?: string | null;
}

export interface AirflowTaskInstance {
  id: string;
  task_id: string;
  dag_id: string;
  dag_run_id: string;
  map_index: number;
  logical_date: string | null;
  start_date: string | null;
  end_date: string | null;
  duration: number | null;
  state: TaskInstanceState | null;
  try_number: number;
  max_tries: number;
  hostname: string | null;
  /** Class name of the task's operator, e.g. `TemporalHandoffOperator`. */
  operator: string | null;
  /** The operator's display name (`custom_operator_name`, else the class name). */
  operator_name: string | null;
  pid: number | null;
  queued_when: string | null;
  note: string | null;
  rendered_map_index: string | null;
  trigger: { id: number; classpath: string; kwargs: string; created_date: string; triggerer_id: number | null } | null;
}

export interface AirflowTaskInstanceCollection {
  task_instances: AirflowTaskInstance[];
  total_entries: number | null;
  next_cursor?: string | null;
}

/** One structured log line (`StructuredLogMessage`); extra keys (level, logger, error_detail…) vary. */
export interface AirflowLogMessage {
  event: string;
  timestamp?: string;
  level?: string;
  [key: string]: unknown;
}

export interface AirflowTaskLog {
  content: (AirflowLogMessage | string)[];
  continuation_token: string | null;
}

export interface TriggerDagRunRequest {
  /** Set it to make the trigger addressable (and a retried trigger a 409 instead of a second run). */
  dag_run_id?: string;
  /** ISO timestamp, or null (the default here) for a run without a logical date. */
  logical_date?: string | null;
  data_interval_start?: string | null;
  data_interval_end?: string | null;
  run_after?: string | null;
  conf?: Record<string, unknown>;
  note?: string | null;
  partition_key?: string | null;
}

type QueryValue = string | number | boolean | readonly string[] | undefined;
export type AirflowQuery = Record<string, QueryValue>;

export interface ListDagRunsQuery extends AirflowQuery {
  limit?: number;
  offset?: number;
  state?: readonly DagRunState[];
  run_id_pattern?: string;
  order_by?: string;
}

export interface ListTaskInstancesQuery extends AirflowQuery {
  limit?: number;
  offset?: number;
  task_id?: string;
  state?: readonly TaskInstanceState[];
  map_index?: number;
  /** Operator class names (exact; any of them). */
  operator?: readonly string[];
  order_by?: string;
}

/** Airflow's default `maximum_page_limit`: a larger `limit` is cut to it. */
const taskInstancePage = 100;

export interface ListHitlDetailsQuery extends AirflowQuery {
  response_received?: boolean;
  limit?: number;
  offset?: number;
  order_by?: string;
}

export interface ListImportErrorsQuery extends AirflowQuery {
  limit?: number;
  offset?: number;
  /** Exact relative filename (Airflow 3.3 `filename` filter). */
  filename?: string;
  filename_pattern?: string;
  bundle_name?: string;
  order_by?: string;
}

// ---------------------------------------------------------------------------------------------

export interface AirflowClientOptions {
  /** Base URL of the api-server, e.g. `http://127.0.0.1:8080` (no `/api/v2`). */
  baseUrl: string;
  username: string;
  password: string;
  /** Per-attempt timeout. Default 30 s. */
  timeoutMs?: number;
  /** Retries of a retryable call after the first attempt. Default 4. */
  retries?: number;
  /** First retry delay; doubles per retry, jittered. Default 250 ms. */
  retryBaseDelayMs?: number;
  /** Cap on one retry delay (also caps Retry-After). Default 5 s. */
  retryMaxDelayMs?: number;
}

export interface AirflowCallOptions {
  params?: AirflowQuery;
  data?: unknown;
  /** Safe to repeat: enables retries for methods that are not idempotent by HTTP definition. */
  idempotent?: boolean;
  /** Send the Bearer token (default true; health and version are public). */
  auth?: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface CallOptions {
  /** Mark a POST/PATCH as safe to retry (e.g. a trigger with a fixed `dag_run_id`). */
  idempotent?: boolean;
  signal?: AbortSignal;
  /** Per-attempt timeout for this call, overriding the client's. */
  timeoutMs?: number;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const IDEMPOTENT_METHODS = new Set<Method>(['GET', 'PUT', 'DELETE']);
/** 501 says the call will never work; any other 5xx may pass (a restart, a lock wait). */
const isRetryableStatus = (status: number): boolean => status >= 500 && status !== 501;

const seg = (value: string | number) => encodeURIComponent(String(value));

export class AirflowClient {
  readonly baseUrl: string;
  readonly #http: AxiosInstance;
  readonly #username: string;
  readonly #password: string;
  #token: string | undefined;
  #tokenRequest: Promise<string> | undefined;

  /** The Airflow user this client calls as (SimpleAuthManager: also its user id). */
  get username(): string {
    return this.#username;
  }

  constructor(options: AirflowClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#username = options.username;
    this.#password = options.password;
    const base = options.retryBaseDelayMs ?? 250;
    const cap = options.retryMaxDelayMs ?? 5_000;
    this.#http = axios.create({
      baseURL: this.baseUrl,
      timeout: options.timeoutMs ?? 30_000,
      // Airflow's list filters repeat the key (`state=a&state=b`), not `state[]=a`.
      paramsSerializer: { indexes: null },
      headers: { Accept: 'application/json' },
    });
    axiosRetry(this.#http, {
      retries: options.retries ?? 4,
      shouldResetTimeout: true,
      retryCondition: (error) => {
        if (error.code === AxiosError.ERR_CANCELED) return false;
        if (!error.response) return true; // refused, reset, DNS, timeout
        return isRetryableStatus(error.response.status);
      },
      retryDelay: (retryNumber, error) => {
        const exponential = base * 2 ** (retryNumber - 1);
        const jittered = exponential * (0.8 + Math.random() * 0.4);
        return Math.min(cap, Math.max(jittered, retryAfter(error)));
      },
    });
  }

  /** A client for the stack described by tandem's config and credentials. */
  static forStack(
    config: Pick<TandemConfig, 'airflow'>,
    credentials: Pick<Credentials, 'airflow'>,
    overrides: Partial<AirflowClientOptions> = {},
  ): AirflowClient {
    return new AirflowClient({
      baseUrl: config.airflow.url,
      // tandem's own Airflow user, never the human admin's (see shared/credentials.ts).
      username: credentials.airflow.tandemUser,
      password: credentials.airflow.tandemPassword,
      ...overrides,
    });
  }

  // --- monitor ---------------------------------------------------------------------------

  health(options: CallOptions = {}): Promise<AirflowHealth> {
    return this.request('GET', '/api/v2/monitor/health', { auth: false, ...options });
  }


  /**
   * The Execution API's health (`GET /execution/health`, the API task runners call). Airflow 3.3
   * builds its versioned routes (Cadwyn) on the first request, blocking the api-server for ~10 s
   * on a small machine; calling this once at start-up pays that cost before the first task does
   * (which would otherwise time out and retry its first call).
   */
  async executionApiHealth(options: CallOptions = {}): Promise<{ status: string }> {
    return this.request('GET', '/execution/health', { auth: false, ...options });
  }

  // --- DAGs ------------------------------------------------------------------------------

  getDag(dagId: string, options: CallOptions = {}): Promise<AirflowDag> {
    return this.request('GET', `/api/v2/dags/${seg(dagId)}`, options);
  }



  /** Pause or unpause. Setting a flag to a value is safe to repeat, so this call is retried. */
  patchDag(dagId: string, patch: { is_paused: boolean }, options: CallOptions = {}): Promise<AirflowDag> {
    return this.request('PATCH', `/api/v2/dags/${seg(dagId)}`, {
      params: { update_mask: ['is_paused'] },
      data: { is_paused: patch.is_paused },
      idempotent: true,
      ...options,
    });
  }

  pauseDag(dagId: string, options: CallOptions = {}): Promise<AirflowDag> {
    return this.patchDag(dagId, { is_paused: true }, options);
  }

  unpauseDag(dagId: string, options: CallOptions = {}): Promise<AirflowDag> {
    return this.patchDag(dagId, { is_paused: false }, options);
  }

  /**
   * Ask the dag-processor to parse a DAG's file now (`PUT /api/v2/parseDagFile/{file_token}`).
   * The token comes from `getDag(...).file_token`; a file Airflow has never parsed has no token —
   * new files are found by the dag-processor's folder scan (`[dag_processor] refresh_interval`).
   */
  async reparseDagFile(fileToken: string, options: CallOptions = {}): Promise<void> {
    await this.request('PUT', `/api/v2/parseDagFile/${seg(fileToken)}`, options);
  }


  listImportErrors(query: ListImportErrorsQuery = {}, options: CallOptions = {}): Promise<AirflowImportErrorCollection> {
    return this.request('GET', '/api/v2/importErrors', { params: query, ...options });
  }

  /** The DAG file's text as Airflow stored it when it last changed the DAG (`GET /api/v2/dagSources/{dag_id}`). */
  getDagSource(dagId: string, options: CallOptions = {}): Promise<AirflowDagSource> {
    return this.request('GET', `/api/v2/dagSources/${seg(dagId)}`, options);
  }

  // --- DAG runs --------------------------------------------------------------------------

  /**
   * Not retried unless `options.idempotent` — and only mark it so with a fixed `dag_run_id`,
   * where a replay is answered 409 (AirflowConflictError) instead of creating a second run.
   */
  triggerDagRun(dagId: string, request: TriggerDagRunRequest = {}, options: CallOptions = {}): Promise<AirflowDagRun> {
    // logical_date is a required (nullable) field of TriggerDAGRunPostBody in Airflow 3.
    const data = { ...request, logical_date: request.logical_date ?? null };
    return this.request('POST', `/api/v2/dags/${seg(dagId)}/dagRuns`, { data, ...options });
  }

  getDagRun(dagId: string, dagRunId: string, options: CallOptions = {}): Promise<AirflowDagRun> {
    return this.request('GET', `/api/v2/dags/${seg(dagId)}/dagRuns/${seg(dagRunId)}`, options);
  }

  /**
   * Set a run's state (`queued`, `success`, `failed`) and/or note. Marking a run failed also
   * fails its unfinished task instances, which stops running task processes. Setting a value is
   * safe to repeat, so this call is retried.
   */
  patchDagRun(
    dagId: string,
    dagRunId: string,
    patch: { state?: Exclude<DagRunState, 'running'>; note?: string },
    options: CallOptions = {},
  ): Promise<AirflowDagRun> {
    return this.request('PATCH', `/api/v2/dags/${seg(dagId)}/dagRuns/${seg(dagRunId)}`, { data: patch, idempotent: true, ...options });
  }

  /** `dagId` `~` lists runs of every DAG. */
  listDagRuns(dagId: string, query: ListDagRunsQuery = {}, options: CallOptions = {}): Promise<AirflowDagRunCollection> {
    return this.request('GET', `/api/v2/dags/${seg(dagId)}/dagRuns`, { params: query, ...options });
  }

  // --- task instances --------------------------------------------------------------------

  /** `dagId` / `dagRunId` `~` list across DAGs / runs. */
  listTaskInstances(
    dagId: string,
    dagRunId: string,
    query: ListTaskInstancesQuery = {},
    options: CallOptions = {},
  ): Promise<AirflowTaskInstanceCollection> {
    return this.request('GET', `/api/v2/dags/${seg(dagId)}/dagRuns/${seg(dagRunId)}/taskInstances`, {
      params: query,
      ...options,
    });
  }

  getTaskInstance(
    dagId: string,
    dagRunId: string,
    taskId: string,
    mapIndex = -1,
    options: CallOptions = {},
  ): Promise<AirflowTaskInstance> {
    const base = `/api/v2/dags/${seg(dagId)}/dagRuns/${seg(dagRunId)}/taskInstances/${seg(taskId)}`;
    return this.request('GET', mapIndex >= 0 ? `${base}/${mapIndex}` : base, options);
  }

  /**
   * One try of a task instance as Airflow recorded it: the current try, or an earlier one from
   * its history (a try that ended unfinished is recorded `failed`; a cleared one keeps its state).
   */
  getTaskInstanceTry(
    dagId: string,
    dagRunId: string,
    taskId: string,
    mapIndex: number,
    tryNumber: number,
    options: CallOptions = {},
  ): Promise<AirflowTaskInstance> {
    const base = `/api/v2/dags/${seg(dagId)}/dagRuns/${seg(dagRunId)}/taskInstances/${seg(taskId)}`;
    return this.request('GET', `${mapIndex >= 0 ? `${base}/${mapIndex}` : base}/tries/${tryNumber}`, options);
  }

  /**
   * Writes an XCom of a task instance (created, or replaced when the key exists). The REST API
   * stores the value as given, JSON; a value pushed with a trigger's TaskSuccessEvent is
   * JSON-encoded twice in Airflow 3.3 and reaches `xcom_pull` as a string, hence this route.
   */
  async setXcom(dagId: string, dagRunId: string, taskId: string, key: string, value: unknown, mapIndex = -1, options: CallOptions = {}): Promise<void> {
    const base = `/api/v2/dags/${seg(dagId)}/dagRuns/${seg(dagRunId)}/taskInstances/${seg(taskId)}/xcomEntries`;
    try {
      await this.request('POST', base, { data: { key, value, map_index: mapIndex }, idempotent: true, ...options });
    } catch (err) {
      if (!(err instanceof AirflowConflictError)) throw err;
      await this.request('PATCH', `${base}/${seg(key)}`, { data: { value, map_index: mapIndex }, idempotent: true, ...options });
    }
  }

  /**
   * Marks a task instance (`failed`, `success`, …) with a note saying why. Setting a state is
   * safe to repeat, so this call is retried.
   */
  patchTaskInstance(
    dagId: string,
    dagRunId: string,
    taskId: string,
    mapIndex: number,
    patch: { new_state?: 'failed' | 'success' | 'skipped'; note?: string },
    options: CallOptions = {},
  ): Promise<AirflowTaskInstanceCollection> {
    const base = `/api/v2/dags/${seg(dagId)}/dagRuns/${seg(dagRunId)}/taskInstances/${seg(taskId)}`;
    return this.request('PATCH', mapIndex >= 0 ? `${base}/${mapIndex}` : base, { data: patch, idempotent: true, ...options });
  }

  // --- Human-in-the-loop (parked hand-offs) ----------------------------------------------

  /** The HITL request of a task instance's current try; 404 (AirflowNotFoundError) when it has none. */
  getHitlDetail(dagId: string, dagRunId: string, taskId: string, mapIndex = -1, options: CallOptions = {}): Promise<AirflowHitlDetail> {
    return this.request('GET', `/api/v2/dags/${seg(dagId)}/dagRuns/${seg(dagRunId)}/taskInstances/${seg(taskId)}/${mapIndex}/hitlDetails`, options);
  }

  /**
   * Answers a task instance's HITL request as this client's user; a task parked in
   * `awaiting_input` is resumed by it. Airflow refuses a user the request is not assigned to
   * (403) and a second answer (409, AirflowConflictError), so this is not retried: a replay of an
   * answer that got through would only see 409.
   */
  answerHitlDetail(
    dagId: string,
    dagRunId: string,
    taskId: string,
    mapIndex: number,
    answer: { chosen_options: string[]; params_input?: Record<string, unknown> },
    options: CallOptions = {},
  ): Promise<AirflowHitlResponse> {
    return this.request('PATCH', `/api/v2/dags/${seg(dagId)}/dagRuns/${seg(dagRunId)}/taskInstances/${seg(taskId)}/${mapIndex}/hitlDetails`, {
      data: answer,
      ...options,
    });
  }

  /** HITL requests across DAGs and runs (`~`), newest first unless `order_by` says otherwise. */
  listHitlDetails(query: ListHitlDetailsQuery = {}, options: CallOptions = {}): Promise<AirflowHitlDetailCollection> {
    return this.request('GET', '/api/v2/dags/~/dagRuns/~/hitlDetails', { params: query, ...options });
  }

  /** One try's log as structured lines (the whole log unless a continuation `token` is given). */
  getTaskLog(
    dagId: string,
    dagRunId: string,
    taskId: string,
    tryNumber: number,
    query: { mapIndex?: number; fullContent?: boolean; token?: string } = {},
    options: CallOptions = {},
  ): Promise<AirflowTaskLog> {
    return this.request(
      'GET',
      `/api/v2/dags/${seg(dagId)}/dagRuns/${seg(dagRunId)}/taskInstances/${seg(taskId)}/logs/${seg(tryNumber)}`,
      {
        params: { full_content: query.fullContent ?? true, map_index: query.mapIndex ?? -1, token: query.token },
        headers: { Accept: 'application/json' },
        ...options,
      },
    );
  }


  // --- transport -------------------------------------------------------------------------

  /** Any `/api/v2` call with the client's auth, retry and error handling. */
  async request<T>(method: Method, path: string, call: AirflowCallOptions = {}): Promise<T> {
    const idempotent = call.idempotent ?? IDEMPOTENT_METHODS.has(method);
    const send = async (token: string | undefined): Promise<T> => {
      const config: AxiosRequestConfig = {
        method,
        url: path,
        params: call.params,
        data: call.data,
        signal: call.signal,
        ...(call.timeoutMs !== undefined ? { timeout: call.timeoutMs } : {}),
        headers: { ...call.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        'axios-retry': idempotent ? {} : { retries: 0 },
      };
      const response = await this.#http.request<T>(config);
      return response.data;
    };

    try {
      if (call.auth === false) return await send(undefined);
      const token = await this.#accessToken();
      try {
        return await send(token);
      } catch (err) {
        if (!(err instanceof AxiosError) || err.response?.status !== 401) throw err;
        // Expired or revoked (e.g. the api-server's JWT secret changed): one fresh token, one replay.
        return await send(await this.#accessToken(token));
      }
    } catch (err) {
      throw toAirflowError(err, method, path);
    }
  }

  /**
   * The current token, fetching one if there is none — or if `rejected` is the current token.
   * Concurrent callers share one `POST /auth/token`.
   */
  async #accessToken(rejected?: string): Promise<string> {
    if (this.#token !== undefined && this.#token !== rejected) return this.#token;
    if (rejected !== undefined && this.#token === rejected) this.#token = undefined;
    this.#tokenRequest ??= this.#login().finally(() => {
      this.#tokenRequest = undefined;
    });
    return this.#tokenRequest;
  }

  async #login(): Promise<string> {
    const response = await this.#http.request<{ access_token?: string }>({
      method: 'POST',
      url: '/auth/token',
      data: { username: this.#username, password: this.#password },
      // Logging in has no side effect: safe to retry on a connection error.
      'axios-retry': {},
    });
    const token = response.data.access_token;
    if (!token) throw new Error('Airflow POST /auth/token answered without access_token');
    this.#token = token;
    return token;
  }
}

function toAirflowError(err: unknown, method: Method, path: string): Error {
  if (err instanceof AirflowApiError) return err;
  if (err instanceof AxiosError) {
    // Name the call that failed, not the token request inside it — unless it was the token request.
    const failedPath = err.config?.url === '/auth/token' ? '/auth/token' : path;
    const failedMethod = failedPath === path ? method : 'POST';
    if (err.response) {
      const body = err.response.data as { detail?: unknown } | string | undefined;
      const detail = body && typeof body === 'object' && 'detail' in body ? body.detail : body;
      return airflowApiError({ status: err.response.status, detail, method: failedMethod, path: failedPath, cause: err });
    }
    if (err.code === AxiosError.ERR_CANCELED) return err;
    return airflowApiError({
      status: null,
      detail: `${err.code ?? 'network error'}: ${err.message} (${err.config?.baseURL ?? ''})`,
      method: failedMethod,
      path: failedPath,
      cause: err,
    });
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Every task instance of a run, page by page: Airflow cuts a page to its `maximum_page_limit`
 * (100 by default) whatever `limit` asks for, so one call with a large limit silently returns only
 * the first 100 — a run of 25 partitions of four tasks each.
 */
export async function allTaskInstances(
  client: Pick<AirflowClient, 'listTaskInstances'>,
  dagId: string,
  dagRunId: string,
  query: Omit<ListTaskInstancesQuery, 'limit' | 'offset'> = {},
): Promise<AirflowTaskInstance[]> {
  const all: AirflowTaskInstance[] = [];
  for (;;) {
    const page = await client.listTaskInstances(dagId, dagRunId, { ...query, limit: taskInstancePage, offset: all.length });
    all.push(...page.task_instances);
    if (page.task_instances.length < taskInstancePage || all.length >= (page.total_entries ?? Infinity)) return all;
  }
}
