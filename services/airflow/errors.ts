/**
 * Errors from Airflow's REST API, one hierarchy for every caller of `AirflowClient`.
 *
 * Airflow 3 answers errors as FastAPI does: `{"detail": "..."}` (or an object), and 422s as
 * `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`. We keep Airflow's `detail` as-is
 * and also render it into the message, so a log line says what Airflow said.
 */

export type AirflowErrorKind =
  | 'bad_request' // 400
  | 'unauthorized' // 401 (after one token refresh)
  | 'forbidden' // 403
  | 'not_found' // 404
  | 'conflict' // 409
  | 'validation' // 422
  | 'client' // any other 4xx
  | 'server' // 5xx (after retries, when the call was retryable)
  | 'unreachable'; // no HTTP response: connection refused/reset, DNS, timeout

export interface AirflowErrorContext {
  status: number | null;
  detail: unknown;
  method: string;
  path: string;
  cause?: unknown;
}

export function airflowErrorKind(status: number | null): AirflowErrorKind {
  if (status === null) return 'unreachable';
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 422:
      return 'validation';
  }
  return status >= 500 ? 'server' : 'client';
}

/** `detail` as one readable line: strings as-is, 422 lists as `loc: msg; …`, objects as JSON. */
export function describeAirflowDetail(detail: unknown): string {
  if (detail === undefined || detail === null || detail === '') return '';
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item: unknown) => {
        if (item && typeof item === 'object' && 'msg' in item) {
          const { loc, msg } = item as { loc?: unknown[]; msg: unknown };
          return Array.isArray(loc) && loc.length > 0 ? `${loc.join('.')}: ${String(msg)}` : String(msg);
        }
        return JSON.stringify(item);
      })
      .join('; ');
  }
  return JSON.stringify(detail);
}

export class AirflowApiError extends Error {
  override name = 'AirflowApiError';
  readonly kind: AirflowErrorKind;
  /** HTTP status, or null when Airflow never answered (see kind `unreachable`). */
  readonly status: number | null;
  /** Airflow's `detail` field, unmodified (string, object, or a 422 list). */
  readonly detail: unknown;
  readonly method: string;
  readonly path: string;

  constructor(context: AirflowErrorContext) {
    const kind = airflowErrorKind(context.status);
    const what = describeAirflowDetail(context.detail);
    const status = context.status === null ? 'no response' : String(context.status);
    super(`Airflow ${context.method} ${context.path} failed (${status} ${kind})${what ? `: ${what}` : ''}`, {
      cause: context.cause,
    });
    this.kind = kind;
    this.status = context.status;
    this.detail = context.detail;
    this.method = context.method;
    this.path = context.path;
  }
}

export class AirflowBadRequestError extends AirflowApiError {
  override name = 'AirflowBadRequestError';
}
export class AirflowUnauthorizedError extends AirflowApiError {
  override name = 'AirflowUnauthorizedError';
}
export class AirflowForbiddenError extends AirflowApiError {
  override name = 'AirflowForbiddenError';
}
export class AirflowNotFoundError extends AirflowApiError {
  override name = 'AirflowNotFoundError';
}
export class AirflowConflictError extends AirflowApiError {
  override name = 'AirflowConflictError';
}
export class AirflowValidationError extends AirflowApiError {
  override name = 'AirflowValidationError';
}
/** Airflow unreachable or answering 5xx — worth retrying later; nothing is wrong with the request. */
export class AirflowUnavailableError extends AirflowApiError {
  override name = 'AirflowUnavailableError';
}

/** The most specific error class for a status. */
export function airflowApiError(context: AirflowErrorContext): AirflowApiError {
  switch (airflowErrorKind(context.status)) {
    case 'bad_request':
      return new AirflowBadRequestError(context);
    case 'unauthorized':
      return new AirflowUnauthorizedError(context);
    case 'forbidden':
      return new AirflowForbiddenError(context);
    case 'not_found':
      return new AirflowNotFoundError(context);
    case 'conflict':
      return new AirflowConflictError(context);
    case 'validation':
      return new AirflowValidationError(context);
    case 'server':
    case 'unreachable':
      return new AirflowUnavailableError(context);
    case 'client':
      return new AirflowApiError(context);
  }
}
