// llm.complete and gpu.batch through the API on the real stack: the types are registered, the
// worker runs them with its real activity families, and results and failure messages come back
// decrypted through the API. (Fault handling is covered in workflows/llm and workflows/gpu-batch
// against the dev server; the stack here has no LLM provider configured.)
import { describe, expect, inject, it } from 'vitest';
import { api, workflowFinished } from './support/api-client.ts';

const stack = inject('stack');

const finished = (workflowId: string) => workflowFinished(stack.apiUrl, stack.adminKey, workflowId, 60_000);

describe('llm.complete and gpu.batch through the API', () => {
  it('gpu.batch runs a local job that checkpoints, and returns its last checkpoint', async () => {
    const started = await api<any>(stack.apiUrl, 'POST', '/v1/workflows', {
      key: stack.adminKey,
      body: {
        type: 'gpu.batch',
        input: {
          name: 'it-job',
          command: ['sh', '-c', 'echo shard-7 > "$TANDEM_CHECKPOINT_FILE"'],
          resources: { requests: { 'nvidia.com/gpu': 1 }, limits: { 'nvidia.com/gpu': 1 } },
        },
      },
    });
    expect(started.status).toBe(201);
    const done = await finished(started.body.workflowId);
    expect(done.status).toBe('completed');
    expect(done.result).toMatchObject({ exitCode: 0, checkpoint: 'shard-7', preemptions: 0, submissions: 1 });
    expect(done.result.jobId).toMatch(/^it-job-[0-9a-z]{7}$/);
  });

  it('gpu.batch refuses GPU requests without equal limits with 422 and the path', async () => {
    const res = await api<any>(stack.apiUrl, 'POST', '/v1/workflows', {
      key: stack.adminKey,
      body: { type: 'gpu.batch', input: { name: 'x', command: ['true'], resources: { requests: { 'nvidia.com/gpu': 2 } } } },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: 'input.resources.limits.nvidia.com/gpu' })]);
  });

  it('llm.complete without a configured provider fails at once, saying what to set', async () => {
    const started = await api<any>(stack.apiUrl, 'POST', '/v1/workflows', {
      key: stack.adminKey,
      body: { type: 'llm.complete', input: { messages: [{ role: 'user', content: 'hello' }] } },
    });
    expect(started.status).toBe(201);
    const done = await finished(started.body.workflowId);
    expect(done.status).toBe('failed');
    expect(done.failure).toMatch(/no LLM provider is configured; set TANDEM_LLM_BASE_URL/);
  });
});
