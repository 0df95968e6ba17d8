import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { KubernetesJobRunner } from './kubernetes-job-runner.ts';
import { namespaceFor } from './namespaces.ts';

const kubeConfig = new KubeConfig();
kubeConfig.loadFromOptions({
  clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
  users: [{ name: 'u', token: 't' }],
  contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
  currentContext: 'c',
});
const runner = new KubernetesJobRunner({ kubeConfig, namespaceFor: (d) => namespaceFor(d, 'gpu-'), kueue: 'off' });
const spec = (owner: { namespace?: string }) => ({
  name: 'embed-1',
  command: ['embed'],
  resources: { requests: { 'nvidia.com/gpu': 1 }, limits: { 'nvidia.com/gpu': 1 } },
  faultTolerant: false,
  spot: false,
  owner: { workflowId: 'wf', department: 'radiology', ...owner },
});

describe('which namespace a Job runs in', () => {
  it('is the department tenant’s when the workflow passes it, else the resolver’s default', () => {
    expect(runner.namespaceOf(spec({ namespace: 'radiology-jobs' }))).toBe('radiology-jobs');
    expect(runner.jobIdOf(spec({ namespace: 'radiology-jobs' }))).toBe('radiology-jobs/embed-1');
    expect(runner.namespaceOf(spec({}))).toBe('gpu-radiology');
  });
});
