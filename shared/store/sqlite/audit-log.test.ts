import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { auditEntryHash, genesisHash, type NewAuditEntry } from '../audit-log.ts';
import { openSqliteStore, type SqliteStore } from '../sqlite-store.ts';

let dir: string;
let store: SqliteStore;

afterEach(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function open() {
  dir = mkdtempSync(path.join(tmpdir(), 'tandem-audit-'));
  let tick = 0;
  store = openSqliteStore(path.join(dir, 'tandem.db'), { now: () => new Date(Date.UTC(2030, 0, 1, 0, 0, tick++)) });
  return store;
}

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

describe('SqliteAuditLog', () => {
  it('chains each entry to the hash of the one before', async () => {
    const { audit } = open();
    const first = await audit.append(entry());
    const second = await audit.append(entry({ event: 'decided', subject: 'review:r1' }));
    expect(first).toMatchObject({ seq: 1, prevHash: genesisHash, at: expect.stringMatching(/^2030-01-01T00:00:\d\d/) });
    expect(second.prevHash).toBe(first.hash);
    const { hash, ...unhashed } = second;
    expect(auditEntryHash(unhashed)).toBe(hash);
    expect(await audit.verify()).toEqual({ ok: true, entries: 2, headHash: second.hash });
  });

  it('writes once per dedupe key: a retried append returns the first entry', async () => {
    const { audit } = open();
    const a = await audit.append(entry({ dedupeKey: 'r1:created', event: 'created' }));
    const b = await audit.append(entry({ dedupeKey: 'r1:created', event: 'created', details: { different: true } }));
    expect(b).toEqual(a);
    expect(await audit.list()).toHaveLength(1);
  });

  it('filters by subject, workflow and department', async () => {
    const { audit } = open();
    await audit.append(entry());
    await audit.append(entry({ subject: 'review:r2', workflowId: 'r2', department: 'oncology' }));
    expect((await audit.list({ subject: 'review:r2' })).map((e) => e.workflowId)).toEqual(['r2']);
    expect((await audit.list({ workflowId: 'r1' })).map((e) => e.subject)).toEqual(['review:r1']);
    expect((await audit.list({ department: 'oncology' })).map((e) => e.seq)).toEqual([2]);
  });

  it('refuses UPDATE and DELETE through SQL', async () => {
    const s = open();
    await s.audit.append(entry());
    const db = new DatabaseSync(s.file);
    try {
      expect(() => db.exec(`UPDATE audit_log SET department = 'x'`)).toThrow(/append-only/);
      expect(() => db.exec('DELETE FROM audit_log')).toThrow(/append-only/);
    } finally {
      db.close();
    }
  });

  describe('verify() names the first broken entry', () => {
    async function tamper(sql: string) {
      const s = open();
      for (let i = 0; i < 4; i++) await s.audit.append(entry({ details: { i } }));
      const db = new DatabaseSync(s.file);
      try {
        db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
        db.exec(sql);
      } finally {
        db.close();
      }
      return s.audit.verify();
    }

    it('an edited row', async () => {
      const result = await tamper(`UPDATE audit_log SET details = '{"i":99}' WHERE seq = 3`);
      expect(result).toMatchObject({ ok: false, firstBrokenSeq: 3, reason: expect.stringMatching(/entry 3 was changed/) });
    });

    it('an edited row whose hash was recomputed without relinking the next one', async () => {
      const s = open();
      for (let i = 0; i < 3; i++) await s.audit.append(entry({ details: { i } }));
      const [, second] = await s.audit.list();
      const forged = { ...second!, details: { i: 42 } };
      const { hash: _old, ...unhashed } = forged;
      const db = new DatabaseSync(s.file);
      try {
        db.exec('DROP TRIGGER audit_log_no_update');
        db.prepare(`UPDATE audit_log SET details = '{"i":42}', hash = ? WHERE seq = 2`).run(auditEntryHash(unhashed));
      } finally {
        db.close();
      }
      expect(await s.audit.verify()).toMatchObject({ ok: false, firstBrokenSeq: 3, reason: expect.stringMatching(/does not link/) });
    });

    it('a deleted row', async () => {
      const result = await tamper('DELETE FROM audit_log WHERE seq = 2');
      expect(result).toMatchObject({ ok: false, firstBrokenSeq: 3, reason: expect.stringMatching(/entry 2 is missing/) });
    });
  });
});
