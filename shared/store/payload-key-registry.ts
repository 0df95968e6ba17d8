/**
 * Which payload keys the deployment's processes encrypt with, by fingerprint: every API and worker
 * registers the keys of its keyring when it starts, and refuses to start when a key id it has is
 * registered with another fingerprint, or the store knows a key it lacks (shared/payload-keys.ts,
 * `agreeOnKeyring`). A replica given a different keyring would otherwise write payloads the
 * others cannot read. A fingerprint is an HMAC made with the key, so it does not reveal the key.
 * Pure: types only (implementations: sqlite/ and postgres/payload-key-registry.ts).
 */

export interface PayloadKeyFingerprint {
  keyId: string;
  fingerprint: string;
}

export interface PayloadKeyRegistry {
  /** key id → fingerprint, of every key any process has registered. */
  fingerprints(): Promise<Map<string, string>>;
  /** Adds the keys not registered yet; a registered id keeps its first fingerprint. */
  register(keys: readonly PayloadKeyFingerprint[]): Promise<void>;
}
