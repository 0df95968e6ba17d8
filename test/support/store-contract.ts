/**
 * The store contract: what every `Store` implementation must do, as one vitest suite run against
 * each of them with a factory (shared/store/sqlite-store.test.ts for SQLite in the unit tier,
 * shared/store/postgres-store.postgres.test.ts for PostgreSQL in the postgres tier). Anything
 * only one engine has (SQLite's file checks, WAL mode) is tested beside that store instead.
 *
 * The "two processes" tests open a second store on the same database, as a second API or worker
 * replica would, and race them: the chain, the claims and the rotations must come out as if the
 * calls had been made one at a time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tenantSpecSchema } from '../../shared/contracts/tenants.ts';
import { NamespaceTakenError } from '../../shared/store/tenants.ts';
import { hashApiKey } from '../../shared/store/api-key-hash.ts';
import { auditEntryHash, genesisHash, type NewAuditEntry } from '../../shared/store/audit-log.ts';
import { NothingPendingError, type SourceFingerprint } from '../../shared/store/fingerprints.ts';
import type { NewHandoffRun } from '../../shared/store/handoffs.ts';
import type { IdempotencyClaimRequest } from '../../shared/store/idempotency.ts';
import type { NewReviewTask } from '../../shared/store/review-inbox.ts';
import { DuplicateApiKeyError, type Store } from '../../shared/store/store.ts';

export interface StoreFactory {
  /** A fresh store at the latest schema, on a database of its own. */
  open(options?: { now?: () => Date }): Promise<Store>;
  /** A second store on the same database as `store`, as another process would open it. */
  reopen(store: Store, options?: { now?: () => Date }): Promise<Store>;
  /** SQL behind the store's back, as an operator with a SQL shell (and DDL rights) would run it. */
  exec(store: Store, sql: string): Promise<void>;
  /** The dialect's statement that drops the audit log's append-only triggers. */
  dropAuditTriggersSql: string;
}

/** Ticks one second per call from `start`, so timestamps are distinct and predictable. */
function ticking(start: string): () => Date {
  let t = Date.parse(start);
  return () => new Date((t += 1000) - 1000);
}

export function storeContract(factory: StoreFactory): void {
  const opened: Store[] = [];
  const open = async (options?: { now?: () => Date }) => {
    const store = await factory.open(options);
    opened.push(store);
    return store;
  };
  const reopen = async (store: Store, options?: { now?: () => Date }) => {
    const other = await factory.reopen(store, options);
    opened.push(other);
    return other;
  };
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  describe('API keys', () => {
    const newKey = (plaintext: string, name = plaintext) =>
      ({ name, role: 'reviewer', department: 'cardiology', keyHash: hashApiKey(plaintext) }) as const;

    it('finds a key by its hash, and another process sees it', async () => {
      const store = await open();
      const created = await store.createApiKey(newKey('tdm_key_secret-value'));
      expect(await store.findApiKeyByHash(hashApiKey('tdm_key_secret-value'))).toEqual(created);
      expect(await store.findApiKeyByHash(hashApiKey('other'))).toBeUndefined();
      expect(created).toMatchObject({ role: 'reviewer', department: 'cardiology', revokedAt: null, expiresAt: null });
      const worker = await reopen(store);
      expect(await worker.getApiKey(created.id)).toEqual(created);
    });

    it('rejects a second key with the same hash', async () => {
      const store = await open();
      await store.createApiKey(newKey('k'));
      await expect(store.createApiKey(newKey('k', 'again'))).rejects.toThrow(DuplicateApiKeyError);
    });

    it('lists keys oldest first, revoked ones included, by department and in pages', async () => {
      const store = await open({ now: ticking('2030-01-01T00:00:00Z') });
      const a = await store.createApiKey(newKey('a'));
      const b = await store.createApiKey({ ...newKey('b'), department: 'oncology' });
      const c = await store.createApiKey(newKey('c'));
      await store.revokeApiKey(a.id);
      const listed = await store.listApiKeys();
      expect(listed.map((k) => k.id)).toEqual([a.id, b.id, c.id]);
      expect(listed[0]?.revokedAt).not.toBeNull();
      expect(Object.keys(listed[0]!)).not.toContain('keyHash');
      expect((await store.listApiKeys({ department: 'cardiology' })).map((k) => k.id)).toEqual([a.id, c.id]);
      const page = await store.listApiKeys({ limit: 1 });
      expect(page.map((k) => k.id)).toEqual([a.id]);
      expect((await store.listApiKeys({ after: { createdAt: page[0]!.createdAt, id: page[0]!.id } })).map((k) => k.id)).toEqual([b.id, c.id]);
    });

    it('revokes idempotently, keeping the first revocation time', async () => {
      const store = await open({ now: ticking('2030-01-01T00:00:00Z') });
      const key = await store.createApiKey(newKey('a'));
      const first = await store.revokeApiKey(key.id);
      const second = await store.revokeApiKey(key.id);
      expect(first?.revokedAt).toMatch(/^2030-01-01T00:00:\d\d\.000Z$/);
      expect(second?.revokedAt).toBe(first?.revokedAt);
      expect(await store.revokeApiKey('no-such-id')).toBeUndefined();
    });

    it('touches last use only forwards', async () => {
      const store = await open();
      const key = await store.createApiKey(newKey('a'));
      await store.touchApiKey(key.id, '2030-01-01T10:00:00.000Z');
      await store.touchApiKey(key.id, '2030-01-01T09:00:00.000Z');
      expect((await store.getApiKey(key.id))?.lastUsedAt).toBe('2030-01-01T10:00:00.000Z');
    });

    it('rotates a live key: the replacement inherits it, the old one expires at the overlap (an earlier expiry is kept)', async () => {
      const store = await open({ now: ticking('2030-01-01T00:00:00Z') });
      const key = await store.createApiKey({ ...newKey('a'), expiresAt: '2030-06-01T00:00:00.000Z' });
      const rotated = await store.rotateApiKey(key.id, { keyHash: hashApiKey('a2'), expiresAt: null }, '2030-01-02T00:00:00.000Z');
      expect(rotated?.created).toMatchObject({ name: 'a', role: 'reviewer', department: 'cardiology', expiresAt: null });
      expect(rotated?.old).toMatchObject({ id: key.id, expiresAt: '2030-01-02T00:00:00.000Z', rotatedTo: rotated?.created.id });
      expect(await store.findApiKeyByHash(hashApiKey('a2'))).toMatchObject({ id: rotated?.created.id });
      const short = await store.createApiKey({ ...newKey('b'), expiresAt: '2030-01-01T12:00:00.000Z' });
      expect((await store.rotateApiKey(short.id, { keyHash: hashApiKey('b2'), expiresAt: null }, '2030-02-01T00:00:00.000Z'))?.old.expiresAt).toBe(
        '2030-01-01T12:00:00.000Z',
      );
      await store.revokeApiKey(short.id);
      expect(await store.rotateApiKey(short.id, { keyHash: hashApiKey('b3'), expiresAt: null }, '2030-02-01T00:00:00.000Z')).toBeUndefined();
      expect(await store.rotateApiKey('no-such-id', { keyHash: hashApiKey('x'), expiresAt: null }, '2030-02-01T00:00:00.000Z')).toBeUndefined();
    });

    it('close is idempotent and later calls fail loudly', async () => {
      const store = await open();
      await store.ping();
      await store.close();
      await store.close();
      await expect(store.ping()).rejects.toThrow();
    });
  });

  describe('audit log', () => {
    const entry = (over: Partial<NewAuditEntry> = {}): NewAuditEntry => ({
      actor: { kind: 'key', keyId: 'k1', name: 'dr-a', role: 'reviewer' },
      department: 'cardiology',
      subject: 'review:r1',
      event: 'viewed',
      workflowId: 'r1',
      artifactVersion: 'v1',
      details: { b: 2, a: [1, { z: true, y: null }] },
      ...over,
    });

    it('chains each entry to the hash of the one before', async () => {
      const { audit } = await open({ now: ticking('2030-01-01T00:00:00Z') });
      const first = await audit.append(entry());
      const second = await audit.append(entry({ event: 'decided' }));
      expect(first).toMatchObject({ seq: 1, prevHash: genesisHash, at: expect.stringMatching(/^2030-01-01T00:00:\d\d\.000Z$/) });
      expect(second.prevHash).toBe(first.hash);
      const { hash, ...unhashed } = second;
      expect(auditEntryHash(unhashed)).toBe(hash);
      expect(await audit.verify()).toEqual({ ok: true, entries: 2, headHash: second.hash });
      expect(await audit.list()).toEqual([first, second]);
    });

    it('writes once per dedupe key: a retried append returns the first entry', async () => {
      const { audit } = await open();
      const a = await audit.append(entry({ dedupeKey: 'r1:created', event: 'created' }));
      const b = await audit.append(entry({ dedupeKey: 'r1:created', event: 'created', details: { different: true } }));
      expect(b).toEqual(a);
      expect(await audit.list()).toHaveLength(1);
    });

    it('filters by subject, workflow and department, and pages by sequence number', async () => {
      const { audit } = await open();
      await audit.append(entry());
      await audit.append(entry({ subject: 'review:r2', workflowId: 'r2', department: 'oncology' }));
      await audit.append(entry({ event: 'decided' }));
      expect((await audit.list({ subject: 'review:r2' })).map((e) => e.workflowId)).toEqual(['r2']);
      expect((await audit.list({ workflowId: 'r1' })).map((e) => e.seq)).toEqual([1, 3]);
      expect((await audit.list({ department: 'oncology' })).map((e) => e.seq)).toEqual([2]);
      expect((await audit.list({ afterSeq: 1, limit: 1 })).map((e) => e.seq)).toEqual([2]);
    });

    it('refuses UPDATE and DELETE through SQL', async () => {
      const store = await open();
      await store.audit.append(entry());
      await expect(factory.exec(store, `UPDATE audit_log SET department = 'x'`)).rejects.toThrow(/append-only/);
      await expect(factory.exec(store, 'DELETE FROM audit_log')).rejects.toThrow(/append-only/);
      expect(await store.audit.verify()).toMatchObject({ ok: true, entries: 1 });
    });

    it('two processes appending at once still form one chain', async () => {
      const api = await open();
      const worker = await reopen(api);
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? api : worker).audit.append(entry({ details: { i }, dedupeKey: i % 5 === 0 ? `d${i}` : null }))),
      );
      // Every dedupe key twice more, from the other process: nothing new is written.
      await Promise.all([0, 5, 10].map((i) => (i % 2 ? worker : api).audit.append(entry({ details: { i: -1 }, dedupeKey: `d${i}` }))));
      expect(await worker.audit.verify()).toMatchObject({ ok: true, entries: 40 });
      expect(new Set((await api.audit.list()).map((e) => (e.details as { i: number }).i)).size).toBe(40);
    });

    describe('verify() names the first broken entry', () => {
      async function tampered(sql: string) {
        const store = await open();
        for (let i = 0; i < 4; i++) await store.audit.append(entry({ details: { i } }));
        await factory.exec(store, factory.dropAuditTriggersSql);
        await factory.exec(store, sql);
        return store.audit.verify();
      }

      it('an edited row', async () => {
        const result = await tampered(`UPDATE audit_log SET details = '{"i":99}' WHERE seq = 3`);
        expect(result).toMatchObject({ ok: false, firstBrokenSeq: 3, reason: expect.stringMatching(/entry 3 was changed/) });
      });

      it('an edited row whose hash was recomputed without relinking the next one', async () => {
        const store = await open();
        for (let i = 0; i < 3; i++) await store.audit.append(entry({ details: { i } }));
        const [, second] = await store.audit.list();
        const { hash: _old, ...unhashed } = { ...second!, details: { i: 42 } };
        await factory.exec(store, factory.dropAuditTriggersSql);
        await factory.exec(store, `UPDATE audit_log SET details = '{"i":42}', hash = '${auditEntryHash(unhashed)}' WHERE seq = 2`);
        expect(await store.audit.verify()).toMatchObject({ ok: false, firstBrokenSeq: 3, reason: expect.stringMatching(/does not link/) });
      });

      it('a deleted row', async () => {
        const result = await tampered('DELETE FROM audit_log WHERE seq = 2');
        expect(result).toMatchObject({ ok: false, firstBrokenSeq: 3, reason: expect.stringMatching(/entry 2 is missing/) });
      });
    });
  });

  describe('review inbox', () => {
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

    it('creates idempotently, lists by assignee/status/department, reassigns and closes once', async () => {
      const { reviews: inbox } = await open({ now: ticking('2030-01-01T00:00:00Z') });
      await inbox.create(task('r1'));
      await inbox.create(task('r1', { title: 'second create is ignored' }));
      await inbox.create(task('r2', { assignee: 'group:reviewers' }));
      await inbox.create(task('r3', { department: 'oncology' }));
      expect((await inbox.get('r1'))?.title).toBe('review r1');
      expect((await inbox.list({ department: 'cardiology', assignees: ['dr-a', 'group:reviewers'] })).map((t) => t.id)).toEqual(['r1', 'r2']);
      expect((await inbox.list({ assignees: [] })).map((t) => t.id)).toEqual([]);

      await inbox.reassign('r1', 'dr-chief', 1);
      expect(await inbox.get('r1')).toMatchObject({ assignee: 'dr-chief', escalationLevel: 1 });
      await inbox.reassign('r1', 'dr-b');
      expect(await inbox.get('r1')).toMatchObject({ assignee: 'dr-b', escalationLevel: 1 });
      await inbox.close('r1', 'approved');
      await inbox.close('r1', 'expired');
      await inbox.reassign('r1', 'dr-late');
      expect(await inbox.get('r1')).toMatchObject({ status: 'approved', assignee: 'dr-b', closedAt: expect.any(String) });
      expect((await inbox.list({ status: 'pending' })).map((t) => t.id)).toEqual(['r2', 'r3']);
      const [first] = await inbox.list({ limit: 1 });
      expect((await inbox.list({ after: { createdAt: first!.createdAt, id: first!.id } })).map((t) => t.id)).toEqual(['r2', 'r3']);
    });

    it('counts pending and escalated reviews per department in the store; closed ones do not count', async () => {
      const { reviews: inbox } = await open();
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
      let clock = Date.parse('2030-01-01T00:00:00.000Z');
      const { reviews: inbox } = await open({ now: () => new Date(clock) });
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

  describe('pipeline registry', () => {
    const base = { spec: { id: 'kb', stages: [{ n: 1 }] }, specHash: 'h1', dagId: 'kb', fileName: 'kb.py', deployedAt: null, lastError: null };

    it('saves, lists by department without deleted ones, pages by id, and updates status', async () => {
      const store = await open();
      await store.pipelines.save({ ...base, id: 'kb', department: 'cardiology', status: 'deployed' });
      await store.pipelines.save({ ...base, id: 'other', department: 'oncology', status: 'deployed' });
      await store.pipelines.save({ ...base, id: 'Zeta', department: 'oncology', status: 'deployed' });
      expect((await store.pipelines.list({ department: 'cardiology' })).map((p) => p.id)).toEqual(['kb']);
      await store.pipelines.update('kb', { status: 'deleted' });
      // Ordered by bytes in both stores: upper case before lower case.
      expect((await store.pipelines.list()).map((p) => p.id)).toEqual(['Zeta', 'other']);
      expect((await store.pipelines.list({ includeDeleted: true })).map((p) => p.id)).toEqual(['Zeta', 'kb', 'other']);
      expect((await store.pipelines.list({ includeDeleted: true, afterId: 'Zeta', limit: 1 })).map((p) => p.id)).toEqual(['kb']);
      expect(await store.pipelines.get('kb')).toMatchObject({ status: 'deleted', spec: base.spec });
      expect(await store.pipelines.update('missing', { status: 'paused' })).toBeUndefined();
    });

    it('keeps the first createdAt on a re-save, and updates only the fields a patch names', async () => {
      const store = await open({ now: ticking('2030-01-01T00:00:00Z') });
      const first = await store.pipelines.save({ ...base, id: 'kb', department: 'cardiology', status: 'deployed', deployedAt: '2030-01-01T00:00:00.000Z' });
      const again = await store.pipelines.save({ ...base, id: 'kb', department: 'cardiology', status: 'deployed', specHash: 'h2', deployedAt: '2030-01-01T00:00:00.000Z' });
      expect(again).toMatchObject({ createdAt: first.createdAt, specHash: 'h2' });
      expect(again.updatedAt > first.updatedAt).toBe(true);
      expect(await store.pipelines.update('kb', { lastError: 'boom' })).toMatchObject({ status: 'deployed', lastError: 'boom', deployedAt: '2030-01-01T00:00:00.000Z' });
      expect(await store.pipelines.update('kb', { lastError: null, deployedAt: null })).toMatchObject({ lastError: null, deployedAt: null });
    });
  });

  describe('fingerprints', () => {
    const file = (sha: string, mtimeNs = 1): SourceFingerprint => ({
      source: 'docs',
      kind: 'file',
      identity: `sha256:${sha}`,
      value: { size: 3, mtimeNs, sha256: sha },
    });
    const request = (runId: string, sources: SourceFingerprint[], force = false) => ({ pipelineId: 'kb', partition: 'cardiology', runId, force, sources });
    const fresh = () => open({ now: ticking('2026-11-25T01:00:00Z') });

    it('first check is a change; only a commit makes the values the ones compared with', async () => {
      const store = await fresh();
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
      const store = await fresh();
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
      // A changed source's committed value stays the old one until the commit.
      expect((await store.fingerprints.committed('kb', 'cardiology'))[0]!.value).toMatchObject({ mtimeNs: 2 });
      await store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'r3' });
      const [after] = await store.fingerprints.committed('kb', 'cardiology');
      expect(after!.identity).toBe('sha256:bbb');
      expect(after!.changedAt > committed!.changedAt).toBe(true);
      expect((await store.fingerprints.partitions('kb'))[0]!.lastRun).toMatchObject({ runId: 'r3', outcome: 'ran' });
    });

    it('force runs an unchanged partition', async () => {
      const store = await fresh();
      await store.fingerprints.check(request('r1', [file('aaa')]));
      await store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'r1' });
      expect(await store.fingerprints.check(request('r2', [file('aaa')], true))).toMatchObject({ changed: true, reasons: ['forced'] });
    });

    it('commit of a run that checked nothing is refused; a checked run stays pending until committed', async () => {
      const store = await fresh();
      await expect(store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'nope' })).rejects.toThrow(NothingPendingError);
      await store.fingerprints.check(request('r1', [file('aaa')]));
      expect((await store.fingerprints.partitions('kb'))[0]!.lastRun).toMatchObject({ runId: 'r1', outcome: 'pending' });
      // A commit for another run id does not commit r1's pending values.
      await expect(store.fingerprints.commit({ pipelineId: 'kb', partition: 'cardiology', runId: 'r2' })).rejects.toThrow(NothingPendingError);
    });

    it('a reported failure is the last run, keeps the pending values uncommitted, and the first reason of a run wins', async () => {
      const store = await fresh();
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
      const store = await fresh();
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

  describe('LLM token usage', () => {
    const call = (callKey: string, department: string, totalTokens: number) => ({
      callKey,
      department,
      model: 'm',
      promptTokens: totalTokens - 1,
      completionTokens: 1,
      totalTokens,
    });

    it('sums per department since a time and counts a call key once', async () => {
      let clock = new Date('2026-11-10T12:00:00Z');
      const store = await open({ now: () => clock });
      await store.llmTokenUsage.record(call('wf-1:1', 'radiology', 100));
      await store.llmTokenUsage.record(call('wf-1:1', 'radiology', 100)); // retried attempt, same call
      await store.llmTokenUsage.record(call('wf-2:1', 'cardiology', 7));
      clock = new Date('2026-12-01T00:00:00Z');
      await store.llmTokenUsage.record(call('wf-3:1', 'radiology', 40));

      expect(await store.llmTokenUsage.spentSince('radiology', new Date('2026-11-01T00:00:00Z'))).toBe(140);
      expect(await store.llmTokenUsage.spentSince('radiology', new Date('2026-12-01T00:00:00Z'))).toBe(40);
      expect(await store.llmTokenUsage.spentSince('cardiology', new Date('2026-11-01T00:00:00Z'))).toBe(7);
      expect(await store.llmTokenUsage.spentSince('oncology', new Date('2026-11-01T00:00:00Z'))).toBe(0);
    });
  });

  describe('index aliases', () => {
    it('switches, keeps history, and writes nothing for a repeated switch', async () => {
      const store = await open();
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
      const store = await open();
      await store.indexAliases.recordMetrics('kb:a', 'v1', { mrr: 0.5 });
      await store.indexAliases.recordMetrics('kb:a', 'v1', { mrr: 0.6 });
      expect(await store.indexAliases.metricsOf('kb:a', 'v1')).toEqual({ mrr: 0.6 });
      expect(await store.indexAliases.metricsOf('kb:a', 'v2')).toBeUndefined();
    });

    it('two processes promoting one version at once record one switch', async () => {
      const api = await open();
      const worker = await reopen(api);
      await Promise.all([api, worker, api, worker].map((s) => s.indexAliases.switchTo('kb:a', 'v1', { reason: 'promote', actor: 'wf' })));
      expect(await api.indexAliases.history('kb:a')).toHaveLength(1);
    });
  });

  describe('hand-offs', () => {
    const run = (runId: string, tryNumber = 1): NewHandoffRun => ({
      handoffId: 'handoff:d:r:t:-1',
      workflowType: 'smoke.echo',
      department: 'cardiology',
      region: 'eu',
      pipelineId: 'p',
      partition: 'cardiology',
      airflow: { dagId: 'd', runId: 'r', taskId: 't', mapIndex: -1, tryNumber },
      runId,
      sealedInput: '{}',
      startedBy: 'svc',
    });

    it('closes only the current run, so a late observer of an old run cannot close its successor', async () => {
      const s = await open();
      await s.handoffs.recordRun(run('run-1'));
      await s.handoffs.recordRun(run('run-2', 2));
      expect(await s.handoffs.markClosed('handoff:d:r:t:-1', 'run-1', 'failed', 'old')).toBe(false);
      expect(await s.handoffs.listRunning()).toHaveLength(1);
      expect(await s.handoffs.markClosed('handoff:d:r:t:-1', 'run-2', 'succeeded', null)).toBe(true);
      expect(await s.handoffs.get('handoff:d:r:t:-1')).toMatchObject({ status: 'succeeded', runId: 'run-2', airflow: { tryNumber: 2, mapIndex: -1 } });
      expect(await s.handoffs.listRunning()).toEqual([]);
    });

    it('keeps the region its workflow runs in, run after run', async () => {
      const s = await open();
      expect((await s.handoffs.recordRun(run('run-1'))).region).toBe('eu');
      await s.handoffs.recordRun(run('run-2', 2));
      expect(await s.handoffs.get('handoff:d:r:t:-1')).toMatchObject({ region: 'eu', runId: 'run-2' });
      expect((await s.handoffs.listRunning()).map((r) => r.region)).toEqual(['eu']);
    });

    it('keeps the first start time and only ever raises the try number', async () => {
      const s = await open({ now: ticking('2030-01-01T00:00:00Z') });
      const first = await s.handoffs.recordRun(run('run-1', 3));
      await s.handoffs.recordTry(first.handoffId, 2);
      expect((await s.handoffs.get(first.handoffId))!.airflow.tryNumber).toBe(3);
      await s.handoffs.recordTry(first.handoffId, 4);
      expect((await s.handoffs.get(first.handoffId))!.airflow.tryNumber).toBe(4);
      const again = await s.handoffs.recordRun(run('run-2', 5));
      expect(again.createdAt).toBe(first.createdAt);
      expect(again.updatedAt > first.updatedAt).toBe(true);
    });
  });

  describe('idempotency keys', () => {
    const claim = (over: Partial<IdempotencyClaimRequest> = {}): IdempotencyClaimRequest => ({
      keyId: 'k1',
      idempotencyKey: 'idem-1',
      fingerprint: 'fp-1',
      ttlMs: 24 * 3600_000,
      inFlightTimeoutMs: 60_000,
      ...over,
    });

    it('claims once, then reports in flight, mismatch, and finally replays the response', async () => {
      const { idempotency } = await open();
      expect(await idempotency.claim(claim())).toEqual({ kind: 'claimed' });
      expect(await idempotency.claim(claim())).toEqual({ kind: 'in-flight' });
      expect(await idempotency.claim(claim({ fingerprint: 'fp-2' }))).toEqual({ kind: 'mismatch' });
      // Scoped to the API key: another key's same Idempotency-Key is a different record.
      expect(await idempotency.claim(claim({ keyId: 'k2' }))).toEqual({ kind: 'claimed' });
      await idempotency.complete('k1', 'idem-1', { status: 201, contentType: 'application/json', body: '{"id":"w1"}' });
      expect(await idempotency.claim(claim())).toEqual({ kind: 'replay', status: 201, contentType: 'application/json', body: '{"id":"w1"}' });
      // A completed record is not released by a late release.
      await idempotency.release('k1', 'idem-1');
      expect((await idempotency.claim(claim())).kind).toBe('replay');
    });

    it('a released claim, an abandoned one and an expired record can be claimed again', async () => {
      let clock = Date.parse('2030-01-01T00:00:00Z');
      const { idempotency } = await open({ now: () => new Date(clock) });
      expect((await idempotency.claim(claim())).kind).toBe('claimed');
      await idempotency.release('k1', 'idem-1');
      expect((await idempotency.claim(claim())).kind).toBe('claimed');
      clock += 61_000;
      expect((await idempotency.claim(claim({ fingerprint: 'fp-2' }))).kind).toBe('claimed');
      await idempotency.complete('k1', 'idem-1', { status: 200, contentType: null, body: '' });
      clock += 25 * 3600_000;
      expect(await idempotency.purgeExpired()).toBe(1);
      expect((await idempotency.claim(claim())).kind).toBe('claimed');
    });

    it('of two processes racing for one key, exactly one claims it', async () => {
      const api = await open();
      const other = await reopen(api);
      for (let round = 0; round < 10; round++) {
        const results = await Promise.all([api, other, api, other].map((s) => s.idempotency.claim(claim({ idempotencyKey: `race-${round}` }))));
        expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1);
        expect(results.filter((r) => r.kind === 'in-flight')).toHaveLength(3);
      }
    });
  });

  describe('console sessions', () => {
    const session = (keyId: string, idHash: string, lastSeenAt: string, expiresAt: string) => ({
      idHash,
      keyId,
      csrfSecret: 'secret',
      createdAt: '2026-12-01T08:00:00.000Z',
      lastSeenAt,
      expiresAt,
    });

    it('stores, touches and removes a session, forgetting its used forms; another process sees it', async () => {
      const store = await open();
      const keyId = (await store.createApiKey({ name: 'dr-a', role: 'reviewer', department: 'cardiology', keyHash: 'h' })).id;
      const sessions = store.consoleSessions;
      await sessions.create(session(keyId, 'a', '2026-12-01T08:00:00.000Z', '2026-12-01T20:00:00.000Z'));
      await sessions.touch('a', '2026-12-01T09:00:00.000Z');
      expect(await sessions.get('a')).toMatchObject({ keyId, lastSeenAt: '2026-12-01T09:00:00.000Z' });
      const other = await reopen(store);
      expect(await sessions.useForm('a', 'f1')).toBe(true);
      // The form was used through one replica: the other refuses it too.
      expect(await other.consoleSessions.useForm('a', 'f1')).toBe(false);
      await other.consoleSessions.remove('a');
      expect(await sessions.get('a')).toBeUndefined();
      await sessions.create(session(keyId, 'a', '2026-12-01T08:00:00.000Z', '2026-12-01T20:00:00.000Z'));
      expect(await sessions.useForm('a', 'f1')).toBe(true);
    });

    it('removes sessions past their absolute or idle expiry', async () => {
      const store = await open();
      const keyId = (await store.createApiKey({ name: 'dr-a', role: 'reviewer', department: 'cardiology', keyHash: 'h' })).id;
      const sessions = store.consoleSessions;
      await sessions.create(session(keyId, 'past-absolute', '2026-12-01T11:59:00.000Z', '2026-12-01T11:00:00.000Z'));
      await sessions.create(session(keyId, 'idle', '2026-12-01T10:00:00.000Z', '2026-12-01T20:00:00.000Z'));
      await sessions.create(session(keyId, 'live', '2026-12-01T11:59:00.000Z', '2026-12-01T20:00:00.000Z'));
      expect(await sessions.removeExpired('2026-12-01T12:00:00.000Z', '2026-12-01T11:30:00.000Z')).toBe(2);
      expect(await sessions.get('live')).toBeDefined();
      expect(await sessions.get('idle')).toBeUndefined();
    });
  });

  describe('webhooks', () => {
    const subscription = (id: string, department: string, eventTypes: ('review.decided' | 'workflow.failed')[]) => ({
      id,
      department,
      url: 'http://127.0.0.1:9/hooks',
      eventTypes,
      description: null,
      secret: 'whsec_x',
      createdBy: 'svc',
    });

    it('finds the live subscribers of a department and event type, and pages the live ones', async () => {
      const { webhooks: hooks } = await open({ now: ticking('2030-01-01T00:00:00Z') });
      await hooks.createSubscription(subscription('a', 'cardiology', ['review.decided']));
      await hooks.createSubscription(subscription('b', 'cardiology', ['workflow.failed']));
      await hooks.createSubscription(subscription('c', 'oncology', ['review.decided']));
      await hooks.createSubscription(subscription('d', 'cardiology', ['review.decided', 'workflow.failed']));
      expect((await hooks.subscribersOf('cardiology', 'review.decided')).map((s) => s.id)).toEqual(['a', 'd']);
      expect(await hooks.deleteSubscription('d')).toBe(true);
      expect(await hooks.deleteSubscription('d')).toBe(false);
      expect((await hooks.subscribersOf('cardiology', 'review.decided')).map((s) => s.id)).toEqual(['a']);
      expect((await hooks.getSubscription('d'))?.deletedAt).toEqual(expect.any(String));
      expect((await hooks.listSubscriptions({ department: 'cardiology', limit: 10 })).map((s) => s.id)).toEqual(['a', 'b']);
      const [first] = await hooks.listSubscriptions({ limit: 1 });
      expect((await hooks.listSubscriptions({ after: { createdAt: first!.createdAt, id: first!.id }, limit: 10 })).map((s) => s.id)).toEqual(['b', 'c']);
    });

    it('records a delivery once, its attempts in order, and counts failed attempts', async () => {
      const { webhooks: hooks } = await open({ now: ticking('2030-01-01T00:00:00Z') });
      await hooks.createSubscription(subscription('a', 'cardiology', ['review.decided']));
      const d = { id: 'whd_1', subscriptionId: 'a', department: 'cardiology', eventId: 'evt_1', eventType: 'review.decided' as const, payload: '{}' };
      const first = await hooks.recordDelivery(d);
      expect(await hooks.recordDelivery({ ...d, payload: '{"other":1}' })).toEqual(first);
      await hooks.recordAttempt('whd_1', { attempt: 1, at: '2030-01-01T00:00:00.000Z', statusCode: 503, latencyMs: 3, error: 'receiver answered 503' }, { status: 'retrying', nextAttemptAt: '2030-01-01T00:00:10.000Z' });
      expect(await hooks.getDelivery('whd_1')).toMatchObject({ status: 'retrying', deliveredAt: null, nextAttemptAt: '2030-01-01T00:00:10.000Z' });
      await hooks.recordAttempt('whd_1', { attempt: 2, at: '2030-01-01T00:00:10.000Z', statusCode: 200, latencyMs: 2, error: null }, { status: 'delivered', nextAttemptAt: null });
      expect(await hooks.getDelivery('whd_1')).toMatchObject({ status: 'delivered', attempts: 2, lastStatusCode: 200, lastLatencyMs: 2, nextAttemptAt: null, deliveredAt: '2030-01-01T00:00:10.000Z', payload: '{}' });
      expect((await hooks.attemptsOf('whd_1')).map((a) => a.statusCode)).toEqual([503, 200]);
      await hooks.recordDelivery({ ...d, id: 'whd_2', eventId: 'evt_2' });
      await hooks.setDeliveryStatus('whd_2', 'cancelled');
      expect((await hooks.listDeliveries({ subscriptionId: 'a', limit: 10 })).map((x) => x.id)).toEqual(['whd_2', 'whd_1']);
      const [newest] = await hooks.listDeliveries({ subscriptionId: 'a', limit: 1 });
      expect((await hooks.listDeliveries({ subscriptionId: 'a', before: { createdAt: newest!.createdAt, id: newest!.id }, limit: 10 })).map((x) => x.id)).toEqual(['whd_1']);
      expect(await hooks.deliveryCounts()).toEqual(
        expect.arrayContaining([
          { department: 'cardiology', status: 'delivered', deliveries: 1, failedAttempts: 1 },
          { department: 'cardiology', status: 'cancelled', deliveries: 1, failedAttempts: 0 },
        ]),
      );
    });
  });

  describe('tenants', () => {
    const spec = (gpu: number) =>
      tenantSpecSchema.parse({ quota: { requests: { 'nvidia.com/gpu': gpu, cpu: '32' } }, offPeak: { start: '22:00', end: '06:00', timezone: 'Europe/Paris' } });
    const noCluster = { state: 'no-cluster' as const, at: null, message: null };

    it('creates, then replaces a department’s tenant, keeping when it was created', async () => {
      let clock = new Date('2026-11-10T12:00:00Z');
      const store = await open({ now: () => clock });
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
      const store = await open();
      await store.tenants.put({ department: 'cardiology', namespace: 'shared', spec: spec(4), updatedBy: 'admin', cluster: noCluster });
      await expect(store.tenants.put({ department: 'oncology', namespace: 'shared', spec: spec(2), updatedBy: 'admin', cluster: noCluster })).rejects.toBeInstanceOf(NamespaceTakenError);
      expect(await store.tenants.get('oncology')).toBeUndefined();
    });

    it('lists by department with keyset paging and a department filter', async () => {
      const store = await open();
      for (const d of ['radiology', 'cardiology', 'oncology']) await store.tenants.put({ department: d, namespace: d, spec: spec(1), updatedBy: 'admin', cluster: noCluster });
      expect((await store.tenants.list({ limit: 2 })).map((t) => t.department)).toEqual(['cardiology', 'oncology']);
      expect((await store.tenants.list({ limit: 2, after: 'oncology' })).map((t) => t.department)).toEqual(['radiology']);
      expect((await store.tenants.list({ limit: 10, department: 'oncology' })).map((t) => t.department)).toEqual(['oncology']);
    });

    it('records the cluster status of the last apply, deletes for good, and is seen by another process', async () => {
      const store = await open();
      await store.tenants.put({ department: 'cardiology', namespace: 'cardiology', spec: spec(4), updatedBy: 'admin', cluster: noCluster });
      await store.tenants.setClusterStatus('cardiology', { state: 'failed', at: '2026-11-10T12:01:00.000Z', message: 'connection refused' });
      const other = await reopen(store);
      expect((await other.tenants.get('cardiology'))!.cluster).toEqual({ state: 'failed', at: '2026-11-10T12:01:00.000Z', message: 'connection refused' });
      expect((await other.tenants.get('cardiology'))!.spec.offPeak).toEqual({ start: '22:00', end: '06:00', timezone: 'Europe/Paris' });
      expect(await store.tenants.delete('cardiology')).toBe(true);
      expect(await store.tenants.delete('cardiology')).toBe(false);
      expect(await other.tenants.get('cardiology')).toBeUndefined();
    });
  });

  describe('rate limit counts', () => {
    it('count per key in fixed windows that start at multiples of their length', async () => {
      let clock = Date.parse('2030-01-01T00:00:10Z');
      const store = await open({ now: () => new Date(clock) });
      expect(await store.rateLimits.hit('ip:a', 60_000)).toEqual({ hits: 1, resetInMs: 50_000 });
      expect(await store.rateLimits.hit('ip:a', 60_000)).toEqual({ hits: 2, resetInMs: 50_000 });
      expect((await store.rateLimits.hit('ip:b', 60_000)).hits).toBe(1);
      expect((await store.rateLimits.hit('ip:a', 1_000)).hits).toBe(1);
      clock += 50_000;
      expect(await store.rateLimits.hit('ip:a', 60_000)).toEqual({ hits: 1, resetInMs: 60_000 });
    });
  });

  describe('payload key registry', () => {
    it('keeps the first fingerprint of a key id, and two processes registering at once both succeed', async () => {
      const api = await open();
      const worker = await reopen(api);
      await Promise.all([
        api.payloadKeys.register([{ keyId: 'k1', fingerprint: 'aa' }]),
        worker.payloadKeys.register([{ keyId: 'k1', fingerprint: 'aa' }, { keyId: 'k2', fingerprint: 'bb' }]),
      ]);
      await api.payloadKeys.register([{ keyId: 'k1', fingerprint: 'zz' }]);
      expect(await worker.payloadKeys.fingerprints()).toEqual(new Map([['k1', 'aa'], ['k2', 'bb']]));
      await api.payloadKeys.register([]);
    });
  });
}
