/**
 * One log line per request, when it is answered: method, route, status, duration, the caller's
 * key, and the ids that tie the request to the engines behind it — workflow id, review id,
 * hand-off id, Airflow DAG, run and task — so a request id in a problem leads to the Temporal
 * workflow and the Airflow task instance, and back. Fastify's own two lines per request are off
 * (app.ts), so this is the one line.
 */
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

/** The ids a request touched; routes fill in what they know with `correlate`. */
export interface Correlation {
  workflowId?: string;
  runId?: string;
  reviewId?: string;
  handoffId?: string;
  pipelineId?: string;
  dagId?: string;
  dagRunId?: string | string[];
  taskId?: string;
  mapIndex?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    correlation: Correlation | null;
  }
}

export function correlate(request: FastifyRequest, ids: Correlation): void {
  request.correlation = { ...request.correlation, ...ids };
}

/** What a path parameter is, by the resource it names: a review's id is its workflow's id, and so is a hand-off's. */
const idOfResource: [prefix: string, ids: (id: string) => Correlation][] = [
  ['/v1/workflows/:id', (id) => ({ workflowId: id })],
  ['/v1/reviews/:id', (id) => ({ reviewId: id, workflowId: id })],
  ['/v1/handoffs/:id', (id) => ({ handoffId: id, workflowId: id })],
  ['/v1/pipelines/:id', (id) => ({ pipelineId: id })],
];

export default fp(
  async (fastify) => {
    fastify.decorateRequest('correlation', null);
    fastify.addHook('preHandler', async (request) => {
      const route = request.routeOptions.url ?? '';
      const id = (request.params as { id?: unknown } | undefined)?.id;
      if (typeof id === 'string') {
        const match = idOfResource.find(([prefix]) => route.startsWith(prefix));
        if (match) correlate(request, match[1](id));
      }
      // A hand-off start names its Airflow task instance in the body.
      const airflow = (request.body as { airflow?: { dagId?: unknown; runId?: unknown; taskId?: unknown; mapIndex?: unknown } } | null)?.airflow;
      if (route === '/v1/handoffs' && airflow && typeof airflow.dagId === 'string') {
        correlate(request, {
          dagId: airflow.dagId,
          ...(typeof airflow.runId === 'string' ? { dagRunId: airflow.runId } : {}),
          ...(typeof airflow.taskId === 'string' ? { taskId: airflow.taskId } : {}),
          ...(typeof airflow.mapIndex === 'number' ? { mapIndex: airflow.mapIndex } : {}),
        });
      }
    });
    fastify.addHook('onResponse', async (request, reply) => {
      const status = reply.statusCode;
      const line = {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        url: request.url,
        statusCode: status,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        ...(request.principal ? { keyId: request.principal.keyId } : {}),
        ...request.correlation,
      };
      if (status >= 500) request.log.error(line, 'request failed');
      else request.log.info(line, 'request answered');
    });
  },
  { name: 'request-log', fastify: '5.x' },
);
