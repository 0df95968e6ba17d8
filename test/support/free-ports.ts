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
