import { defineConfig } from 'vitest/config';

// Three vitest tiers, named by what they start (run-all.ts runs them, plus the static checks and
// pytest, and sums every tier):
// - `unit`: beside the code; starts nothing. The generator's test runs Airflow's DagBag from .venv
//   over the files it generates, in-process, with no Airflow server.
// - `temporal`: beside the code, files named `*.temporal.test.ts`; each file starts its own Temporal
//   test server from .venv: the time-skipping test server (24 h timers in milliseconds) or the dev
//   server in memory on a random port (test/support/temporal-test-env.ts refuses to start either
//   in any other tier, so this description stays true).
// - `kubernetes`: beside the code, files named `*.kubernetes.test.ts`; one local Kubernetes per run
//   (etcd, kube-apiserver, controller-manager, scheduler, kwok: deploy/dev/kubernetes) started by
//   test/support/kubernetes-global-setup.ts; its files may also start a Temporal test server.
// - `integration`: test/; boots the full embedded stack (Temporal dev server, Airflow's
//   api-server, scheduler, dag-processor and triggerer, the worker, the API) once per run through
//   test/support/global-setup.ts; the hand-off fault drills boot a second one of their own.
const besideTheCode = ['shared', 'services', 'workflows', 'deploy', 'bench', 'bin'].map((dir) => `${dir}/**/*.test.ts`);
const startsTemporal = '**/*.temporal.test.ts';
const startsKubernetes = '**/*.kubernetes.test.ts';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [...besideTheCode, 'test/support/**/*.test.ts'],
          exclude: ['**/node_modules/**', startsTemporal, startsKubernetes],
          provide: { tier: 'unit' },
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'temporal',
          include: besideTheCode.map((glob) => glob.replace('*.test.ts', '*.temporal.test.ts')),
          provide: { tier: 'temporal' },
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'kubernetes',
          include: besideTheCode.map((glob) => glob.replace('*.test.ts', '*.kubernetes.test.ts')),
          globalSetup: ['test/support/kubernetes-global-setup.ts'],
          provide: { tier: 'kubernetes' },
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // One cluster shared by every file: files may run side by side, each in namespaces of its own.
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/support/**'],
          globalSetup: ['test/support/global-setup.ts'],
          provide: { tier: 'integration' },
          testTimeout: 180_000,
          hookTimeout: 600_000,
          // One real stack per run, shared by every file: run files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
