/**
 * The API's one error handler and one not-found handler: every failure leaves as RFC 9457
 * problem+json. Client errors say exactly what was wrong (every validation issue, not the first);
 * server errors say nothing about internals — the caller gets the request id, the log gets the error.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { isGrpcServiceError } from '@temporalio/client';
import { isResponseSerializationError } from 'fastify-type-provider-zod';
import { AirflowApiError, AirflowUnavailableError as AirflowServerError } from '../airflow/errors.ts';
import { problemContentType, type ProblemDetails } from '../../shared/contracts/problem.ts';
import { MethodNotAllowedError, TandemError, UnauthorizedError, ValidationError, type FieldIssue } from '../../shared/errors.ts';

function statusTitle(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

/** `/stages/2/gpu` in the body → `body.stages.2.gpu`. */
function issuePath(context: string | undefined, instancePath: string): string {
  return [context ?? 'request', ...instancePath.split('/').filter(Boolean)].join('.');
}

function validationIssues(error: FastifyError & { validation: FastifySchemaValidationError[] }): FieldIssue[] {
  return error.validation.map((issue) => ({
    path: issuePath(error.validationContext, issue.instancePath),
    message: issue.message ?? 'is not valid',
  }));
}

/** Seconds a caller should wait after a 503 from an engine that is down or busy. */
export const upstreamRetryAfterSeconds = 5;

/** gRPC codes of a Temporal call that may pass later: unavailable, deadline exceeded, resource exhausted. */
const transientGrpcCodes = new Set([14, 4, 8]);

function grpcCodeOf(error: unknown): number | undefined {
  if (isGrpcServiceError(error)) return error.code;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return isGrpcServiceError(cause) ? cause.code : undefined;
}

/**
 * Airflow or Temporal failing is not a tandem bug, so it is not a 500: down, busy or answering
 * 5xx after the client's retries → 503 with Retry-After; Airflow refusing a call tandem made → 502.
 */
function upstreamProblem(error: unknown): Pick<ProblemDetails, 'type' | 'title' | 'status' | 'detail'> | undefined {
  if (error instanceof AirflowServerError) {
    return { type: 'urn:tandem:problem:upstream-unavailable', title: 'An engine tandem depends on is unavailable', status: 503, detail: 'Airflow is unavailable or failed to answer; retry later' };
  }
  if (error instanceof AirflowApiError) {
    return { type: 'urn:tandem:problem:upstream-refused', title: 'An engine tandem depends on refused the call', status: 502, detail: `Airflow refused the call (${error.status ?? 'no status'})` };
  }
  const code = grpcCodeOf(error);
  if (code !== undefined && transientGrpcCodes.has(code)) {
    return { type: 'urn:tandem:problem:upstream-unavailable', title: 'An engine tandem depends on is unavailable', status: 503, detail: 'Temporal is unavailable or did not answer in time; retry later' };
  }
  return undefined;
}

export function toProblem(error: unknown, request: FastifyRequest): ProblemDetails {
  const base = { instance: request.url.split('?', 1)[0], requestId: request.id };
  const fastifyError = error as Partial<FastifyError> | null;

  if (fastifyError && Array.isArray(fastifyError.validation) && fastifyError.validation.length > 0) {
    const errors = validationIssues(fastifyError as FastifyError & { validation: FastifySchemaValidationError[] });
    return {
      type: 'urn:tandem:problem:validation',
      title: 'Request is not valid',
      status: 422,
      detail: `${errors.length} problem(s) in the request: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      errors,
      ...base,
    };
  }
  if (error instanceof TandemError) {
    return {
      type: error.type,
      title: error.title,
      status: error.status,
      detail: error.message,
      ...(error instanceof ValidationError ? { errors: error.errors } : {}),
      ...base,
    };
  }
  const upstream = upstreamProblem(error);
  if (upstream) return { ...upstream, ...base };
  const status = fastifyError?.statusCode;
  // Framework client errors (malformed JSON 400, body too large 413, unsupported media type 415…)
  // describe the request, not our internals, so their message is safe to return.
  if (typeof status === 'number' && status >= 400 && status < 500 && !isSerializationError(error)) {
    return { type: 'about:blank', title: statusTitle(status), status, detail: fastifyError?.message, ...base };
  }
  return {
    type: 'about:blank',
    title: statusTitle(500),
    status: 500,
    detail: `The server failed to handle this request. Quote request id ${request.id} when reporting it.`,
    ...base,
  };
}

function isSerializationError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'method' in error && isResponseSerializationError(error);
}

export function sendProblem(reply: FastifyReply, problem: ProblemDetails): FastifyReply {
  return reply.code(problem.status).type(problemContentType).send(problem);
}

export function problemErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const problem = toProblem(error, request);
  if (problem.status === 503) reply.header('retry-after', String(upstreamRetryAfterSeconds));
  if (problem.status >= 500) {
    request.log.error({ err: error }, 'request failed');
  } else {
    request.log.info({ status: problem.status, type: problem.type, detail: problem.detail }, 'request rejected');
  }
  if (error instanceof UnauthorizedError) reply.header('www-authenticate', 'Bearer realm="tandem"');
  if (error instanceof MethodNotAllowedError) reply.header('allow', error.allow.join(', '));
  return sendProblem(reply, problem);
}

export function problemNotFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(reply, {
    type: 'about:blank',
    title: statusTitle(404),
    status: 404,
    detail: `no route for ${request.method} ${request.url.split('?', 1)[0]}`,
    instance: request.url.split('?', 1)[0],
    requestId: request.id,
  });
}
