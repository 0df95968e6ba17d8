import { describe, expect, it } from 'vitest';
import { parseWorkflowInput } from './workflow-types.ts';
import { gpuBatchInputSchema } from './gpu-batch.ts';

const valid = {
  name: 'embed-shards',
  command: ['python', 'embed.py'],
  resources: { requests: { 'nvidia.com/gpu': 2, memory: '16Gi' }, limits: { 'nvidia.com/gpu': 2 } },
};

function issues(input: unknown) {
  const parsed = gpuBatchInputSchema.safeParse(input);
  expect(parsed.success).toBe(false);
  return parsed.error!.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('gpu.batch input', () => {
  it('accepts equal GPU requests and limits and fills the defaults', () => {
    expect(gpuBatchInputSchema.parse(valid)).toMatchObject({ faultTolerant: false, spot: false, maxPreemptions: 3 });
    expect(gpuBatchInputSchema.parse({ ...valid, resources: { requests: { cpu: '500m' } } }).resources.limits).toEqual({});
  });

  it('rejects GPU requests without equal limits, naming the field', () => {
    expect(issues({ ...valid, resources: { requests: { 'nvidia.com/gpu': 2 }, limits: { 'nvidia.com/gpu': 1 } } })).toEqual([
      { path: 'resources.limits.nvidia.com/gpu', message: 'nvidia.com/gpu requests and limits must both be set and equal (requests 2, limits 1)' },
    ]);
    expect(issues({ ...valid, resources: { limits: { 'nvidia.com/gpu': 1 } } })).toEqual([
      { path: 'resources.requests.nvidia.com/gpu', message: 'nvidia.com/gpu requests and limits must both be set and equal (requests unset, limits 1)' },
    ]);
    expect(issues({ ...valid, resources: { requests: { 'nvidia.com/gpu': 0 }, limits: { 'nvidia.com/gpu': 0 } } })[0]!.path).toBe('resources.requests.nvidia.com/gpu');
  });

  it('refuses cpu or memory requests that differ from their limits, fractional or negative GPUs, and bad images', () => {
    expect(issues({ ...valid, resources: { requests: { 'nvidia.com/gpu': 1, memory: '16Gi' }, limits: { 'nvidia.com/gpu': 1, memory: '8Gi' } } })).toEqual([
      { path: 'resources.limits.memory', message: 'memory requests and limits must be equal (requests 16Gi, limits 8Gi); set one side alone to use it for both' },
    ]);
    expect(gpuBatchInputSchema.parse({ ...valid, resources: { requests: { 'nvidia.com/gpu': 1, cpu: '1' }, limits: { 'nvidia.com/gpu': 1, cpu: '1000m' } } }).resources.limits.cpu).toBe('1000m');
    expect(issues({ ...valid, resources: { requests: { 'nvidia.com/gpu': 1.5 }, limits: { 'nvidia.com/gpu': 1.5 } } })[0]).toEqual({
      path: 'resources.requests.nvidia.com/gpu',
      message: 'must be a whole number of GPUs (devices are not shared)',
    });
    expect(issues({ ...valid, resources: { requests: { 'nvidia.com/gpu': -2 }, limits: { 'nvidia.com/gpu': -2 } } })[0]!.path).toBe('resources.requests.nvidia.com/gpu');
    expect(issues({ ...valid, image: 'Embedder:latest' })).toEqual([
      { path: 'image', message: 'must be a container image reference such as registry.example.com/team/embedder:1.4 or embedder@sha256:<hex>' },
    ]);
    expect(gpuBatchInputSchema.parse({ ...valid, image: 'registry.example.com:5000/ml/embedder:1.4' }).deadlineSeconds).toBe(43_200);
  });

  it('allows spot only for fault-tolerant jobs', () => {
    expect(issues({ ...valid, spot: true })).toEqual([{ path: 'spot', message: 'spot capacity is only for faultTolerant jobs' }]);
    expect(gpuBatchInputSchema.parse({ ...valid, spot: true, faultTolerant: true }).spot).toBe(true);
  });

  it('rejects bad names, TANDEM_ variables and unknown keys', () => {
    expect(issues({ ...valid, name: 'Embed_Shards' })[0]!.path).toBe('name');
    expect(issues({ ...valid, env: { TANDEM_CHECKPOINT_FILE: '/etc/passwd' } })).toEqual([{ path: 'env.TANDEM_CHECKPOINT_FILE', message: 'TANDEM_* variables are set by tandem' }]);
    expect(issues({ ...valid, resources: { requests: { 'amd.com/gpu': 1 } } })[0]!.message).toMatch(/amd\.com\/gpu/);
  });

  it('is what POST /v1/workflows checks for gpu.batch, with paths into the body', () => {
    const parsed = parseWorkflowInput('gpu.batch', { ...valid, spot: true });
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.issues.map((i) => i.path.join('.'))).toEqual(['input.spot']);
  });
});
