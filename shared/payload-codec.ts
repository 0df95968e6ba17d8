/**
 * Encryption of everything tandem hands to Temporal: workflow inputs and results, activity
 * arguments and results, signal/update/query payloads, memos and — with the failure converter in
 * workflows/failure-converter.ts — failure messages and stack traces. These may carry patient
 * data, and Temporal stores them in its own database; with this codec it only ever sees
 * ciphertext.
 *
 * Each payload is AES-256-GCM encrypted as a whole (its metadata too, so even the original
 * encoding is hidden) with a fresh 96-bit IV. The key id travels in the clear in the
 * `encryption-key-id` metadata and is bound to the ciphertext as additional authenticated data,
 * so swapping the id or any byte of the ciphertext fails authentication instead of decrypting to
 * garbage. Decryption picks the key by id, which is what makes rotation work.
 *
 * The client (API) and the worker must use the same keyring: `tandemDataConverter(config)`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import path from 'node:path';
import { repoRoot, statePaths, type TandemConfig } from './config.ts';
import { agreeOnKeyring, loadPayloadKeyring, type PayloadKeyring } from './payload-keys.ts';
import type { Store } from './store/store.ts';

export const encryptedEncoding = 'binary/encrypted';
export const keyIdMetadataKey = 'encryption-key-id';

const ivBytes = 12;
const tagBytes = 16;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export class PayloadDecryptionError extends Error {
  override name = 'PayloadDecryptionError';
}

/** The plaintext of one encrypted payload: the original payload, metadata included. */
interface SealedPayload {
  m: Record<string, string>;
  d: string;
}

function seal(payload: Payload): Buffer {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload.metadata ?? {})) metadata[k] = Buffer.from(v).toString('base64');
  const sealed: SealedPayload = { m: metadata, d: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') };
  return Buffer.from(JSON.stringify(sealed), 'utf8');
}

function unseal(bytes: Buffer): Payload {
  const sealed = JSON.parse(bytes.toString('utf8')) as SealedPayload;
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(sealed.m)) metadata[k] = new Uint8Array(Buffer.from(v, 'base64'));
  return { metadata, data: new Uint8Array(Buffer.from(sealed.d, 'base64')) };
}

export class AesGcmPayloadCodec implements PayloadCodec {
  readonly #keyring: PayloadKeyring;

  constructor(keyring: PayloadKeyring) {
    if (!keyring.keys.has(keyring.currentKeyId)) throw new Error(`current payload key ${keyring.currentKeyId} is not in the keyring`);
    this.#keyring = keyring;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.#keyring.currentKeyId;
    const key = this.#keyring.keys.get(keyId)!;
    return payloads.map((payload) => {
      const iv = randomBytes(ivBytes);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(utf8.encode(keyId));
      const ciphertext = Buffer.concat([cipher.update(seal(payload)), cipher.final()]);
      return {
        metadata: { encoding: utf8.encode(encryptedEncoding), [keyIdMetadataKey]: utf8.encode(keyId) },
        data: new Uint8Array(Buffer.concat([iv, ciphertext, cipher.getAuthTag()])),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.encoding;
      // Payloads written before encryption was switched on (and recorded test histories) pass through.
      if (!encoding || fromUtf8.decode(encoding) !== encryptedEncoding) return payload;
      const rawKeyId = payload.metadata?.[keyIdMetadataKey];
      if (!rawKeyId) throw new PayloadDecryptionError(`encrypted payload has no ${keyIdMetadataKey} metadata`);
      const keyId = fromUtf8.decode(rawKeyId);
      const key = this.#keyring.keys.get(keyId);
      if (!key) {
        throw new PayloadDecryptionError(
          `payload was encrypted with key "${keyId}", which is not in this keyring (known: ${[...this.#keyring.keys.keys()].join(', ')}); ` +
            'add that key to the payload key file',
        );
      }
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < ivBytes + tagBytes) throw new PayloadDecryptionError(`encrypted payload is truncated (${data.length} bytes)`);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, ivBytes));
      decipher.setAAD(utf8.encode(keyId));
      decipher.setAuthTag(data.subarray(data.length - tagBytes));
      let plaintext: Buffer;
      try {
        plaintext = Buffer.concat([decipher.update(data.subarray(ivBytes, data.length - tagBytes)), decipher.final()]);
      } catch {
        throw new PayloadDecryptionError(`encrypted payload (key "${keyId}") failed authentication: it was altered or the key is wrong`);
      }
      return unseal(plaintext);
    });
  }
}

/**
 * The failure converter module (workflows/failure-converter.ts): loaded by path, because the
 * worker's workflow sandbox can only take it that way; the client and the bundle use the same path.
 */
export const failureConverterPath = path.join(repoRoot, 'workflows', 'failure-converter.ts');

/** The keyring file this process uses: the configured one, or the state dir's. */
export function configuredKeyringFile(config: Pick<TandemConfig, 'stateDir' | 'payload'>): string {
  const configured = config.payload.keysFile;
  return configured ? path.resolve(configured) : statePaths(config.stateDir).payloadKeys;
}

/** The keyring this process uses: the configured file, or the state dir's (created on first use). */
export function loadConfiguredKeyring(config: Pick<TandemConfig, 'stateDir' | 'payload'>): PayloadKeyring {
  return loadPayloadKeyring(configuredKeyringFile(config), { createIfMissing: config.payload.keysFile === undefined });
}

export function payloadCodecFor(config: Pick<TandemConfig, 'stateDir' | 'payload'>): AesGcmPayloadCodec {
  return new AesGcmPayloadCodec(loadConfiguredKeyring(config));
}

/**
 * The codec of an API or worker process: its keyring, checked against the keys the deployment's
 * other processes registered in `store` (`agreeOnKeyring`) before anything else is written.
 */
export async function agreedPayloadCodec(config: Pick<TandemConfig, 'stateDir' | 'payload'>, store: Pick<Store, 'payloadKeys'>): Promise<AesGcmPayloadCodec> {
  const keyring = loadConfiguredKeyring(config);
  await agreeOnKeyring(keyring, store.payloadKeys, configuredKeyringFile(config));
  return new AesGcmPayloadCodec(keyring);
}

/**
 * The client's data converter (API, CLI, tests talking to the stack). The worker uses the same
 * codec plus `failureConverterPath` (the workflow sandbox needs the converter as a module; see
 * services/worker/bundle.ts).
 */
export function clientDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath };
}

function isPayloadLike(value: object): value is Payload & { metadata: Record<string, Uint8Array> } {
  const encoding = (value as Payload).metadata?.encoding;
  return encoding instanceof Uint8Array;
}

/**
 * Decrypts every encrypted payload anywhere inside `value` (a fetched History, say), in place.
 * The replay tests read recorded histories without keys, so histories recorded from a stack are
 * stored decrypted (services/worker/record-history.ts) — they hold test data only.
 */
export async function decryptPayloadsDeep<T>(value: T, codec: PayloadCodec): Promise<T> {
  const visit = async (node: unknown): Promise<void> => {
    if (!node || typeof node !== 'object' || node instanceof Uint8Array) return;
    for (const [key, child] of Object.entries(node)) {
      if (child && typeof child === 'object' && !(child instanceof Uint8Array) && isPayloadLike(child)) {
        if (fromUtf8.decode(child.metadata.encoding) === encryptedEncoding) {
          (node as Record<string, unknown>)[key] = (await codec.decode([child]))[0];
        }
        continue;
      }
      await visit(child);
    }
  };
  await visit(value);
  return value;
}

/**
 * A JSON value encrypted exactly like a workflow payload, as one string for a database column:
 * what tandem keeps outside Temporal (a hand-off's input) gets the same protection as inside.
 */
export async function sealJson(value: unknown, codec: PayloadCodec): Promise<string> {
  const [encoded] = await codec.encode([{ metadata: { encoding: utf8.encode('json/plain') }, data: utf8.encode(JSON.stringify(value)) }]);
  return seal(encoded!).toString('base64');
}

/** The value `sealJson` sealed; throws `PayloadDecryptionError` when the key is not in the keyring. */
export async function openJson(sealed: string, codec: PayloadCodec): Promise<unknown> {
  const [decoded] = await codec.decode([unseal(Buffer.from(sealed, 'base64'))]);
  return JSON.parse(fromUtf8.decode(decoded!.data ?? new Uint8Array())) as unknown;
}
