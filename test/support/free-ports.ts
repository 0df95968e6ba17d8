import { portIsFree } from '../../deploy/dev/supervisor.ts';

/**
 * Linux hands out ephemeral ports (outgoing connections, servers on port 0) from 32768 up, so a
 * port picked up there can be taken by someone's outgoing connection between the check and the
 * bind — e.g. between two starts of the same stack. Stay below that range.
 */
const EPHEMERAL_START = 32_768;

/** Finds `count` consecutive-ish free ports on host, starting the search at `from`. */
export async function freePorts(host: string, count: number, from = 20_000 + Math.floor(Math.random() * 10_000)): Promise<number[]> {
  const ports: number[] = [];
  for (let port = from; ports.length < count && port < EPHEMERAL_START; port++) {
    if (await portIsFree(host, port)) ports.push(port);
  }
  if (ports.length < count) throw new Error(`could not find ${count} free ports on ${host}`);
  return ports;
}

/**
 * TANDEM_* settings for a stack that can run beside any other: every port free, and (when a state
 * dir is given) its own state dir and DAG folder. Used by the integration tier, benchmarks and
 * launcher tests.
 */
export async function isolatedStackEnv(stateDir?: string): Promise<Record<string, string>> {
  const [api, temporal, ui, http, metrics, airflow] = await freePorts('127.0.0.1', 6);
  return {
    TANDEM_API_PORT: String(api),
    TANDEM_TEMPORAL_PORT: String(temporal),
    TANDEM_TEMPORAL_UI_PORT: String(ui),
    TANDEM_TEMPORAL_HTTP_PORT: String(http),
    TANDEM_TEMPORAL_METRICS_PORT: String(metrics),
    TANDEM_AIRFLOW_PORT: String(airflow),
    ...(stateDir
      ? {
          TANDEM_STATE_DIR: stateDir,
          // Keep DAG files out of the repository's dags/generated, which a dev stack may be reading.
          TANDEM_AIRFLOW_DAGS_FOLDER: `${stateDir}/dags`,
        }
      : {}),
  };
}

/** `count` free ports in a row (returns the first), none of them in `exclude`, below the ephemeral range. */
export async function freeConsecutivePorts(host: string, count: number, exclude: number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (EPHEMERAL_START - 20_000 - count));
    let free = true;
    for (let port = base; free && port < base + count; port++) free = !exclude.includes(port) && (await portIsFree(host, port));
    if (free) return base;
  }
  throw new Error(`could not find ${count} consecutive free ports on ${host}`);
}

/**
 * What the cluster profile needs beside `isolatedStackEnv(...)` (pass its result: these ports
 * avoid its ports): the profile's PostgreSQL port and the Temporal cluster's seven service ports
 * (`temporal.clusterPortBase`).
 */
export async function isolatedClusterEnv(stackEnv: Record<string, string>): Promise<Record<string, string>> {
  const taken = Object.entries(stackEnv).filter(([name]) => name.endsWith('_PORT')).map(([, value]) => Number(value));
  const base = await freeConsecutivePorts('127.0.0.1', 7, taken);
  const database = await freeConsecutivePorts('127.0.0.1', 1, [...taken, ...Array.from({ length: 7 }, (_, i) => base + i)]);
  return { TANDEM_DATABASE_PORT: String(database), TANDEM_TEMPORAL_CLUSTER_PORT_BASE: String(base) };
}
