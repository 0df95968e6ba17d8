import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateCredentials } from '../../shared/credentials.ts';
import { hashApiKey } from '../../shared/store/api-key-hash.ts';
import { openSqliteStore, type SqliteStore } from '../../shared/store/sqlite-store.ts';
import { seedCredentialKeys } from './credential-keys.ts';

let dir: string;
let store: SqliteStore;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-seed-'));
  store = openSqliteStore(path.join(dir, 'tandem.db'));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('seedCredentialKeys', () => {
  it('adds the admin and service keys once, scoped to every department', async () => {
    const credentials = generateCredentials();
    expect((await seedCredentialKeys(store, credentials)).map((k) => k.created)).toEqual([true, true]);
    expect((await seedCredentialKeys(store, credentials)).map((k) => k.created)).toEqual([false, false]);
    expect(await store.findApiKeyByHash(hashApiKey(credentials.adminApiKey))).toMatchObject({ role: 'admin', department: '*' });
    expect(await store.findApiKeyByHash(hashApiKey(credentials.serviceApiKey))).toMatchObject({ role: 'service', department: '*' });
    expect(await store.listApiKeys()).toHaveLength(2);
  });

  it('two API processes seeding at once add each key once, and both start', async () => {
    const credentials = generateCredentials();
    const other = openSqliteStore(path.join(dir, 'tandem.db'));
    try {
      const [a, b] = await Promise.all([seedCredentialKeys(store, credentials), seedCredentialKeys(other, credentials)]);
      expect([...a, ...b].filter((k) => k.created)).toHaveLength(2);
      expect(await store.listApiKeys()).toHaveLength(2);
    } finally {
      await other.close();
    }
  });

  it('does not bring back a key an admin revoked', async () => {
    const credentials = generateCredentials();
    await seedCredentialKeys(store, credentials);
    const service = await store.findApiKeyByHash(hashApiKey(credentials.serviceApiKey));
    await store.revokeApiKey(service!.id);
    await seedCredentialKeys(store, credentials);
    expect((await store.findApiKeyByHash(hashApiKey(credentials.serviceApiKey)))?.revokedAt).not.toBeNull();
  });
});
