// Data residency on the cluster profile's Temporal: four services on the postgres tier's server
// with the namespaces `default` and `region-b` (test/support/residency-suite.ts): the same suite as
// services/flows/residency.temporal.test.ts, which runs it on the dev server. Builds
// temporal-server first when the cache lacks it.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { inject } from 'vitest';
import { clusterPorts, startTemporalCluster, temporalBuildStep } from './cluster.ts';
import { runCommand } from '../supervisor.ts';
import { freeConsecutivePorts, freePorts } from '../ports.ts';
import { immediateDelete, residencySuite } from '../../../test/support/residency-suite.ts';

residencySuite(async () => {
  await temporalBuildStep().run({ signal: new AbortController().signal, exec: runCommand });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-residency-cluster-'));
  const suffix = randomBytes(4).toString('hex');
  const [frontend, frontendHttp] = await freePorts('127.0.0.1', 2);
  const ports = clusterPorts(frontend!, frontendHttp!, await freeConsecutivePorts('127.0.0.1', 7, [frontend!, frontendHttp!]));
  const cluster = await startTemporalCluster({
    postgresUrl: inject('postgresAdminUrl'),
    ports,
    dir,
    namespaces: ['default', 'region-b'],
    databases: { default: `temporal_res_${suffix}`, visibility: `temporal_res_visibility_${suffix}` },
    dynamicConfig: immediateDelete,
    log: () => undefined,
  });
  const connection = await Connection.connect({ address: cluster.address });
  return {
    address: cluster.address,
    connection,
    teardown: async () => {
      await connection.close();
      await cluster.stop();
      if (!process.env.TANDEM_TEST_KEEP_STATE) rmSync(dir, { recursive: true, force: true });
    },
  };
}, 900_000);
