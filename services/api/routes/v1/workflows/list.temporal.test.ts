// GET /v1/workflows against the Temporal dev server: the TandemDepartment search attribute is
// registered as the API does at start-up, and every start path sets it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApiKey } from '../../../../../shared/credentials.ts';
import { hashApiKey } from '../../../../../shared/store/api-key-hash.ts';
import { eventually } from '../../../../../test/support/api-client.ts';
import type { AppFixture } from '../../../../../test/support/app-fixture.ts';
import { appWithWorker, type AppWithWorker } from '../../../../../test/support/app-with-worker.ts';

let f: AppFixture;
let stack: AppWithWorker;
const headersOf: Record<string, { authorization: string }> = {};

beforeAll(async () => {
  stack = await appWithWorker('dev');
  ({ f } = stack);
  for (const [name, department] of [['cardio', 'cardiology'], ['onco', 'oncology']] as const) {
    const key = newApiKey('key');
    await f.store.createApiKey({ name, role: 'ai-engineer', department, keyHash: hashApiKey(key) });
    headersOf[name] = { authorization: `Bearer ${key}` };
  }
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

const review = (department: string, version: string) => ({
  type: 'review.request',
  input: { department, reviewType: 'discharge-summary', title: `t ${version}`, artifact: { uri: `file:///a/${version}`, version }, assignee: 'dr-a', escalationContact: 'dr-chief' },
});
const start = async (who: string, body: object) => {
  const res = await f.app.inject({ method: 'POST', url: '/v1/workflows', headers: headersOf[who], payload: body });
  expect(res.statusCode).toBe(201);
  return res.json().workflowId as string;
};
const list = (who: string, query: string) => f.app.inject({ method: 'GET', url: `/v1/workflows${query}`, headers: headersOf[who] });

describe('GET /v1/workflows', () => {
  it('lists the caller’s department only, by type and status, page by page', async () => {
    const cardiology = [await start('cardio', review('cardiology', 'v1')), await start('cardio', review('cardiology', 'v2')), await start('cardio', review('cardiology', 'v3'))];
    const echo = await start('cardio', { type: 'smoke.echo', input: { message: 'hi' } });
    const oncology = await start('onco', review('oncology', 'v9'));

    // Visibility lags a start by a moment.
    const running = await eventually(async () => {
      const body = (await list('cardio', '?type=review.request&status=running')).json();
      return body.workflows.length === 3 ? body : undefined;
    }, 20_000, 'three running cardiology reviews in visibility');
    expect(running.workflows.map((w: any) => w.workflowId).sort()).toEqual([...cardiology].sort());
    expect(running.workflows.every((w: any) => w.department === 'cardiology' && w.type === 'review.request' && w.status === 'running')).toBe(true);

    // Another department's flows are not there; a smoke.echo of this department is, under its type.
    const onco = await eventually(async () => {
      const body = (await list('onco', '')).json();
      return body.workflows.length >= 1 ? body : undefined;
    }, 20_000, 'the oncology review in visibility');
    expect(onco.workflows.map((w: any) => w.workflowId)).toEqual([oncology]);
    const echoes = await eventually(async () => {
      const body = (await list('cardio', '?type=smoke.echo&status=completed')).json();
      return body.workflows.length === 1 ? body : undefined;
    }, 20_000, 'the completed echo in visibility');
    expect(echoes.workflows[0]).toMatchObject({ workflowId: echo, type: 'smoke.echo', status: 'completed', department: 'cardiology', closedAt: expect.any(String) });

    // One at a time through `next`: each review once.
    const seen: string[] = [];
    for (let url: string | null = '/v1/workflows?type=review.request&limit=1'; url; ) {
      const res: { statusCode: number; json(): any } = await f.app.inject({ method: 'GET', url, headers: headersOf.cardio });
      expect(res.statusCode).toBe(200);
      const body: { workflows: { workflowId: string }[]; next: string | null } = res.json();
      seen.push(...body.workflows.map((w) => w.workflowId));
      url = body.next;
      if (seen.length > 10) break;
    }
    expect(seen.sort()).toEqual([...cardiology].sort());

    // /metrics counts flows by type and status from the same visibility store.
    const metrics = (await f.app.inject({ method: 'GET', url: '/metrics' })).body;
    const countedRunning = Number(/^tandem_workflows\{type="review.request",status="running"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(countedRunning).toBeGreaterThanOrEqual(4);
    expect(metrics).toMatch(/^tandem_workflows\{type="smoke.echo",status="completed"\} [1-9]/m);

    for (const id of [...cardiology, oncology]) await f.app.inject({ method: 'POST', url: `/v1/workflows/${encodeURIComponent(id)}/cancel`, headers: f.headers('admin') });
  });

  it('refuses a bad filter with 422, and a cursor Temporal did not hand out with 404', async () => {
    expect((await list('cardio', '?status=sleeping')).statusCode).toBe(422);
    expect((await list('cardio', "?type=x' OR 1=1")).statusCode).toBe(422);
    const forged = await list('cardio', `?cursor=${Buffer.from(JSON.stringify({ v: 1, t: Date.now(), p: ['Z2FyYmFnZQ=='] })).toString('base64url')}`);
    expect(forged.statusCode).toBe(404);
  });
});
