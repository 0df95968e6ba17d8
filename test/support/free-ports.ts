import { freeConsecutivePorts, freePorts } from '../../deploy/dev/ports.ts';

// For tests under services/, which may not import deploy/ themselves.
export { freePorts };

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
