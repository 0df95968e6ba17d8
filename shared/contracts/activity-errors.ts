/**
 * The failure vocabulary shared by activities (which throw `ApplicationFailure`s of these types)
 * and workflows (whose retry presets in workflows/activity-options.ts list which of them stop at
 * once). Pure constants, so the worker's activity code gets the names without importing the
 * workflow SDK, and workflow code gets them without importing activity code.
 */
export const activityErrorTypes = {
  llm: {
    /** 400/422 from the provider: malformed request, bad parameters. */
    badRequest: 'LlmBadRequest',
    /** finish_reason content_filter, or an error code content_filter / content_policy_violation. */
    contentFiltered: 'LlmContentFiltered',
    /** Error code context_length_exceeded: the same prompt will never fit. */
    contextTooLong: 'LlmContextTooLong',
    /** The department's token budget is used up; retrying would only spend more. */
    budgetExceeded: 'LlmBudgetExceeded',
    /** 401/403: a wrong key does not fix itself. */
    unauthorized: 'LlmUnauthorized',
    /** 404: unknown model or endpoint. */
    notFound: 'LlmNotFound',
    /** No provider URL configured (TANDEM_LLM_BASE_URL). */
    notConfigured: 'LlmNotConfigured',
  },
  gpuJob: {
    /** The spec is refused before it reaches the cluster (field paths), or the API server rejected the Job (422). */
    invalidSpec: 'GpuJobInvalidSpec',
    /** The department's ResourceQuota has no room for the Job: the message has the numbers. */
    quotaExceeded: 'GpuJobQuotaExceeded',
    /** The Job's own pods failed past its backoffLimit: a code or data error, not infrastructure. */
    failed: 'GpuJobFailed',
    /** Started at peak time for a department whose tenant refuses GPU batch work then. */
    outsideOffPeakWindow: 'GpuJobOutsideOffPeakWindow',
  },
  airflow: {
    /** 4xx other than 408/409/429: our request is wrong (unknown DAG, bad conf, no permission). */
    rejected: 'AirflowRequestRejected',
    /** The DAG run ended `failed`; the message carries the failed task's log excerpt. */
    dagRunFailed: 'AirflowDagRunFailed',
    /** The worker has no Airflow URL or credentials file: no retry can fix that. */
    notConfigured: 'AirflowNotConfigured',
  },
  pipeline: {
    /** No such pipeline in the requested department (or deleted): another department's looks the same. */
    notFound: 'PipelineNotFound',
    /** The starter's key is scoped to another department than the one requested. */
    outOfScope: 'PipelineOutOfScope',
    /** The pipeline never deployed (its DAG does not exist in Airflow). */
    notDeployed: 'PipelineNotDeployed',
    /** A requested partition is not one of the spec's keys. */
    unknownPartition: 'PipelineUnknownPartition',
  },
  evaluation: {
    /** The version has no retrievals to evaluate: the refresh did not produce them. */
    retrievalsMissing: 'EvaluationRetrievalsMissing',
  },
  deploy: {
    /** The deploy hook refused the model version; the workflow rolls the alias back. */
    failed: 'DeployFailed',
  },
  notify: {
    /** The channel refuses the recipient (unknown address, revoked webhook). */
    recipientRejected: 'NotifyRecipientRejected',
  },
  audit: {
    /** The event failed validation: a bug in the caller, which no retry can fix. */
    invalidEvent: 'AuditEventInvalid',
  },
} as const;

/**
 * Failure types a preset does retry, named so histories and tests can tell a retried failure's
 * cause at a glance. Not in any `nonRetryableErrorTypes` list — keep it that way.
 */
export const retryableErrorTypes = {
  llm: {
    /** Connection reset/refused, timeout, 5xx: backoff from the llmCall preset. */
    transient: 'LlmTransientError',
    /** 429 or 503/529 overload: the next attempt waits for Retry-After (`nextRetryDelay`). */
    rateLimited: 'LlmRateLimited',
  },
  gpuJob: {
    /** Killed from outside more often than the job allows in one attempt: the retry resumes it. */
    preempted: 'GpuJobPreempted',
  },
} as const;
