import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../sqlite-store.ts';

let dir: string;
let store: SqliteStore;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tandem-aliases-'));
  store = openSqliteStore(path.join(dir, 'tandem.db'));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('index aliases', () => {
  it('switches, keeps history, and writes nothing for a repeated switch', async () => {
    const by = { reason: 'r', actor: 'wf-1' };
    expect(await store.indexAliases.switchTo('kb:a', 'v1', by)).toMatchObject({ alias: 'kb:a', version: 'v1' });
    await store.indexAliases.switchTo('kb:a', 'v2', by);
    await store.indexAliases.switchTo('kb:a', 'v2', by);
    expect(await store.indexAliases.get('kb:a')).toMatchObject({ version: 'v2' });
    expect(await store.indexAliases.switchTo('kb:a', null, { reason: 'rollback', actor: 'wf-2' })).toBeUndefined();
    expect((await store.indexAliases.history('kb:a')).map((h) => [h.previousVersion, h.version, h.actor])).toEqual([
      [null, 'v1', 'wf-1'],
      ['v1', 'v2', 'wf-1'],
      ['v2', null, 'wf-2'],
    ]);
    expect(await store.indexAliases.history('kb:other')).toEqual([]);
  });

  it('stores metrics per version, replacing on re-evaluation', async () => {
    await store.indexAliases.recordMetrics('kb:a', 'v1', { mrr: 0.5 });
    await store.indexAliases.recordMetrics('kb:a', 'v1', { mrr: 0.6 });
    expect(await store.indexAliases.metricsOf('kb:a', 'v1')).toEqual({ mrr: 0.6 });
    expect(await store.indexAliases.metricsOf('kb:a', 'v2')).toBeUndefined();
  });
});
