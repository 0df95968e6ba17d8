import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker as Thread } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { AesGcmPayloadCodec, PayloadDecryptionError, decryptPayloadsDeep, encryptedEncoding, keyIdMetadataKey, loadConfiguredKeyring, openJson, sealJson } from './payload-codec.ts';
import { PayloadKeyError, loadPayloadKeyring, rotatePayloadKey } from './payload-keys.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'payload-codec-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const text = (p: Payload, key: string) => new TextDecoder().decode(p.metadata![key]);
const canary = 'patient Jane Canary-4711, MRN 998877';

function freshCodec(file = path.join(dir, 'keys.json')) {
  return new AesGcmPayloadCodec(loadPayloadKeyring(file, { createIfMissing: true }));
}

describe('AesGcmPayloadCodec', () => {
  it('round-trips payloads, hiding data and the original metadata', async () => {
    const codec = freshCodec();
    const original = [defaultPayloadConverter.toPayload({ note: canary }), defaultPayloadConverter.toPayload(null)];
    const encoded = await codec.encode(original);
    expect(encoded).toHaveLength(2);
    for (const p of encoded) {
      expect(text(p, 'encoding')).toBe(encryptedEncoding);
      expect(text(p, keyIdMetadataKey)).toMatch(/^k\d{8}T\d{6}Z-[0-9a-f]{6}$/);
      expect(Buffer.from(p.data!).toString('latin1')).not.toContain('Canary');
      expect(Object.keys(p.metadata!)).toEqual(['encoding', keyIdMetadataKey]);
    }
    // A fresh IV each time: the same input never encrypts to the same bytes.
    const again = await codec.encode([original[0]!]);
    expect(Buffer.from(again[0]!.data!).equals(Buffer.from(encoded[0]!.data!))).toBe(false);

    const decoded = await codec.decode(encoded);
    expect(defaultPayloadConverter.fromPayload(decoded[0]!)).toEqual({ note: canary });
    expect(defaultPayloadConverter.fromPayload(decoded[1]!)).toBeNull();
    expect(text(decoded[0]!, 'encoding')).toBe('json/plain');
  });

  it('passes unencrypted payloads through on decode (histories from before encryption)', async () => {
    const plain = defaultPayloadConverter.toPayload('old');
    expect(await freshCodec().decode([plain])).toEqual([plain]);
  });

  it('after rotation encrypts with the new key and still decrypts the old one', async () => {
    const file = path.join(dir, 'keys.json');
    const before = freshCodec(file);
    const oldPayload = (await before.encode([defaultPayloadConverter.toPayload('written before rotation')]))[0]!;
    const oldKeyId = text(oldPayload, keyIdMetadataKey);

    const newKeyId = rotatePayloadKey(file);
    expect(newKeyId).not.toBe(oldKeyId);
    const after = new AesGcmPayloadCodec(loadPayloadKeyring(file, { createIfMissing: false }));
    const newPayload = (await after.encode([defaultPayloadConverter.toPayload('after')]))[0]!;
    expect(text(newPayload, keyIdMetadataKey)).toBe(newKeyId);
    expect(defaultPayloadConverter.fromPayload((await after.decode([oldPayload]))[0]!)).toBe('written before rotation');
    // A process still on the old keyring cannot read the new key: it must say which key is missing.
    await expect(before.decode([newPayload])).rejects.toThrow(new RegExp(`encrypted with key "${newKeyId}", which is not in this keyring`));
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('rejects a tampered ciphertext, a swapped key id and a truncated payload', async () => {
    const file = path.join(dir, 'keys.json');
    const codec = freshCodec(file);
    const [good] = await codec.encode([defaultPayloadConverter.toPayload(canary)]);
    const flipped = new Uint8Array(good!.data!);
    flipped[20]! ^= 0x01;
    await expect(codec.decode([{ ...good!, data: flipped }])).rejects.toThrow(PayloadDecryptionError);
    await expect(codec.decode([{ ...good!, data: flipped }])).rejects.toThrow(/failed authentication/);

    // Same key bytes under another id: the id is authenticated data, so this must fail too.
    const keyring = JSON.parse(readFileSync(file, 'utf8'));
    keyring.keys.push({ ...keyring.keys[0], id: 'other' });
    writeFileSync(file, JSON.stringify(keyring));
    const twoIds = new AesGcmPayloadCodec(loadPayloadKeyring(file, { createIfMissing: false }));
    const swapped = { ...good!, metadata: { ...good!.metadata, [keyIdMetadataKey]: new TextEncoder().encode('other') } };
    await expect(twoIds.decode([swapped])).rejects.toThrow(/failed authentication/);
    await expect(codec.decode([{ ...good!, data: good!.data!.subarray(0, 10) }])).rejects.toThrow(/truncated/);
  });
});

describe('payload keyring file', () => {
  it('creates the state-dir keyring once, 0600, and reuses it', () => {
    const config = { stateDir: dir, payload: {} };
    const first = loadConfiguredKeyring(config);
    const second = loadConfiguredKeyring(config);
    const file = path.join(dir, 'payload-keys.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(second.currentKeyId).toBe(first.currentKeyId);
    expect(second.keys.get(first.currentKeyId)!.equals(first.keys.get(first.currentKeyId)!)).toBe(true);
  });

  it('never generates a configured (production) key file', () => {
    const keysFile = path.join(dir, 'prod-keys.json');
    expect(() => loadConfiguredKeyring({ stateDir: dir, payload: { keysFile } })).toThrow(PayloadKeyError);
    expect(() => loadConfiguredKeyring({ stateDir: dir, payload: { keysFile } })).toThrow(/does not exist/);
  });

  it('names the problem in an invalid file', () => {
    const file = path.join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify({ currentKeyId: 'x', keys: [{ id: 'y', key: Buffer.alloc(32).toString('base64'), createdAt: new Date().toISOString() }] }));
    expect(() => loadPayloadKeyring(file, { createIfMissing: false })).toThrow(/currentKeyId: currentKeyId must name one of keys/);
    writeFileSync(file, JSON.stringify({ currentKeyId: 'y', keys: [{ id: 'y', key: Buffer.alloc(16).toString('base64'), createdAt: new Date().toISOString() }] }));
    expect(() => loadPayloadKeyring(file, { createIfMissing: false })).toThrow(/16 bytes; AES-256 needs 32/);
  });

  it('lets exactly one of several racing processes create the keyring; all end up with the same key', async () => {
    const file = path.join(dir, 'race', 'payload-keys.json');
    const moduleUrl = new URL('./payload-keys.ts', import.meta.url).href;
    const racers = Array.from({ length: 8 }, () =>
      new Promise<string>((resolve, reject) => {
        const thread = new Thread(
          `import { workerData, parentPort } from 'node:worker_threads';
           const { loadPayloadKeyring } = await import(workerData.moduleUrl);
           const ring = loadPayloadKeyring(workerData.file, { createIfMissing: true });
           parentPort.postMessage(ring.currentKeyId + ':' + ring.keys.get(ring.currentKeyId).toString('hex'));`,
          { eval: true, workerData: { file, moduleUrl } },
        );
        thread.once('message', resolve);
        thread.once('error', reject);
      }),
    );
    const seen = new Set(await Promise.all(racers));
    expect(seen.size).toBe(1);
  });
});

describe('decryptPayloadsDeep', () => {
  it('decrypts payloads nested anywhere and leaves plain ones and other bytes alone', async () => {
    const codec = freshCodec();
    const [secret] = await codec.encode([defaultPayloadConverter.toPayload({ note: canary })]);
    const plain = defaultPayloadConverter.toPayload('plain');
    const raw = new Uint8Array([1, 2, 3]);
    const history = { events: [{ input: { payloads: [secret, plain] } }, { failure: { encodedAttributes: secret, raw } }] };
    await decryptPayloadsDeep(history, codec);
    expect(defaultPayloadConverter.fromPayload(history.events[0]!.input!.payloads[0]!)).toEqual({ note: canary });
    expect(history.events[0]!.input!.payloads[1]).toBe(plain);
    expect(defaultPayloadConverter.fromPayload(history.events[1]!.failure!.encodedAttributes!)).toEqual({ note: canary });
    expect(history.events[1]!.failure!.raw).toBe(raw);
  });
});

describe('sealJson / openJson', () => {
  it('keeps a JSON value unreadable at rest and opens it with the same keyring only', async () => {
    const codec = freshCodec();
    const sealed = await sealJson({ note: canary, n: 1 }, codec);
    expect(Buffer.from(sealed, 'base64').toString('latin1')).not.toContain('Canary');
    expect(await openJson(sealed, codec)).toEqual({ note: canary, n: 1 });
    await expect(openJson(sealed, freshCodec(path.join(dir, 'other-keys.json')))).rejects.toThrow(PayloadDecryptionError);
  });
});
