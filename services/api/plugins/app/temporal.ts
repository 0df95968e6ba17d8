/**
 * The Temporal client as `fastify.temporal`. Routes start, signal, update and query workflows
 * through `fastify.temporal.client`; readiness uses `ping`. The gateway is injected so tests can
 * pass a fake without a Temporal server.
 */
import type { Client } from '@temporalio/client';
import fp from 'fastify-plugin';
import { temporalHealth } from '../../../../shared/temporal-connection.ts';

export interface TemporalGateway {
  readonly client: Client;
  /** Task queue of the tandem worker: every workflow the API starts goes there. */
  readonly taskQueue: string;
  /** Whether the namespace has the TandemDepartment search attribute (workflows carry it; lists use it). */
  readonly departmentSearchAttribute: boolean;
  /** One cheap round trip to the frontend; rejects when Temporal cannot serve our namespace. */
  ping(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    temporal: TemporalGateway;
  }
}

/** The real gateway around a connected SDK client (see `connectTemporal`). */
export function temporalGateway(client: Client, taskQueue: string, departmentSearchAttribute = false): TemporalGateway {
  return {
    client,
    taskQueue,
    departmentSearchAttribute,
    async ping(signal) {
      const health = await client.connection.withAbortSignal(signal, () =>
        temporalHealth(client.connection, client.options.namespace),
      );
      if (!health.ok) throw new Error(health.error);
    },
    close: () => client.connection.close(),
  };
}

export interface TemporalPluginOptions {
  gateway: TemporalGateway;
}

export default fp<TemporalPluginOptions>(
  async (fastify, { gateway }) => {
    fastify.decorate('temporal', gateway);
    fastify.addHook('onClose', async () => {
      await gateway.close();
    });
  },
  { name: 'temporal', fastify: '5.x' },
);
