/**
 * What an operator watches besides HTTP: durable flows by type and status (counted in Temporal's
 * visibility store), reviews pending and escalated per department (the inbox), webhook deliveries
 * and failed attempts (the delivery log), and errors from the engines behind the API (Airflow,
 * Temporal) as they reached a request. Gauges are computed
 * when `/metrics` is scraped; the Temporal counts are cached briefly so a fast scraper does not
 * turn into a query storm.
 */
import { isGrpcServiceError } from '@temporalio/client';
import fp from 'fastify-plugin';
import { Counter, Gauge } from 'prom-client';
import { workflowTypes, type WorkflowTypeName } from '../../../../shared/contracts/workflow-types.ts';
import { AirflowApiError } from '../../../airflow/errors.ts';

const countedStatuses = { running: 'Running', completed: 'Completed', failed: 'Failed' } as const;
const countCacheMs = 15_000;

/** Which engine an error came from, if any: the label of `tandem_engine_errors_total`. */
export function engineOf(err: unknown): 'airflow' | 'temporal' | undefined {
  if (err instanceof AirflowApiError) return 'airflow';
  if (isGrpcServiceError(err) || (err as { name?: unknown } | null)?.name === 'ServiceError') return 'temporal';
  let cause = (err as { cause?: unknown } | null)?.cause;
  for (let depth = 0; cause && depth < 5; depth++) {
    if (cause instanceof AirflowApiError) return 'airflow';
    if (isGrpcServiceError(cause)) return 'temporal';
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * One load shared by the gauges of one scrape: prom-client collects every metric at once, and two
 * gauges read the same counts (pending reviews; the delivery log).
 */
function sharedPerScrape<T>(load: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => (inFlight ??= load().finally(() => (inFlight = undefined)));
}

export default fp(
  async (fastify) => {
    const registers = [fastify.metricsRegistry];
    const { regions } = fastify.temporal;

    let cached: { at: number; counts: [WorkflowTypeName, string, number][] } | undefined;
    const workflowCounts = async () => {
      if (cached && Date.now() - cached.at < countCacheMs) return cached.counts;
      const counts: [WorkflowTypeName, string, number][] = [];
      for (const [type, definition] of Object.entries(workflowTypes) as [WorkflowTypeName, { workflowName: string }][]) {
        for (const [status, visibility] of Object.entries(countedStatuses)) {
          // Summed over the regions: each region's namespace counts its own departments' flows.
          let total = 0;
          for (const { client } of regions.all) {
            const { count } = await client.workflowService.countWorkflowExecutions({
              namespace: client.options.namespace,
              query: `WorkflowType = '${definition.workflowName}' AND ExecutionStatus = '${visibility}'`,
            });
            total += Number(count ?? 0);
          }
          counts.push([type, status, total]);
        }
      }
      cached = { at: Date.now(), counts };
      return counts;
    };
    new Gauge({
      name: 'tandem_workflows',
      help: 'Durable flows by public type and status, as Temporal visibility counts them (cached 15 s)',
      labelNames: ['type', 'status'] as const,
      registers,
      async collect() {
        try {
          for (const [type, status, count] of await workflowCounts()) this.set({ type, status }, count);
        } catch (err) {
          // A Temporal without visibility counts (the time-skipping test server) reports nothing here.
          fastify.log.debug({ err }, 'could not count workflows for /metrics');
        }
      },
    });

    // Counted by the store (GROUP BY department), not by reading every pending task.
    const pendingReviews = sharedPerScrape(() => fastify.store.reviews.pendingCounts());
    const reviewGauge = (name: string, help: string, count: 'pending' | 'escalated') =>
      new Gauge({
        name,
        help,
        labelNames: ['department'] as const,
        registers,
        async collect() {
          this.reset();
          for (const row of await pendingReviews()) if (row[count] > 0) this.set({ department: row.department }, row[count]);
        },
      });
    reviewGauge('tandem_reviews_pending', 'Reviews waiting for a decision, per department', 'pending');
    reviewGauge('tandem_reviews_escalated', 'Pending reviews escalated at least once, per department', 'escalated');

    // From the delivery log, so every API replica reports the same numbers.
    const deliveryCounts = sharedPerScrape(() => fastify.store.webhooks.deliveryCounts());
    new Gauge({
      name: 'tandem_webhook_deliveries',
      help: 'Webhook deliveries by department and status (pending, retrying, delivered, failed, cancelled), from the delivery log',
      labelNames: ['department', 'status'] as const,
      registers,
      async collect() {
        this.reset();
        for (const row of await deliveryCounts()) this.set({ department: row.department, status: row.status }, row.deliveries);
      },
    });
    new Gauge({
      name: 'tandem_webhook_failed_attempts',
      help: 'Delivery attempts a receiver did not acknowledge with 2xx (or did not answer), by department, from the delivery log',
      labelNames: ['department'] as const,
      registers,
      async collect() {
        this.reset();
        const byDepartment = new Map<string, number>();
        for (const row of await deliveryCounts()) byDepartment.set(row.department, (byDepartment.get(row.department) ?? 0) + row.failedAttempts);
        for (const [department, count] of byDepartment) this.set({ department }, count);
      },
    });

    const engineErrors = new Counter({
      name: 'tandem_engine_errors_total',
      help: 'Requests that failed because Airflow or Temporal answered with an error or could not be reached',
      labelNames: ['engine'] as const,
      registers,
    });
    for (const engine of ['airflow', 'temporal']) engineErrors.inc({ engine }, 0);
    fastify.addHook('onError', async (_request, _reply, err) => {
      const engine = engineOf(err);
      if (engine) engineErrors.inc({ engine });
    });
  },
  { name: 'domain-metrics', fastify: '5.x', dependencies: ['metrics', 'store', 'temporal'] },
);
