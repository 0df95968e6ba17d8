import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewReviewTask } from '../review-inbox.ts';
import { openSqliteStore, type SqliteStore } from '../sqlite-store.ts';

let dir: string;
let store: SqliteStore;
afterEach(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const task = (id: string, over: Partial<NewReviewTask> = {}): NewReviewTask => ({
  id,
  department: 'cardiology',
  reviewType: 'discharge-summary',
  title: `review ${id}`,
  artifactUri: `s3://x/${id}`,
  artifactVersion: 'v1',
  assignee: 'dr-a',
  escalationContact: 'dr-chief',
  dueAt: '2030-01-08T00:00:00.000Z',
  ...over,
});

describe('SqliteReviewInbox', () => {
  it('creates idempotently, lists by assignee/status/department, reassigns and closes once', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tandem-inbox-'));
    store = openSqliteStore(path.join(dir, 'tandem.db'));
    const inbox = store.reviews;
    await inbox.create(task('r1'));
    await inbox.create(task('r1', { title: 'second create is ignored' }));
    await inbox.create(task('r2', { assignee: 'group:reviewers' }));
    await inbox.create(task('r3', { department: 'oncology' }));
    expect((await inbox.get('r1'))?.title).toBe('review r1');
    expect((await inbox.list({ department: 'cardiology', assignees: ['dr-a', 'group:reviewers'] })).map((t) => t.id)).toEqual(['r1', 'r2']);

    await inbox.reassign('r1', 'dr-chief', 1);
    expect(await inbox.get('r1')).toMatchObject({ assignee: 'dr-chief', escalationLevel: 1 });
    await inbox.close('r1', 'approved');
    await inbox.close('r1', 'expired');
    await inbox.reassign('r1', 'dr-late');
    expect(await inbox.get('r1')).toMatchObject({ status: 'approved', assignee: 'dr-chief', closedAt: expect.any(String) });
    expect((await inbox.list({ status: 'pending' })).map((t) => t.id)).toEqual(['r2', 'r3']);
  });

  it('counts pending and escalated reviews per department in the store; closed ones do not count', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tandem-inbox-'));
    store = openSqliteStore(path.join(dir, 'tandem.db'));
    const inbox = store.reviews;
    expect(await inbox.pendingCounts()).toEqual([]);
    for (const id of ['c1', 'c2', 'c3']) await inbox.create(task(id));
    await inbox.create(task('o1', { department: 'oncology' }));
    await inbox.reassign('c1', 'dr-chief', 1);
    await inbox.reassign('c2', 'dr-chief', 2);
    await inbox.close('c2', 'approved');
    expect(await inbox.pendingCounts()).toEqual([
      { department: 'cardiology', pending: 2, escalated: 1 },
      { department: 'oncology', pending: 1, escalated: 0 },
    ]);
  });

  it('reopens a closed task as a new pending one (a fresh run under the same review id), never a pending one', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tandem-inbox-'));
    let clock = Date.parse('2030-01-01T00:00:00.000Z');
    store = openSqliteStore(path.join(dir, 'tandem.db'), { now: () => new Date(clock) });
    const inbox = store.reviews;
    await inbox.create(task('r1'));
    await inbox.reassign('r1', 'dr-chief', 1);
    clock += 60_000;
    await inbox.close('r1', 'rejected');

    clock += 60_000;
    const reopened = await inbox.create(task('r1', { artifactVersion: 'v2', title: 'second run', dueAt: '2030-01-09T00:00:00.000Z' }));
    expect(reopened).toEqual({
      ...task('r1', { artifactVersion: 'v2', title: 'second run', dueAt: '2030-01-09T00:00:00.000Z' }),
      status: 'pending',
      escalationLevel: 0,
      createdAt: '2030-01-01T00:02:00.000Z',
      updatedAt: '2030-01-01T00:02:00.000Z',
      closedAt: null,
    });
    // A retried create of the running task changes nothing, not even a reassignment since.
    await inbox.reassign('r1', 'dr-b');
    clock += 60_000;
    expect(await inbox.create(task('r1', { title: 'retried create' }))).toMatchObject({ title: 'second run', assignee: 'dr-b', updatedAt: '2030-01-01T00:02:00.000Z' });
    expect((await inbox.list({ status: 'pending' })).map((t) => t.id)).toEqual(['r1']);
  });
});
