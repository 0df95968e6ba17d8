import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../sqlite-store.ts';

let dir: string;
let store: SqliteStore;
let keyId: string;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'console-sessions-'));
  store = openSqliteStore(path.join(dir, 'tandem.db'));
  keyId = (await store.createApiKey({ name: 'dr-a', role: 'reviewer', department: 'cardiology', keyHash: 'h' })).id;
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const session = (idHash: string, lastSeenAt: string, expiresAt: string) => ({
  idHash,
  keyId,
  csrfSecret: 'secret',
  createdAt: '2026-12-01T08:00:00.000Z',
  lastSeenAt,
  expiresAt,
});

describe('console sessions', () => {
  it('stores, touches and removes a session, forgetting its used forms', async () => {
    await store.consoleSessions.create(session('a', '2026-12-01T08:00:00.000Z', '2026-12-01T20:00:00.000Z'));
    await store.consoleSessions.touch('a', '2026-12-01T09:00:00.000Z');
    expect(await store.consoleSessions.get('a')).toMatchObject({ keyId, lastSeenAt: '2026-12-01T09:00:00.000Z' });
    expect(await store.consoleSessions.useForm('a', 'f1')).toBe(true);
    expect(await store.consoleSessions.useForm('a', 'f1')).toBe(false);
    await store.consoleSessions.remove('a');
    expect(await store.consoleSessions.get('a')).toBeUndefined();
    await store.consoleSessions.create(session('a', '2026-12-01T08:00:00.000Z', '2026-12-01T20:00:00.000Z'));
    expect(await store.consoleSessions.useForm('a', 'f1')).toBe(true);
  });

  it('removes sessions past their absolute or idle expiry', async () => {
    await store.consoleSessions.create(session('past-absolute', '2026-12-01T11:59:00.000Z', '2026-12-01T11:00:00.000Z'));
    await store.consoleSessions.create(session('idle', '2026-12-01T10:00:00.000Z', '2026-12-01T20:00:00.000Z'));
    await store.consoleSessions.create(session('live', '2026-12-01T11:59:00.000Z', '2026-12-01T20:00:00.000Z'));
    expect(await store.consoleSessions.removeExpired('2026-12-01T12:00:00.000Z', '2026-12-01T11:30:00.000Z')).toBe(2);
    expect(await store.consoleSessions.get('live')).toBeDefined();
  });
});
