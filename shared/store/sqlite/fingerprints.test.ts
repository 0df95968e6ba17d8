import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NothingPendingError, type SourceFingerprint } from '../fingerprints.ts';
import { openSqliteStore, type SqliteStore } from '../sqlite-store.ts';

let dir: string;
let store: SqliteStore;
let clock: number;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tandem-fp-'));
  clock = Date.parse('2026-11-25T01:00:00Z');
  store = openSqliteStore(path.join(dir, 'store.db'), { now: () => new Date((clock += 1000)) });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const file = (sha: string, mtimeNs = 1): SourceFingerprint => ({
  source: 'docs',
  kind: 'file',
  identity: `sha256:${sha}`,
  value: { size: 3, mtimeNs, sha256: sha },
});
const request = (runId: string, sources: SourceFingerprint[], force = false) => ({
  pipelineId: 'kb',
  partition: 'cardiology',
  runId,
  force,
  sources,
});

describe('fingerprint store', () => {
  it('first check is a change; only a commit makes the values the ones compared with', async () => {
    const first = await store.fingerprints.check(request('r1', [file('aaa')]));
    expect(first).toMatchObject({ changed: true, reasons: ['docs: no successful run yet'] });
    // Not committed (the stages failed): the next check still sees a change.
    expect((await store.fingerprints.check(request('r2', [file('aaa')]))).changed).toBe(true);
    expect(await store.fingerprints.committed('kb', 'cardiology')).toEqual([]);

    await store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'r2' });
    const skipped = await store.fingerprints.check(request('r3', [file('aaa')]));
    expect(skipped.changed).toBe(false);
    expect(skipped.reasons[0]).toContain('unchanged since the last successful run');
    const [state] = await store.fingerprints.partitions('kb');
    expect(state).toMatchObject({ partition: 'cardiology', lastRun: { runId: 'r3', outcome: 'skipped' } });
    expect(state!.fingerprints[0]).toMatchObject({ source: 'docs', identity: 'sha256:aaa', committedRunId: 'r2' });
  });

  it('a changed identity runs; changedAt moves only when the identity changed', async () => {
    await store.fingerprints.check(request('r1', [file('aaa')]));
    await store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'r1' });
    const [committed] = await store.fingerprints.committed('kb', 'cardiology');

    // Touched, same content: unchanged, and the new mtime is remembered for the fast path.
    expect((await store.fingerprints.check(request('r2', [file('aaa', 2)]))).changed).toBe(false);
    const [touched] = await store.fingerprints.committed('kb', 'cardiology');
    expect(touched!.value).toMatchObject({ mtimeNs: 2 });
    expect(touched!.changedAt).toBe(committed!.changedAt);

    const changed = await store.fingerprints.check(request('r3', [file('bbb', 3)]));
    expect(changed.changed).toBe(true);
    expect(changed.reasons[0]).toMatch(/^docs: changed \(sha256:aaa → sha256:bbb\)$/);
    await store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'r3' });
    const [after] = await store.fingerprints.committed('kb', 'cardiology');
    expect(after!.identity).toBe('sha256:bbb');
    expect(after!.changedAt > committed!.changedAt).toBe(true);
    expect((await store.fingerprints.partitions('kb'))[0]!.lastRun).toMatchObject({ runId: 'r3', outcome: 'ran' });
  });

  it('force runs an unchanged partition', async () => {
    await store.fingerprints.check(request('r1', [file('aaa')]));
    await store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'r1' });
    expect(await store.fingerprints.check(request('r2', [file('aaa')], true))).toMatchObject({ changed: true, reasons: ['forced'] });
  });

  it('commit of a run that checked nothing is refused; a checked run stays pending until committed', async () => {
    await expect(store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'nope' })).rejects.toThrow(
      NothingPendingError,
    );
    await store.fingerprints.check(request('r1', [file('aaa')]));
    expect((await store.fingerprints.partitions('kb'))[0]!.lastRun).toMatchObject({ runId: 'r1', outcome: 'pending' });
    // A commit for another run id does not commit r1's pending values.
    await expect(store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'r2' })).rejects.toThrow(
      NothingPendingError,
    );
  });

  it('a reported failure is the last run, keeps the pending values uncommitted, and the first reason of a run wins', async () => {
    await store.fingerprints.check(request('r1', [file('aaa')]));
    await store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'r1' });
    await store.fingerprints.check(request('r2', [file('bbb')]));
    const failed = await store.fingerprints.recordFailure({ pipelineId: 'kb', partition: 'cardiology', runId: 'r2', reason: 'cardiology.embed failed' });
    expect(failed).toMatchObject({ runId: 'r2', outcome: 'failed', reason: 'cardiology.embed failed' });
    const again = await store.fingerprints.recordFailure({ pipelineId: 'kb', partition: 'cardiology', runId: 'r2', reason: 'cardiology.other failed' });
    expect(again).toEqual(failed);
    const [state] = await store.fingerprints.partitions('kb');
    expect(state!.lastRun).toEqual(failed);
    expect(state!.fingerprints.map((fp) => fp.identity)).toEqual(['sha256:aaa']);
    // Still a change next time: the failed run's values were never committed.
    expect((await store.fingerprints.check(request('r3', [file('bbb')]))).changed).toBe(true);
    // A failure before anything was checked (the source check itself failed) is recorded too.
    await store.fingerprints.recordFailure({ pipelineId: 'kb', partition: 'oncology', runId: 'r3', reason: 'oncology.check_sources failed' });
    expect((await store.fingerprints.partitions('kb')).find((p) => p.partition === 'oncology')!.lastRun).toMatchObject({ outcome: 'failed', runId: 'r3' });
  });

  it('partitions are independent', async () => {
    await store.fingerprints.check(request('r1', [file('aaa')]));
    await store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'r1' });
    const other = await store.fingerprints.check({ ...request('r1', [file('aaa')]), partition: 'oncology' });
    expect(other.changed).toBe(true);
    expect((await store.fingerprints.partitions('kb')).map((p) => [p.partition, p.lastRun?.outcome])).toEqual([
      ['cardiology', 'ran'],
      ['oncology', 'pending'],
    ]);
  });
});

describe('pipeline registry', () => {
  it('saves, lists by department without deleted ones, and updates status', async () => {
    const base = { spec: { id: 'kb' }, specHash: 'h1', dagId: 'kb', fileName: 'kb.py', deployedAt: null, lastError: null };
    await store.pipelines.save({ ...base, id: 'kb', department: 'cardiology', status: 'deployed' });
    await store.pipelines.save({ ...base, id: 'other', department: 'oncology', status: 'deployed' });
    expect((await store.pipelines.list({ department: 'cardiology' })).map((p) => p.id)).toEqual(['kb']);
    await store.pipelines.update('kb', { status: 'deleted' });
    expect((await store.pipelines.list()).map((p) => p.id)).toEqual(['other']);
    expect((await store.pipelines.list({ includeDeleted: true })).map((p) => p.id)).toEqual(['kb', 'other']);
    expect(await store.pipelines.get('kb')).toMatchObject({ status: 'deleted', spec: { id: 'kb' } });
    expect(await store.pipelines.update('missing', { status: 'paused' })).toBeUndefined();
  });
});
