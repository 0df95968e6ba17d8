/**
 * Web console sessions: the store keeps only a hash of each session id (a stolen database copy
 * does not sign anyone in), the API key the session acts as, and its two clocks (last seen for
 * the idle expiry, `expiresAt` for the absolute one). `csrfSecret` is the session's synchronizer
 * token: every form the console renders carries it and every post must send it back.
 * Used form ids make each rendered form good for one post, so a replayed or double-submitted
 * form is refused instead of acting twice. Pure: types only.
 */

export interface ConsoleSession {
  /** sha256 hex of the session id in the cookie. */
  idHash: string;
  keyId: string;
  csrfSecret: string;
  /** ISO 8601. */
  createdAt: string;
  lastSeenAt: string;
  /** Absolute expiry, ISO 8601. */
  expiresAt: string;
}

export interface ConsoleSessionStore {
  create(session: ConsoleSession): Promise<void>;
  get(idHash: string): Promise<ConsoleSession | undefined>;
  /** Moves `lastSeenAt`; a removed session stays removed. */
  touch(idHash: string, at: string): Promise<void>;
  /** Idempotent; also forgets the session's used form ids. */
  remove(idHash: string): Promise<void>;
  /** Drops every session whose absolute expiry is before `now`, or that was last seen before `idleBefore`. */
  removeExpired(now: string, idleBefore: string): Promise<number>;
  /** Records that a form was posted; false when this session already posted that form. */
  useForm(idHash: string, formId: string): Promise<boolean>;
}
