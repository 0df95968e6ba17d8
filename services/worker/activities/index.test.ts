import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.ts';
import { KubernetesJobRunner } from '../../kubernetes/kubernetes-job-runner.ts';
import { LocalProcessRunner } from '../jobs/local-process-runner.ts';
import { activities, jobRunnerOf, registerFamilies } from './index.ts';

describe('activity registry', () => {
  it('registers every family', () => {
    expect(Object.keys(activities)).toContain('stampEcho');
  });

  it('refuses two families exporting the same activity name', () => {
    const a = { notifyReviewer: async () => undefined };
    const b = { notifyReviewer: async () => undefined };
    expect(() => registerFamilies({ a, b })).toThrow(/"notifyReviewer" is exported by both the a and the b family/);
  });
});

describe('the job runner TANDEM_JOBS_RUNNER picks', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runner-choice-'));
  const configWith = (env: Record<string, string>) => loadConfig({ cwd: dir, env: { TANDEM_STATE_DIR: dir, ...env } });

  it('is the local process runner by default', () => {
    expect(jobRunnerOf(configWith({}))).toBeInstanceOf(LocalProcessRunner);
  });

  it('is the Kubernetes runner with the kubeconfig and namespace prefix from the config', async () => {
    const kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443' } }],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const runner = jobRunnerOf(configWith({ TANDEM_JOBS_RUNNER: 'kubernetes', TANDEM_KUBECONFIG: kubeconfig, TANDEM_KUBERNETES_NAMESPACE_PREFIX: 'gpu-' }));
    expect(runner).toBeInstanceOf(KubernetesJobRunner);
    expect(runner.jobIdOf({ name: 'embed-1', command: ['x'], resources: { requests: {}, limits: {} }, faultTolerant: false, spot: false, owner: { workflowId: 'w', department: 'radiology' } })).toBe(
      'gpu-radiology/embed-1',
    );
    await (runner as KubernetesJobRunner).close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an unknown runner name at config load', () => {
    expect(() => configWith({ TANDEM_JOBS_RUNNER: 'slurm' })).toThrow(/jobs\.runner \(TANDEM_JOBS_RUNNER\)/);
  });
});
