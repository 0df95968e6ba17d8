import { describe, expect, it } from 'vitest';
import { migrations } from '../migrations.ts';
import { postgresMigrations } from './migrations.ts';

describe('PostgreSQL migrations', () => {
  it('are the SQLite migrations, version for version and name for name', () => {
    // A migration added to one list only would give a schema version two meanings.
    expect(postgresMigrations.map((m) => [m.version, m.name])).toEqual(migrations.map((m) => [m.version, m.name]));
  });
});
