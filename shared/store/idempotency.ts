/**
 * Idempotency-Key records: a POST that starts or changes work, sent again with the same key by the
 * same API key, gets the original response back instead of doing the work twice. The record is
 * claimed before the work starts (so a concurrent retry learns the first one is still in flight)
 * and completed with the response. Pure: types only.
 */

/** What a request with an Idempotency-Key finds when it claims it. */
export type IdempotencyClaim =
  /** Nobody used the key (or its record expired): this request does the work. */
  | { kind: 'claimed' }
  /** The first request with this key has not finished yet. */
  | { kind: 'in-flight' }
  /** The key was used for a different request (another route or another body). */
  | { kind: 'mismatch' }
  /** The key was used for this very request: its response, to send again. */
  | { kind: 'replay'; status: number; contentType: string | null; body: string };

export interface IdempotencyClaimRequest {
  /** The API key's id: an Idempotency-Key is scoped to the key that sent it. */
  keyId: string;
  idempotencyKey: string;
  /** sha256 of method, route, params and body: what makes two requests "the same". */
  fingerprint: string;
  /** How long a completed response is kept. */
  ttlMs: number;
  /** A claim older than this with no response is taken as abandoned (its API process died). */
  inFlightTimeoutMs: number;
}

export interface IdempotencyStore {
  claim(request: IdempotencyClaimRequest): Promise<IdempotencyClaim>;
  /** Stores the response of a claimed request, to be replayed. */
  complete(keyId: string, idempotencyKey: string, response: { status: number; contentType: string | null; body: string }): Promise<void>;
  /** Forgets a claim whose request failed in a way a retry may fix (a 5xx): the retry does the work. */
  release(keyId: string, idempotencyKey: string): Promise<void>;
  /** Deletes expired records; returns how many. */
  purgeExpired(): Promise<number>;
}
