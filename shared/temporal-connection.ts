/**
 * The one way every tandem process talks to Temporal: the API and the CLI through a `Client`,
 * the worker through a `NativeConnection`, /readyz through `temporalHealth`. All of them read the
 * same `config.temporal` block, so the embedded dev server, a self-hosted cluster and Temporal
 * Cloud differ only in configuration. A data-residency region (shared/regions.ts) swaps in its
 * own address and namespace; TLS and the API key stay the configured ones.
 *
 * Pure: nothing connects at import time.
 */
import { Client, Connection, type ConnectionLike, type ConnectionOptions } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { TandemConfig } from './config.ts';
import type { TemporalRegion } from './regions.ts';

type TemporalSettings = Pick<TandemConfig['temporal'], 'address' | 'namespace' | 'tls' | 'apiKey'>;

/** Connection options shared by the client (`Connection`) and the worker (`NativeConnection`). */
export interface TemporalConnectionOptions {
  address: string;
  tls: boolean;
  apiKey?: string;
}

/**
 * Address, TLS and API key from the config. An API key turns TLS on even when `tls` is false:
 * it is a bearer credential (Temporal Cloud's), and sending it in clear text is never what anyone
 * meant — the SDK would send it without complaint.
 */
export function connectionOptions(config: { temporal: TemporalSettings }): TemporalConnectionOptions {
  const { address, tls, apiKey } = config.temporal;
  const options: TemporalConnectionOptions = { address, tls: tls || Boolean(apiKey) };
  if (apiKey) options.apiKey = apiKey;
  return options;
}

export interface ConnectTemporalOptions {
  dataConverter?: DataConverter;
  /** How long to wait for the first successful call (`getSystemInfo`). Default 10 s. */
  connectTimeoutMs?: number;
  /** The region to connect to; default `temporal.address` and `temporal.namespace` (region local). */
  region?: TemporalRegion;
}

function inRegion(config: TandemConfig, region: TemporalRegion | undefined): TandemConfig {
  return region ? { ...config, temporal: { ...config.temporal, address: region.address, namespace: region.namespace } } : config;
}

/**
 * Connects eagerly (the SDK calls `getSystemInfo`), so an unreachable or misconfigured server
 * fails here with one error instead of on the first workflow call.
 */
export async function connectTemporal(inConfig: TandemConfig, options: ConnectTemporalOptions = {}): Promise<Client> {
  const config = inRegion(inConfig, options.region);
  const connection = await Connection.connect(clientConnectionOptions(config, options.connectTimeoutMs));
  return new Client({
    connection,
    namespace: config.temporal.namespace,
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
  });
}

function clientConnectionOptions(config: TandemConfig, connectTimeoutMs = 10_000): ConnectionOptions {
  const { address, tls, apiKey } = connectionOptions(config);
  return { address, tls, connectTimeout: connectTimeoutMs, ...(apiKey ? { apiKey } : {}) };
}

/** The worker's connection: Rust core, shared by every Worker in the process. */
export async function connectNativeTemporal(config: TandemConfig, region?: TemporalRegion): Promise<NativeConnection> {
  const { address, tls, apiKey } = connectionOptions(inRegion(config, region));
  const options: NativeConnectionOptions = { address, tls, ...(apiKey ? { apiKey } : {}) };
  return NativeConnection.connect(options);
}

export type TemporalHealth =
  | { ok: true; latencyMs: number; serverVersion: string }
  | { ok: false; latencyMs: number; error: string };

/**
 * One real round trip for /readyz: `getSystemInfo` on the frontend plus `describeNamespace`,
 * because a server that is up but lacks our namespace cannot run a single workflow.
 * Never throws; bounded by `timeoutMs` so a hung server cannot hang the probe.
 */
export async function temporalHealth(
  connection: Pick<ConnectionLike, 'workflowService' | 'withDeadline'>,
  namespace: string,
  timeoutMs = 2000,
): Promise<TemporalHealth> {
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  try {
    const [info] = await connection.withDeadline(Date.now() + timeoutMs, () =>
      Promise.all([
        connection.workflowService.getSystemInfo({}),
        connection.workflowService.describeNamespace({ namespace }),
      ]),
    );
    return { ok: true, latencyMs: elapsed(), serverVersion: info.serverVersion ?? 'unknown' };
  } catch (err) {
    return { ok: false, latencyMs: elapsed(), error: describeTemporalError(err) };
  }
}

/**
 * One readable line from an SDK error. gRPC errors carry the useful part in `details`; the
 * worker's Rust core reports connection failures as a Debug dump
 * (`tonic::transport::Error(Transport, ConnectError(… message: "Connection refused" …))`),
 * from which the innermost message is what a person needs.
 */
export function describeTemporalError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const details = (err as { details?: unknown }).details;
  const text = typeof details === 'string' && details ? details : err.message;
  if (text.includes('tonic::transport::Error')) {
    const inner = [...text.matchAll(/(?:message|error): "([^"]+)"/g)].at(-1)?.[1];
    const kind = /ConnectError\("([^"]+)"/.exec(text)?.[1];
    if (inner) return kind ? `${kind}: ${inner}` : inner;
  }
  return text.split('\n')[0] ?? text;
}
