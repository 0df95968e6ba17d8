import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agreeOnKeyring, loadPayloadKeyring, payloadKeyFingerprint, rotatePayloadKey } from './payload-keys.ts';
import { openSqliteStore } from './store/sqlite-store.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'payload-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('agreeOnKeyring', () => {
  it('registers a first keyring, accepts it again and after a rotation, and refuses a different key or a missing one', async () => {
    const store = await openSqliteStore(path.join(dir, 'tandem.db'));
    const file = path.join(dir, 'keys.json');
    const first = loadPayloadKeyring(file, { createIfMissing: true });
    await agreeOnKeyring(first, store.payloadKeys, file);
    await agreeOnKeyring(first, store.payloadKeys, file);
    const [id] = [...first.keys.keys()];
    expect(await store.payloadKeys.fingerprints()).toEqual(new Map([[id, payloadKeyFingerprint(first.keys.get(id!)!)]]));

    // A rotation adds a key; the rotated keyring registers it.
    const added = rotatePayloadKey(file);
    const rotated = loadPayloadKeyring(file, { createIfMissing: false });
    await agreeOnKeyring(rotated, store.payloadKeys, file);
    expect([...(await store.payloadKeys.fingerprints()).keys()].sort()).toEqual([id, added].sort());

    // The keyring from before the rotation lacks the key the others now encrypt with.
    await expect(agreeOnKeyring(first, store.payloadKeys, 'old.json')).rejects.toThrow(`payload key ${added}, registered by another API or worker process, is missing from old.json`);
    // Another file whose key has a registered id but other bytes.
    const other = loadPayloadKeyring(path.join(dir, 'other.json'), { createIfMissing: true });
    const forged = { currentKeyId: id!, keys: new Map([[id!, [...other.keys.values()][0]!], [added, rotated.keys.get(added)!]]) };
    await expect(agreeOnKeyring(forged, store.payloadKeys, 'forged.json')).rejects.toThrow(new RegExp(`^payload key ${id} in forged.json is not the key ${id} the other API and worker processes use`));
    // Refusals registered nothing.
    expect((await store.payloadKeys.fingerprints()).size).toBe(2);
    await store.close();
  });

  it('a fingerprint tells keys apart and is not the key', () => {
    const a = Buffer.alloc(32, 1);
    expect(payloadKeyFingerprint(a)).toBe(payloadKeyFingerprint(Buffer.alloc(32, 1)));
    expect(payloadKeyFingerprint(a)).not.toBe(payloadKeyFingerprint(Buffer.alloc(32, 2)));
    expect(payloadKeyFingerprint(a)).not.toContain(a.toString('hex').slice(0, 8));
  });
});
