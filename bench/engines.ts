/**
 * Part of the dev stack for benchmarks that need only Temporal (and the tandem worker): the same
 * process specs as deploy/dev/stack.ts, under one supervisor, without Airflow or the API.
 */
import { configToEnv, statePaths, type TandemConfig } from '../shared/config.ts';
import { prebuildWorkflowBundle } from '../services/worker/bundle.ts';
import { Supervisor } from '../deploy/dev/supervisor.ts';
import { temporalPrepareSteps, temporalProcess } from '../deploy/dev/temporal.ts';
import { workerProcess } from '../deploy/dev/worker.ts';
import type { ProcessSpec } from '../deploy/dev/process-spec.ts';

export async function startTemporal(config: TandemConfig, log: (line: string) => void, options: { worker: boolean }): Promise<Supervisor> {
  const supervisor = new Supervisor({ host: config.host, logDir: statePaths(config.stateDir).logs, progress: log });
  const childEnv = configToEnv(config);
  const withEnv = (spec: ProcessSpec): ProcessSpec => ({ ...spec, env: { ...childEnv, ...spec.env } });
  try {
    await supervisor.prepare([
      ...temporalPrepareSteps(config),
      ...(options.worker ? [{ name: 'building workflow bundle', run: async () => void (await prebuildWorkflowBundle()) }] : []),
    ]);
    await supervisor.start(withEnv(temporalProcess(config)));
    if (options.worker) await supervisor.start(withEnv(workerProcess(config)));
  } catch (err) {
    await supervisor.stop();
    throw err;
  }
  return supervisor;
}
