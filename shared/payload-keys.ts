/**
 * The payload keyring: AES-256 keys that encrypt workflow inputs, results and failure messages
 * before they reach Temporal (see payload-codec.ts). One key is current (new payloads use it);
 * older keys stay so that payloads written before a rotation still decrypt.
 *
 * File: `<stateDir>/payload-keys.json` (mode 0600) unless `payload.keysFile` /
 * `TANDEM_PAYLOAD_KEYS_FILE` names another one. The default file is created on first use by
 * whichever process gets there first (API and worker start together), so creation is exclusive:
 * the keyring is written to a private temp file and hard-linked into place, which fails with
 * EEXIST for every process but one; the losers read the winner's file. A configured file is never
 * generated: in production a missing key file is a deployment error, not a reason for a new key.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { PayloadKeyRegistry } from './store/payload-key-registry.ts';

const keyBytes = 32;

const keyringFileSchema = z
  .object({
    currentKeyId: z.string().min(1),
    keys: z
      .array(
        z.object({
          id: z.string().min(1).regex(/^[\w.-]+$/, 'key ids are letters, digits, ".", "_" and "-"'),
          /** base64 of 32 random bytes. */
          key: z.base64(),
          createdAt: z.iso.datetime(),
        }),
      )
      .min(1),
  })
  .refine((f) => f.keys.some((k) => k.id === f.currentKeyId), { message: 'currentKeyId must name one of keys[].id', path: ['currentKeyId'] })
  .refine((f) => new Set(f.keys.map((k) => k.id)).size === f.keys.length, { message: 'key ids must be unique', path: ['keys'] });
export type PayloadKeyringFile = z.infer<typeof keyringFileSchema>;

export interface PayloadKeyring {
  currentKeyId: string;
  /** key id → 32-byte AES key. */
  keys: ReadonlyMap<string, Buffer>;
}

export class PayloadKeyError extends Error {
  override name = 'PayloadKeyError';
}

function newKeyId(now: Date): string {
  return `k${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

function newKey(now: Date): PayloadKeyringFile['keys'][number] {
  return { id: newKeyId(now), key: randomBytes(keyBytes).toString('base64'), createdAt: now.toISOString() };
}

function parseKeyringFile(file: string, text: string): PayloadKeyring {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PayloadKeyError(`payload key file ${file} is not valid JSON (${(err as Error).message})`);
  }
  const parsed = keyringFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'file'}: ${i.message}`).join('; ');
    throw new PayloadKeyError(`payload key file ${file} is invalid: ${problems}`);
  }
  const keys = new Map<string, Buffer>();
  for (const k of parsed.data.keys) {
    const bytes = Buffer.from(k.key, 'base64');
    if (bytes.length !== keyBytes) throw new PayloadKeyError(`payload key ${k.id} in ${file} is ${bytes.length} bytes; AES-256 needs ${keyBytes}`);
    keys.set(k.id, bytes);
  }
  return { currentKeyId: parsed.data.currentKeyId, keys };
}

/** Writes `contents` to `file` only if it does not exist yet; true when this call created it. */
function createExclusively(file: string, contents: string): boolean {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, contents, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

export interface LoadPayloadKeyringOptions {
  /** Create the file with one fresh key when it is missing (only for the state-dir default). */
  createIfMissing: boolean;
  now?: () => Date;
}

export function loadPayloadKeyring(file: string, { createIfMissing, now = () => new Date() }: LoadPayloadKeyringOptions): PayloadKeyring {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!createIfMissing) {
      throw new PayloadKeyError(`payload key file ${file} does not exist; create it (see README, "Payload encryption") or unset TANDEM_PAYLOAD_KEYS_FILE`);
    }
    const key = newKey(now());
    createExclusively(file, `${JSON.stringify({ currentKeyId: key.id, keys: [key] } satisfies PayloadKeyringFile, null, 2)}\n`);
    text = readFileSync(file, 'utf8');
  }
  return parseKeyringFile(file, text);
}

/**
 * Adds a fresh key and makes it current; old keys stay for decryption. Processes pick the new key
 * up on their next start (a process keeps the keyring it loaded, and any process can still
 * decrypt what another wrote with the previous key). Returns the new key id.
 */
export function rotatePayloadKey(file: string, now: () => Date = () => new Date()): string {
  const current = parseKeyringFile(file, readFileSync(file, 'utf8'));
  const raw = JSON.parse(readFileSync(file, 'utf8')) as PayloadKeyringFile;
  const key = newKey(now());
  if (current.keys.has(key.id)) throw new PayloadKeyError(`key id ${key.id} already exists; try again`);
  const next: PayloadKeyringFile = { currentKeyId: key.id, keys: [...raw.keys, key] };
  const tmp = `${file}.${process.pid}.rotate.tmp`;
  writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return key.id;
}

/** A key's fingerprint: an HMAC made with the key, which tells keys apart without revealing one. */
export function payloadKeyFingerprint(key: Buffer): string {
  return createHmac('sha256', key).update('tandem payload key fingerprint v1').digest('hex').slice(0, 32);
}

/**
 * At start, before anything is written: this process's keyring must agree with the keys the
 * other processes of the deployment registered in the store — the same fingerprint for every key
 * id both know, and every registered key present (another replica may encrypt with it). Then
 * the keys the store does not know yet (a first start, a rotation) are registered.
 * `file` names the keyring in the errors, which say what to fix.
 */
export async function agreeOnKeyring(keyring: PayloadKeyring, registry: PayloadKeyRegistry, file: string): Promise<void> {
  const registered = await registry.fingerprints();
  const own = [...keyring.keys].map(([keyId, key]) => ({ keyId, fingerprint: payloadKeyFingerprint(key) }));
  for (const { keyId, fingerprint } of own) {
    const theirs = registered.get(keyId);
    if (theirs !== undefined && theirs !== fingerprint) {
      throw new PayloadKeyError(
        `payload key ${keyId} in ${file} is not the key ${keyId} the other API and worker processes use (fingerprint ${fingerprint.slice(0, 8)}… here, ${theirs.slice(0, 8)}… in the store): give every replica the same keyring (TANDEM_PAYLOAD_KEYS_FILE)`,
      );
    }
  }
  const missing = [...registered.keys()].filter((id) => !keyring.keys.has(id));
  if (missing.length > 0) {
    throw new PayloadKeyError(
      `payload key${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, registered by another API or worker process, ${missing.length > 1 ? 'are' : 'is'} missing from ${file}, so this process could not read what they encrypt: give every replica the same keyring (TANDEM_PAYLOAD_KEYS_FILE), old keys included`,
    );
  }
  await registry.register(own.filter((k) => !registered.has(k.keyId)));
}

