/**
 * Temporal as `fastify.temporal`: one client per data-residency region
 * (services/flows/regional-temporal.ts). Routes reach a department's workflows through
 * `fastify.temporal.regions.forDepartment(department)`, never through a client of their own
 * choosing; readiness uses `ping`. The gateway is injected so tests can pass a fake without a
 * Temporal server.
 */
import fp from 'fastify-plugin';
import { temporalHealth } from '../../../../shared/temporal-connection.ts';
import { RegionalTemporal, type RegionClient } from '../../../flows/regional-temporal.ts';

export interface TemporalGateway {
  /** Every region this API serves, `local` among them. */
  readonly regions: readonly RegionClient[];
  /** Task queue of the tandem worker, the same name in every region. */
  readonly taskQueue: string;
  /** One cheap round trip to every region's frontend; rejects when one cannot serve its namespace. */
  ping(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** What routes see: the regions by department, the task queue, readiness. */
export interface TemporalAccess {
  readonly regions: RegionalTemporal;
  readonly taskQueue: string;
  ping(signal: AbortSignal): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    temporal: TemporalAccess;
  }
}

/** The real gateway around connected SDK clients, one per region (see `connectTemporal`). */
export function temporalGateway(regions: readonly RegionClient[], taskQueue: string): TemporalGateway {
  return {
    regions,
    taskQueue,
    async ping(signal) {
      const failures = await Promise.all(
        regions.map(async ({ region, client }) => {
          const health = await client.connection.withAbortSignal(signal, () => temporalHealth(client.connection, client.options.namespace));
          return health.ok ? undefined : regions.length > 1 ? `region ${region}: ${health.error}` : health.error;
        }),
      );
      const failed = failures.filter((f) => f !== undefined);
      if (failed.length > 0) throw new Error(failed.join('; '));
    },
    async close() {
      await Promise.all(regions.map((r) => r.client.connection.close()));
    },
  };
}

export interface TemporalPluginOptions {
  gateway: TemporalGateway;
}

export default fp<TemporalPluginOptions>(
  async (fastify, { gateway }) => {
    fastify.decorate('temporal', {
      regions: new RegionalTemporal(gateway.regions, fastify.store.tenants),
      taskQueue: gateway.taskQueue,
      ping: (signal: AbortSignal) => gateway.ping(signal),
    });
    fastify.addHook('onClose', async () => {
      await gateway.close();
    });
  },
  { name: 'temporal', fastify: '5.x', dependencies: ['store'] },
);
