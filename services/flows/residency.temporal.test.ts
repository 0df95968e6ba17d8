// Data residency on a real dev server with two namespaces (test/support/residency-suite.ts).
import { residencySuite } from '../../test/support/residency-suite.ts';
import { createLocalEnv } from '../../test/support/temporal-test-env.ts';

residencySuite(async () => {
  const env = await createLocalEnv({ server: { extraArgs: ['--namespace', 'region-b'] } });
  return { address: env.address, connection: env.connection, teardown: () => env.teardown() };
});
