/**
 * Schema migrations of the SQLite store, in order. Append only: a released migration is never
 * edited or removed, because databases in the field have already run it (the runner checks that
 * the names of applied versions still match, to catch exactly that mistake).
 */
export interface Migration {
  /** 1, 2, 3, … without gaps. */
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'api_keys',
    // Roles are validated in code rather than with a CHECK constraint: adding a role later would
    // otherwise need a table rebuild in SQLite.
    sql: `
      CREATE TABLE api_keys (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        key_hash    TEXT NOT NULL UNIQUE,
        role        TEXT NOT NULL,
        department  TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        revoked_at  TEXT
      ) STRICT;
    `,
  },
];
