import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appFixture, type AppFixture } from '../../../../../test/support/app-fixture.ts';

let fx: AppFixture;
beforeAll(async () => {
  fx = await appFixture();
});
afterAll(async () => {
  await fx.close();
});

const source = (sha: string) => ({ source: 'docs', kind: 'file', identity: `sha256:${sha}`, value: { size: 1, mtimeNs: 1, sha256: sha } });
const check = (runId: string, sha: string, role: 'service' | 'admin' = 'service', force = false) =>
  fx.app.inject({
    method: 'POST',
    url: '/v1/fingerprints/check',
    headers: fx.headers(role),
    payload: { pipelineId: 'kb', partition: 'cardiology', runId, force, sources: [source(sha)] },
  });
const commit = (runId: string) =>
  fx.app.inject({
    method: 'POST',
    url: '/v1/fingerprints/commit',
    headers: fx.headers('service'),
    payload: { pipelineId: 'kb', partition: 'cardiology', runId },
  });

describe('/v1/fingerprints', () => {
  it('check → commit → unchanged check, and the committed values are readable', async () => {
    const first = await check('r1', 'aaa');
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ changed: true, reasons: ['docs: no successful run yet'] });
    expect((await commit('r1')).json()).toEqual({ committed: 1 });

    const second = await check('r2', 'aaa');
    expect(second.json()).toMatchObject({ changed: false });
    const forced = await check('r3', 'aaa', 'admin', true);
    expect(forced.json()).toMatchObject({ changed: true, reasons: ['forced'] });

    const read = await fx.app.inject({
      method: 'GET',
      url: '/v1/fingerprints?pipelineId=kb&partition=cardiology',
      headers: fx.headers('service'),
    });
    expect(read.json().sources).toEqual([expect.objectContaining({ source: 'docs', identity: 'sha256:aaa', committedRunId: 'r1' })]);
  });

  it('committing a run that checked nothing is a 409 problem', async () => {
    const res = await commit('never-checked');
    expect(res.statusCode).toBe(409);
    expect(res.json().detail).toContain('no fingerprints were checked');
  });

  it('is for the service role (and admins) only', async () => {
    for (const role of ['data-engineer', 'ai-engineer', 'reviewer'] as const) {
      const res = await check('r9', 'aaa', role as never);
      expect(res.statusCode, role).toBe(403);
    }
  });

  it('rejects a malformed check with the paths of the problems', async () => {
    const res = await fx.app.inject({
      method: 'POST',
      url: '/v1/fingerprints/check',
      headers: fx.headers('service'),
      payload: { pipelineId: 'kb', partition: '', runId: 'r', sources: [{ source: 'docs' }] },
    });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    expect(JSON.stringify(res.json())).toContain('partition');
  });
});
