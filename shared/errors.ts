/**
 * The domain error hierarchy of the control plane. Code anywhere in tandem throws these; the API
 * turns them into RFC 9457 problem+json with their status. Their messages are written for API
 * callers (they become the problem `detail`), so never put secrets or stack-level internals in one;
 * attach those as `cause`, which is logged but never sent.
 */

export interface FieldIssue {
  /** Where the problem is, e.g. `body.stages.2.gpu`. */
  path: string;
  message: string;
}

export interface TandemErrorKind {
  status: number;
  /** Short slug; the problem `type` becomes `urn:tandem:problem:<slug>`. */
  slug: string;
  /** Same for every occurrence of this kind (RFC 9457 `title`). */
  title: string;
}

export const problemTypePrefix = 'urn:tandem:problem:';

export class TandemError extends Error {
  override name = 'TandemError';
  readonly status: number;
  readonly type: string;
  readonly title: string;

  constructor(detail: string, kind: TandemErrorKind, options?: ErrorOptions) {
    super(detail, options);
    this.status = kind.status;
    this.type = `${problemTypePrefix}${kind.slug}`;
    this.title = kind.title;
  }
}

export class ValidationError extends TandemError {
  override name = 'ValidationError';
  readonly errors: FieldIssue[];

  constructor(detail: string, errors: FieldIssue[] = [], options?: ErrorOptions) {
    super(detail, { status: 422, slug: 'validation', title: 'Request is not valid' }, options);
    this.errors = errors;
  }
}

/** The request names something that does not exist as a kind (an unknown workflow type, say). */
export class BadRequestError extends TandemError {
  override name = 'BadRequestError';

  constructor(detail: string, options?: ErrorOptions) {
    super(detail, { status: 400, slug: 'bad-request', title: 'Bad request' }, options);
  }
}

export class UnauthorizedError extends TandemError {
  override name = 'UnauthorizedError';
  constructor(detail: string, options?: ErrorOptions) {
    super(detail, { status: 401, slug: 'unauthorized', title: 'Authentication required' }, options);
  }
}

export class ForbiddenError extends TandemError {
  override name = 'ForbiddenError';
  constructor(detail: string, options?: ErrorOptions) {
    super(detail, { status: 403, slug: 'forbidden', title: 'Not allowed' }, options);
  }
}

export class NotFoundError extends TandemError {
  override name = 'NotFoundError';
  constructor(detail: string, options?: ErrorOptions) {
    super(detail, { status: 404, slug: 'not-found', title: 'Not found' }, options);
  }
}

export class ConflictError extends TandemError {
  override name = 'ConflictError';
  constructor(detail: string, options?: ErrorOptions) {
    super(detail, { status: 409, slug: 'conflict', title: 'Conflict with current state' }, options);
  }
}

/** A feature this deployment's engines do not offer (e.g. listing flows without the search attribute). */
export class FeatureUnavailableError extends TandemError {
  override name = 'FeatureUnavailableError';
  constructor(detail: string, options?: ErrorOptions) {
    super(detail, { status: 503, slug: 'feature-unavailable', title: 'Not available in this deployment' }, options);
  }
}

/** The API was started without an Airflow client: what needs Airflow answers 503 with this. */
export class AirflowUnavailableError extends TandemError {
  override name = 'AirflowUnavailableError';
  constructor(detail: string, options?: ErrorOptions) {
    super(detail, { status: 503, slug: 'airflow-unavailable', title: 'Airflow is not available' }, options);
  }
}

/** The Kubernetes API server cannot be reached, or is overloaded: retry later. */
export class KubernetesUnavailableError extends TandemError {
  override name = 'KubernetesUnavailableError';
  constructor(detail: string, options?: ErrorOptions) {
    super(detail, { status: 503, slug: 'kubernetes-unavailable', title: 'Kubernetes is not available' }, options);
  }
}

/** The Kubernetes API server answered, and refused what tandem sent (the detail says why). */
export class KubernetesRefusedError extends TandemError {
  override name = 'KubernetesRefusedError';
  constructor(detail: string, options?: ErrorOptions) {
    super(detail, { status: 502, slug: 'kubernetes-refused', title: 'Kubernetes refused the request' }, options);
  }
}

/** GPU batch work of a department that refuses it at peak time, started at peak time. */
export class OutsideOffPeakWindowError extends TandemError {
  override name = 'OutsideOffPeakWindowError';
  /** When the window next opens. */
  readonly opensAt: Date;
  constructor(detail: string, opensAt: Date, options?: ErrorOptions) {
    super(detail, { status: 409, slug: 'outside-off-peak-window', title: 'Outside the department’s off-peak window' }, options);
    this.opensAt = opensAt;
  }
}

export class RateLimitedError extends TandemError {
  override name = 'RateLimitedError';
  constructor(detail: string, options?: ErrorOptions) {
    super(detail, { status: 429, slug: 'rate-limited', title: 'Too many requests' }, options);
  }
}

/** A known path asked with a method it does not have; `allow` lists the ones it has. */
export class MethodNotAllowedError extends TandemError {
  override name = 'MethodNotAllowedError';
  readonly allow: string[];
  constructor(detail: string, allow: string[], options?: ErrorOptions) {
    super(detail, { status: 405, slug: 'method-not-allowed', title: 'Method not allowed' }, options);
    this.allow = allow;
  }
}

/** A body sent to an operation that takes none, or in a media type it does not read. */
export class UnsupportedMediaTypeError extends TandemError {
  override name = 'UnsupportedMediaTypeError';
  constructor(detail: string, options?: ErrorOptions) {
    super(detail, { status: 415, slug: 'unsupported-media-type', title: 'Unsupported media type' }, options);
  }
}
