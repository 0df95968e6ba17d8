/**
 * Console sign-in and sessions. A reviewer signs in once with an API key; the console then acts
 * as that key on every request (identity always from the session's key, never from a form). The
 * cookie holds a random session id; the store holds its sha256, the key id, the CSRF secret and
 * two clocks: idle expiry (last seen) and absolute expiry (from sign-in). Every request re-reads
 * the key, so revoking it ends its sessions at once.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../../../shared/contracts/principal.ts';
import { hashApiKey } from '../../../shared/store/api-key-hash.ts';
import type { ConsoleSession } from '../../../shared/store/console-sessions.ts';
import type { Store } from '../../../shared/store/store.ts';

export interface ConsoleSessionSettings {
  idleMinutes: number;
  maxHours: number;
}

export type SessionLookup =
  | { ok: true; session: ConsoleSession; principal: Principal }
  | { ok: false; reason: 'none' | 'expired' | 'revoked'; principal?: Principal };

const minuteMs = 60_000;

export function sessionIdHash(sessionId: string): string {
  return createHash('sha256').update(sessionId, 'utf8').digest('hex');
}

/** A random token, URL- and form-safe. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison, so a CSRF token cannot be guessed byte by byte from timings. */
export function sameToken(expected: string, presented: unknown): boolean {
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(presented, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export class ConsoleSessions {
  readonly #store: Store;
  readonly #settings: ConsoleSessionSettings;
  readonly #now: () => Date;

  constructor(store: Store, settings: ConsoleSessionSettings, now: () => Date = () => new Date()) {
    this.#store = store;
    this.#settings = settings;
    this.#now = now;
  }

  /** Starts a session for a valid, unrevoked key; undefined otherwise (the page says which it was not). */
  async signIn(apiKey: string): Promise<{ sessionId: string; principal: Principal } | undefined> {
    const record = await this.#store.findApiKeyByHash(hashApiKey(apiKey.trim()));
    if (!record || record.revokedAt) return undefined;
    const now = this.#now();
    const sessionId = newToken();
    await this.#store.consoleSessions.create({
      idHash: sessionIdHash(sessionId),
      keyId: record.id,
      csrfSecret: newToken(),
      createdAt: now.toISOString(),
      lastSeenAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.#settings.maxHours * 60 * minuteMs).toISOString(),
    });
    // Sign-in is a moment to drop the sessions that ran out, keeping the table small without a timer.
    await this.#store.consoleSessions.removeExpired(now.toISOString(), this.#idleBefore(now));
    return { sessionId, principal: { keyId: record.id, name: record.name, role: record.role, department: record.department } };
  }

  /** The live session of a cookie value, touching its idle clock; an expired one is removed. */
  async lookup(sessionId: string | undefined): Promise<SessionLookup> {
    if (!sessionId) return { ok: false, reason: 'none' };
    const idHash = sessionIdHash(sessionId);
    const session = await this.#store.consoleSessions.get(idHash);
    if (!session) return { ok: false, reason: 'none' };
    const record = await this.#store.getApiKey(session.keyId);
    const principal: Principal | undefined = record
      ? { keyId: record.id, name: record.name, role: record.role, department: record.department }
      : undefined;
    const now = this.#now();
    if (!record || record.revokedAt) {
      await this.#store.consoleSessions.remove(idHash);
      return { ok: false, reason: 'revoked', ...(principal ? { principal } : {}) };
    }
    if (session.expiresAt <= now.toISOString() || session.lastSeenAt < this.#idleBefore(now)) {
      await this.#store.consoleSessions.remove(idHash);
      return { ok: false, reason: 'expired', principal: principal! };
    }
    await this.#store.consoleSessions.touch(idHash, now.toISOString());
    return { ok: true, session: { ...session, lastSeenAt: now.toISOString() }, principal: principal! };
  }

  async signOut(session: ConsoleSession): Promise<void> {
    await this.#store.consoleSessions.remove(session.idHash);
  }

  /** False when this session already posted the form: a replay or a double submit. */
  async useForm(session: ConsoleSession, formId: string): Promise<boolean> {
    return this.#store.consoleSessions.useForm(session.idHash, formId);
  }

  #idleBefore(now: Date): string {
    return new Date(now.getTime() - this.#settings.idleMinutes * minuteMs).toISOString();
  }
}
