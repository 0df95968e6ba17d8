/**
 * Starts the local Kubernetes (deploy/dev/kubernetes/cluster.ts) once for the whole `kubernetes`
 * tier, in a temporary state dir on free loopback ports, and hands every file its address,
 * admin kubeconfig and kubectl (`inject('kubernetes')`). The first run on a machine builds the
 * binaries (cold ~7 min, then cached outside the repository).
 * Set TANDEM_TEST_KEEP_STATE=1 to keep the state dir (component logs) after the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalKubernetes, type LocalKubernetes } from '../../deploy/dev/kubernetes/cluster.ts';
import './stack-info.ts';

let cluster: LocalKubernetes | undefined;
let stateDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-k8s-'));
  const t0 = performance.now();
  cluster = await startLocalKubernetes({ stateDir, log: (line) => console.log(`[kubernetes] ${line}`) });
  console.log(`[kubernetes] local cluster ready at ${cluster.server} in ${((performance.now() - t0) / 1000).toFixed(1)} s (state ${stateDir})`);
  project.provide('kubernetes', { server: cluster.server, kubeconfigPath: cluster.kubeconfigPath, kubectl: cluster.kubectl });
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
  if (stateDir && !process.env.TANDEM_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
}
