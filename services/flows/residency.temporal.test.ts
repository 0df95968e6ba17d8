// Data residency on a real dev server with two namespaces (test/support/residency-suite.ts).
import { immediateDelete, residencySuite } from '../../test/support/residency-suite.ts';
import { createLocalEnv } from '../../test/support/temporal-test-env.ts';

residencySuite(async () => {
  const dynamicConfig = Object.entries(immediateDelete).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${value}`]);
  const env = await createLocalEnv({ server: { extraArgs: ['--namespace', 'region-b', ...dynamicConfig] } });
  return { address: env.address, connection: env.connection, teardown: () => env.teardown() };
});
