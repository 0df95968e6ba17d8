/**
 * Start-up checks for engines tandem does not run itself (TANDEM_TEMPORAL_EMBEDDED=false,
 * TANDEM_AIRFLOW_EMBEDDED=false): fail at once with one clear line instead of a stack that
 * comes up and then cannot do anything.
 */
import type { TandemConfig } from '../../shared/config.ts';
import { localRegion, temporalRegions } from '../../shared/regions.ts';
import { connectTemporal, describeTemporalError } from '../../shared/temporal-connection.ts';
import { StackError } from './supervisor.ts';

/** Every region's Temporal that is not the embedded one (all of them when nothing is embedded). */
export async function probeTemporal(config: TandemConfig): Promise<void> {
  for (const region of temporalRegions(config)) {
    if (config.temporal.embedded && region.address === config.temporal.address) continue;
    try {
      const client = await connectTemporal(config, { region });
      await client.connection.close();
    } catch (err) {
      const setting = region.name === localRegion ? 'TANDEM_TEMPORAL_ADDRESS' : `region ${region.name} in TANDEM_REGIONS`;
      throw new StackError(`Temporal at ${region.address} is not reachable (${describeTemporalError(err)}); start it or fix ${setting}`);
    }
  }
}

export async function probeAirflow(config: TandemConfig): Promise<void> {
  try {
    const res = await fetch(new URL('/api/v2/monitor/health', config.airflow.url), { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    throw new StackError(
      `Airflow at ${config.airflow.url} is not reachable (${(err as Error).message}); start it or fix TANDEM_AIRFLOW_URL`,
    );
  }
}
