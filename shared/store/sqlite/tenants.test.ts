import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tenantSpecSchema } from '../../contracts/tenants.ts';
import { openSqliteStore, type SqliteStore } from '../sqlite-store.ts';
import { NamespaceTakenError } from '../tenants.ts';

let dir: string;
let file: string;
let store: SqliteStore;
let clock: Date;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tenants-'));
  file = path.join(dir, 'tandem.db');
  clock = new Date('2026-11-10T12:00:00Z');
  store = openSqliteStore(file, { now: () => clock });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const spec = (gpu: number) => tenantSpecSchema.parse({ quota: { requests: { 'nvidia.com/gpu': gpu, cpu: '32' } }, offPeak: { start: '22:00', end: '06:00', timezone: 'Europe/Paris' } });
const noCluster = { state: 'no-cluster' as const, at: null, message: null };

describe('tenants in SQLite', () => {
  it('creates, then replaces a department’s tenant, keeping when it was created', async () => {
    const first = await store.tenants.put({ department: 'cardiology', namespace: 'cardiology', spec: spec(4), updatedBy: 'admin', cluster: noCluster });
    expect(first.created).toBe(true);
    expect(first.record).toMatchObject({ department: 'cardiology', namespace: 'cardiology', createdAt: '2026-11-10T12:00:00.000Z', cluster: noCluster });
    expect(first.record.spec.quota.requests['nvidia.com/gpu']).toBe(4);

    clock = new Date('2026-11-11T08:00:00Z');
    const second = await store.tenants.put({ department: 'cardiology', namespace: 'cardio-jobs', spec: spec(8), updatedBy: 'ops', cluster: noCluster });
    expect(second.created).toBe(false);
    expect(second.record).toMatchObject({ namespace: 'cardio-jobs', createdAt: '2026-11-10T12:00:00.000Z', updatedAt: '2026-11-11T08:00:00.000Z', updatedBy: 'ops' });
    expect((await store.tenants.get('cardiology'))!.spec).toEqual(spec(8));
  });

  it('refuses a namespace another department already has, and writes nothing', async () => {
    await store.tenants.put({ department: 'cardiology', namespace: 'shared', spec: spec(4), updatedBy: 'admin', cluster: noCluster });
    await expect(store.tenants.put({ department: 'oncology', namespace: 'shared', spec: spec(2), updatedBy: 'admin', cluster: noCluster })).rejects.toBeInstanceOf(NamespaceTakenError);
    expect(await store.tenants.get('oncology')).toBeUndefined();
  });

  it('lists by department with keyset paging and a department filter', async () => {
    for (const d of ['radiology', 'cardiology', 'oncology']) await store.tenants.put({ department: d, namespace: d, spec: spec(1), updatedBy: 'admin', cluster: noCluster });
    const page1 = await store.tenants.list({ limit: 2 });
    expect(page1.map((t) => t.department)).toEqual(['cardiology', 'oncology']);
    const page2 = await store.tenants.list({ limit: 2, after: 'oncology' });
    expect(page2.map((t) => t.department)).toEqual(['radiology']);
    expect((await store.tenants.list({ limit: 10, department: 'oncology' })).map((t) => t.department)).toEqual(['oncology']);
  });

  it('records the cluster status of the last apply, and deletes for good', async () => {
    await store.tenants.put({ department: 'cardiology', namespace: 'cardiology', spec: spec(4), updatedBy: 'admin', cluster: noCluster });
    await store.tenants.setClusterStatus('cardiology', { state: 'failed', at: '2026-11-10T12:01:00.000Z', message: 'connection refused' });
    expect((await store.tenants.get('cardiology'))!.cluster).toEqual({ state: 'failed', at: '2026-11-10T12:01:00.000Z', message: 'connection refused' });
    expect(await store.tenants.delete('cardiology')).toBe(true);
    expect(await store.tenants.delete('cardiology')).toBe(false);
    expect(await store.tenants.get('cardiology')).toBeUndefined();
  });

  it('survives reopening the file (migration 11 applied once)', async () => {
    await store.tenants.put({ department: 'cardiology', namespace: 'cardiology', spec: spec(4), updatedBy: 'admin', cluster: noCluster });
    await store.close();
    store = openSqliteStore(file, { now: () => clock });
    expect((await store.tenants.get('cardiology'))!.spec.offPeak).toEqual({ start: '22:00', end: '06:00', timezone: 'Europe/Paris' });
  });
});
