// Every list pages the same way: ?limit= and the `next` link, through the whole list, once each.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApiKey } from '../../../../shared/credentials.ts';
import { hashApiKey } from '../../../../shared/store/api-key-hash.ts';
import { appFixture, type AppFixture } from '../../../../test/support/app-fixture.ts';

let fx: AppFixture;
let oncology: { authorization: string };

beforeAll(async () => {
  fx = await appFixture();
  for (const [i, department] of ['cardiology', 'oncology', 'cardiology', 'cardiology', 'oncology', 'cardiology', 'cardiology'].entries()) {
    const id = `p${i}`;
    await fx.store.pipelines.save({ id, department, spec: { id, department, stages: [] }, specHash: 'h', dagId: `tandem__${id}`, fileName: `tandem__${id}.py`, status: 'deployed', deployedAt: null, lastError: null });
    await fx.store.audit.append({ actor: { kind: 'system', name: 'test' }, department, subject: `pipeline:${id}`, event: 'created', details: {} });
  }
  for (let i = 0; i < 5; i++) await fx.store.createApiKey({ name: `k${i}`, role: 'service', department: 'cardiology', keyHash: hashApiKey(newApiKey('key')) });
  const key = newApiKey('key');
  await fx.store.createApiKey({ name: 'onco-admin', role: 'admin', department: 'oncology', keyHash: hashApiKey(key) });
  oncology = { authorization: `Bearer ${key}` };
});
afterAll(async () => {
  await fx.close();
});

/** Follows `next` from `url`, collecting `field` of every page. */
async function walk(url: string, field: string, headers = fx.headers('admin')) {
  const items: unknown[] = [];
  let pages = 0;
  for (let next: string | null = url; next; pages++) {
    const res: { statusCode: number; json(): any } = await fx.app.inject({ method: 'GET', url: next, headers });
    expect(res.statusCode, next).toBe(200);
    const body: { next: string | null } & Record<string, unknown[]> = res.json();
    items.push(...(body[field] ?? []));
    next = body.next;
    if (pages > 50) throw new Error('no end to the pages');
  }
  return { items, pages };
}

describe('cursor pagination', () => {
  it('pipelines: every one once, in order, within the caller’s department', async () => {
    const all = await walk('/v1/pipelines?limit=2', 'pipelines');
    expect(all.items.map((p: any) => p.id)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    expect(all.pages).toBe(4);
    const onco = await walk('/v1/pipelines?limit=1', 'pipelines', oncology);
    expect(onco.items.map((p: any) => p.id)).toEqual(['p1', 'p4']);
  });

  it('audit entries and API keys page by their own order', async () => {
    const entries = await walk('/v1/audit?limit=3', 'entries');
    const seqs = entries.items.map((e: any) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(7);
    const keys = await walk('/v1/api-keys?limit=2', 'items');
    const all = (await fx.app.inject({ method: 'GET', url: '/v1/api-keys?limit=1000', headers: fx.headers('admin') })).json();
    expect(keys.items.map((k: any) => k.id)).toEqual(all.items.map((k: any) => k.id));
    expect(all.next).toBeNull();
  });

  it('an item added between two pages is neither repeated nor skipped', async () => {
    const first = (await fx.app.inject({ method: 'GET', url: '/v1/pipelines?limit=3', headers: fx.headers('admin') })).json();
    expect(first.pipelines.map((p: any) => p.id)).toEqual(['p0', 'p1', 'p2']);
    // One sorts before the cursor (already passed), one after it (still to come).
    for (const id of ['p00', 'p35']) {
      await fx.store.pipelines.save({ id, department: 'cardiology', spec: { id, stages: [] }, specHash: 'h', dagId: `tandem__${id}`, fileName: `tandem__${id}.py`, status: 'deployed', deployedAt: null, lastError: null });
    }
    const rest = await walk(first.next, 'pipelines');
    expect(rest.items.map((p: any) => p.id)).toEqual(['p3', 'p35', 'p4', 'p5', 'p6']);
  });

  it('answers a forged or another list’s cursor with 404 (no such page), and a huge limit or a cursor that is not base64url with 422', async () => {
    const get = (url: string) => fx.app.inject({ method: 'GET', url, headers: fx.headers('admin') });
    const forged = await get('/v1/pipelines?cursor=forged');
    expect(forged.statusCode).toBe(404);
    expect(forged.json().detail).toContain('no such page');
    expect((await get('/v1/pipelines?cursor=not%20base64%3D')).statusCode).toBe(422);
    const auditNext = (await get('/v1/audit?limit=1')).json().next as string;
    const auditCursor = new URL(auditNext, 'http://x').searchParams.get('cursor')!;
    const crossed = await get(`/v1/pipelines?cursor=${encodeURIComponent(auditCursor)}`);
    expect(crossed.statusCode).toBe(404);
    expect(crossed.json().detail).toContain('another list');
    expect((await get('/v1/pipelines?limit=100000')).statusCode).toBe(422);
    expect((await get('/v1/reviews?limit=0')).statusCode).toBe(422);
  });
});
