/**
 * Builds the control API without listening (server.ts listens; tests use `app.inject`). Everything
 * with I/O — store, Temporal, Airflow — comes in through `AppDeps`, so tests pass fakes.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RouteOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { TandemConfig } from '../../shared/config.ts';
import type { Store } from '../../shared/store/store.ts';
import type { AirflowClient } from '../airflow/client.ts';
import airflowPlugin, { type AirflowReadinessProbe } from './plugins/app/airflow.ts';
import authPlugin from './plugins/app/auth.ts';
import domainMetricsPlugin from './plugins/app/domain-metrics.ts';
import contractPlugin from './plugins/app/contract.ts';
import metricsPlugin from './plugins/app/metrics.ts';
import requestLogPlugin from './plugins/app/request-log.ts';
import storePlugin from './plugins/app/store.ts';
import temporalPlugin, { type TemporalGateway } from './plugins/app/temporal.ts';
import handoffsPlugin from './plugins/app/handoffs.ts';
import idempotencyPlugin from './plugins/app/idempotency.ts';
import pipelinesPlugin from './plugins/app/pipelines.ts';
import tenantsPlugin from './plugins/app/tenants.ts';
import type { TenantCluster } from '../tenants/cluster.ts';
import handoffReconcilerPlugin from './plugins/app/handoff-reconciler.ts';
import rateLimitPlugin from './plugins/external/rate-limit.ts';
import swaggerPlugin from './plugins/external/swagger.ts';
import { problemErrorHandler, problemNotFoundHandler } from './problem-details.ts';
import healthRoutes from './routes/health/index.ts';
import v1Routes from './routes/v1/index.ts';
import consoleRoutes from './routes/console/index.ts';

export interface AppDeps {
  config: TandemConfig;
  store: Store;
  temporal: TemporalGateway;
  /** What `/readyz` asks about Airflow. */
  airflowProbe: AirflowReadinessProbe;
  /** Airflow REST client for deploying pipelines, triggering runs and hand-off XComs; without it those answer 503. */
  airflowClient?: AirflowClient;
  /** The Kubernetes cluster tenants are applied to; without one they are stored but not applied. */
  tenantCluster?: TenantCluster | null;
  /** A pino logger; defaults to one at `config.logLevel` writing JSON to stdout. */
  logger?: FastifyBaseLogger;
  /** Per dependency in `/readyz`. */
  readinessTimeoutMs?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    tandemConfig: TandemConfig;
  }
}

export interface BuildAppOptions {
  /** Sees every route as it registers, before any plugin; tests use it to walk the route table. */
  onRoute?: (route: RouteOptions) => void;
}

/** Honour a caller's `x-request-id` so one id follows a request across services — if it is sane. */
export function requestId(request: IncomingMessage): string {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
}

export async function buildApp(deps: AppDeps, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: { level: config.logLevel } }),
    genReqId: requestId,
    // One line per request, with the engine ids it touched, comes from plugins/app/request-log.ts.
    logController: new LogController({ disableRequestLogging: true }),
    // A Fastify server option rather than a plugin: it caps every content type parser at once.
    bodyLimit: config.api.bodyLimitBytes,
    // The router's default (100 characters) is below what the id schemas allow (hand-off ids run
    // to 1100 characters, up to 12 bytes each percent-encoded), and its refusal is a bare 414: let
    // the schemas decide, as the document says. Node's 16 KiB header limit caps the URL anyway.
    routerOptions: { maxParamLength: 16 * 1024 },
    // A `__proto__` key is dropped rather than refused: a body the document calls valid (a
    // fingerprint's free-form `value`) must not be a 400, and the key never reaches an object.
    onProtoPoisoning: 'remove',
  }).withTypeProvider<ZodTypeProvider>();

  if (options.onRoute) app.addHook('onRoute', options.onRoute);
  // Read-only settings for routes that need them (e.g. the pipeline lint's off-peak windows).
  app.decorate('tandemConfig', config);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(problemErrorHandler);
  app.setNotFoundHandler(problemNotFoundHandler);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  // Framework add-ons first: rate limiting and OpenAPI only see routes registered after them.
  await app.register(rateLimitPlugin, { perMinute: config.api.rateLimitPerMinute, counter: deps.store.rateLimits });
  // Before every route: it documents each route's standard problems, refuses unread bodies and
  // knows every path for 405.
  await app.register(contractPlugin);
  await app.register(swaggerPlugin);

  await app.register(metricsPlugin);
  await app.register(requestLogPlugin);
  await app.register(storePlugin, { store: deps.store });
  await app.register(temporalPlugin, { gateway: deps.temporal });
  await app.register(airflowPlugin, { probe: deps.airflowProbe, client: deps.airflowClient });
  await app.register(tenantsPlugin, { cluster: deps.tenantCluster ?? null });
  await app.register(pipelinesPlugin);
  await app.register(handoffsPlugin);
  await app.register(handoffReconcilerPlugin);
  await app.register(domainMetricsPlugin);
  await app.register(authPlugin);
  await app.register(idempotencyPlugin);

  await app.register(healthRoutes, { readinessTimeoutMs: deps.readinessTimeoutMs ?? 2000 });
  await app.register(v1Routes, { prefix: '/v1' });
  await app.register(consoleRoutes, { prefix: '/console' });

  await app.ready();
  return app;
}
