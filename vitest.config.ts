import { defineConfig } from 'vitest/config';

// Two tiers: `unit` (beside the code, no real engines) and `integration` (test/, boots the real
// embedded stack once per run through test/support/global-setup.ts).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['shared/**/*.test.ts', 'services/**/*.test.ts', 'workflows/**/*.test.ts', 'deploy/**/*.test.ts', 'bench/**/*.test.ts', 'bin/**/*.test.ts', 'test/support/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/support/**'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
          // One real stack per run, shared by every file: run files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
