import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../../shared/store/api-key-hash.ts';
import { openSqliteStore, type SqliteStore } from '../../../shared/store/sqlite-store.ts';
import { ConsoleSessions, sameToken, sessionIdHash } from './sessions.ts';

let dir: string;
let store: SqliteStore;
let clock: Date;
let sessions: ConsoleSessions;
const minutes = (n: number) => n * 60_000;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'console-sessions-'));
  clock = new Date('2026-12-01T08:00:00Z');
  store = openSqliteStore(path.join(dir, 'tandem.db'));
  await store.createApiKey({ name: 'dr-a', role: 'reviewer', department: 'cardiology', keyHash: hashApiKey('the-key') });
  sessions = new ConsoleSessions(store, { idleMinutes: 30, maxHours: 12 }, () => clock);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const advance = (ms: number) => {
  clock = new Date(clock.getTime() + ms);
};

describe('console sessions', () => {
  it('keeps only the hash of the session id, and acts as the key it signed in with', async () => {
    const signed = (await sessions.signIn('the-key'))!;
    expect(signed.principal).toMatchObject({ name: 'dr-a', role: 'reviewer', department: 'cardiology' });
    expect(await store.consoleSessions.get(signed.sessionId)).toBeUndefined();
    expect(await store.consoleSessions.get(sessionIdHash(signed.sessionId))).toBeDefined();
    expect(await sessions.signIn('another-key')).toBeUndefined();
  });

  it('ends after the idle time without a request, and after the absolute time however busy', async () => {
    const idle = (await sessions.signIn('the-key'))!.sessionId;
    advance(minutes(29));
    expect((await sessions.lookup(idle)).ok).toBe(true);
    advance(minutes(31));
    expect(await sessions.lookup(idle)).toMatchObject({ ok: false, reason: 'expired' });

    const busy = (await sessions.signIn('the-key'))!.sessionId;
    for (let t = 0; t < 12 * 60 - 20; t += 20) {
      advance(minutes(20));
      expect((await sessions.lookup(busy)).ok, `after ${t + 20} min`).toBe(true);
    }
    advance(minutes(20));
    expect(await sessions.lookup(busy)).toMatchObject({ ok: false, reason: 'expired' });
    expect(await sessions.lookup(busy)).toMatchObject({ ok: false, reason: 'none' });
  });

  it('ends at once when its key is revoked', async () => {
    const { sessionId, principal } = (await sessions.signIn('the-key'))!;
    await store.revokeApiKey(principal.keyId);
    expect(await sessions.lookup(sessionId)).toMatchObject({ ok: false, reason: 'revoked', principal: { name: 'dr-a' } });
  });

  it('compares tokens in full', () => {
    expect(sameToken('abc', 'abc')).toBe(true);
    expect(sameToken('abc', 'abd')).toBe(false);
    expect(sameToken('abc', 'ab')).toBe(false);
    expect(sameToken('abc', undefined)).toBe(false);
  });
});
