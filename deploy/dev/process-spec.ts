/**
 * What the dev-stack launcher needs to know to run one process of the embedded stack.
 * Each component has a module here describing it with these (temporal.ts, airflow.ts, worker.ts,
 * api.ts; the services themselves know nothing of how they are launched); the launcher
 * supervises them uniformly: checks ports, starts in order, polls readiness, stops in reverse.
 */
export interface ProcessSpec {
  /** Short unique name used in progress lines and log file names, e.g. `airflow-scheduler`. */
  name: string;
  /** Absolute path of the executable (resolved by the component, so a missing binary is reported clearly). */
  command: string;
  args: string[];
  /** Extra environment, merged over the launcher's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** TCP ports on config.host this process will listen on; the launcher refuses to start if one is taken. */
  ports: number[];
  /** One readiness probe (health endpoint, not a sleep). The launcher polls it until true or timeout. */
  ready: () => Promise<boolean>;
  readyTimeoutMs: number;
  /** How to fix it when the executable is missing, e.g. "run `npm run bootstrap`". */
  installHint?: string;
}

/** A step that runs to completion before processes start (migrations, writing config files). */
export interface PrepareStep {
  name: string;
  /** The supervisor passes a context; without one (unit tests) commands run unsupervised. */
  run: (context?: PrepareContext) => Promise<void>;
}

/** What the supervisor gives a prepare step, so that a stop during the step leaves nothing running. */
export interface PrepareContext {
  /** Aborted when the stack is being stopped. */
  signal: AbortSignal;
  /** Runs a command to completion in a process group the supervisor kills if it is stopped meanwhile. */
  exec: RunCommand;
}

export interface RunCommandOptions {
  /** The whole environment of the command (default: the launcher's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

export type RunCommand = (command: string, args: string[], options?: RunCommandOptions) => Promise<CommandOutput>;
