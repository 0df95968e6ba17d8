/**
 * The control API process: config → store (+ keys from the credentials file) → Temporal and
 * Airflow clients → app → listen. Startup failures print one line saying what to do, and exit 1.
 */
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import { loadConfig, statePaths } from '../../shared/config.ts';
import { readCredentials } from '../../shared/credentials.ts';
import { agreedPayloadCodec, clientDataConverter } from '../../shared/payload-codec.ts';
import { localRegion, temporalRegions } from '../../shared/regions.ts';
import { openStore } from '../../shared/store/open-store.ts';
import type { Store } from '../../shared/store/store.ts';
import { connectTemporal, describeTemporalError } from '../../shared/temporal-connection.ts';
import { AirflowClient } from '../airflow/client.ts';
import { registerDepartmentSearchAttribute } from '../flows/department-search-attribute.ts';
import type { RegionClient } from '../flows/regional-temporal.ts';
import { buildApp } from './app.ts';
import { seedCredentialKeys } from './credential-keys.ts';
import { airflowReadinessProbe } from './plugins/app/airflow.ts';
import { temporalGateway } from './plugins/app/temporal.ts';
import { loadKubeConfig } from '../kubernetes/kubernetes-job-runner.ts';
import { parseSpotLabel, parseSpotTaint } from '../kubernetes/job-manifest.ts';
import { KubernetesTenantCluster } from '../tenants/cluster.ts';

function fail(message: string): never {
  process.stderr.write(`tandem api: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const paths = statePaths(config.stateDir);
  const credentials = readCredentials(paths.credentials);

  let store: Store | undefined;
  let app: FastifyInstance | undefined;
  try {
    // PostgreSQL is migrated by deploy/store/migrate.ts, never by a replica as it starts.
    store = await openStore(config, { migrate: false });
    // Same keyring as the worker and every other replica (checked against the store before
    // anything is written): what the API starts is encrypted, what it reads back is decrypted.
    const dataConverter = clientDataConverter(await agreedPayloadCodec(config, store));
    await seedCredentialKeys(store, credentials);
    // One client per data-residency region (only `local` unless TANDEM_REGIONS lists more); a
    // region that cannot be reached stops the start, as a Temporal that cannot be reached always did.
    const regions: RegionClient[] = [];
    try {
      for (const region of temporalRegions(config)) {
        const client = await connectTemporal(config, { dataConverter, region }).catch((err: unknown) => {
          const which = region.name === localRegion ? '' : ` (region ${region.name}, TANDEM_REGIONS)`;
          throw new Error(`cannot reach Temporal at ${region.address}${which}: ${describeTemporalError(err)}`, { cause: err });
        });
        // At start-up, so a fresh dev server or cluster namespace gets it before the first workflow.
        regions.push({ region: region.name, client, departmentSearchAttribute: await registerDepartmentSearchAttribute(client) });
      }
    } catch (err) {
      await Promise.all(regions.map((r) => r.client.connection.close()));
      throw err;
    }
    const temporal = temporalGateway(regions, config.temporal.taskQueue);
    // No retries for the probe: readiness reports Airflow as it is now, and a refused connection
    // should say so at once instead of being retried into a timeout.
    const airflowProbe = airflowReadinessProbe(AirflowClient.forStack(config, credentials, { retries: 0 }));
    // Deploys, triggers and XComs go through the client with its usual retries.
    const airflowClient = AirflowClient.forStack(config, credentials);
    // Tenants are applied to this cluster (TANDEM_KUBECONFIG, or the Pod's service account inside
    // one); an API outside a cluster without a kubeconfig stores them and uses their settings.
    const { kubeconfig } = config.kubernetes;
    let tenantCluster = null;
    try {
      // The job runner's Kueue settings, so the LocalQueue tandem creates is the one its Jobs name.
      const { kueue, kueueLocalQueue, spotNodeLabel, spotTaint } = config.kubernetes;
      const options = { kueue, localQueue: kueueLocalQueue, spot: { label: parseSpotLabel(spotNodeLabel), taint: parseSpotTaint(spotTaint) } };
      tenantCluster = kubeconfig || process.env.KUBERNETES_SERVICE_HOST ? new KubernetesTenantCluster(loadKubeConfig(kubeconfig), options) : null;
    } catch (err) {
      throw new Error(`cannot load the kubeconfig ${kubeconfig ?? '(in-cluster)'} (TANDEM_KUBECONFIG): ${(err as Error).message}`, { cause: err });
    }
    app = await buildApp({ config, store, temporal, airflowProbe, airflowClient, tenantCluster });
  } catch (err) {
    await store?.close();
    throw err;
  }

  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an uncaught error');
    else app.log.info({ signal }, 'shutting down');
    await app.close();
  });

  try {
    await app.listen({ host: config.host, port: config.api.port });
  } catch (err) {
    await app.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      fail(`port ${config.api.port} is already in use; set TANDEM_API_PORT`);
    }
    throw err;
  }
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
