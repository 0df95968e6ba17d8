import { createHash } from 'node:crypto';

/**
 * How API keys are stored: a plain sha256. A slow password hash (scrypt, argon2) would buy nothing
 * here, because keys are 192 random bits (see `newApiKey`), not guessable passwords — and a fast,
 * deterministic hash is what lets the store look a key up by an index instead of trying every row.
 */
export function hashApiKey(plaintext: string): string {
  return createHash('sha256').update(plaintext, 'utf8').digest('hex');
}
