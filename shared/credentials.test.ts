import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureCredentials, generateCredentials, readCredentials } from './credentials.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('ensureCredentials', () => {
  it("gives tandem an Airflow user of its own, apart from the human admin's", () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tandem-credentials-'));
    const { credentials, created } = ensureCredentials(path.join(dir, 'credentials.json'));
    expect(created).toBe(true);
    expect(credentials.airflow.tandemUser).toBe('tandem');
    expect(credentials.airflow.tandemUser).not.toBe(credentials.airflow.adminUser);
    expect(credentials.airflow.tandemPassword).not.toBe(credentials.airflow.adminPassword);
  });

  it('adds that user to a file written before it existed, keeping every other credential', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tandem-credentials-'));
    const file = path.join(dir, 'credentials.json');
    const old = generateCredentials();
    const { tandemUser: _user, tandemPassword: _password, ...oldAirflow } = old.airflow;
    writeFileSync(file, JSON.stringify({ ...old, airflow: oldAirflow }), { mode: 0o600 });
    expect(() => readCredentials(file)).toThrow(/corrupt/);

    const { credentials, created } = ensureCredentials(file);

    expect(created).toBe(false);
    expect({ ...credentials, airflow: { ...credentials.airflow, tandemPassword: 'x' } }).toEqual({ ...old, airflow: { ...old.airflow, tandemPassword: 'x' } });
    expect(credentials.airflow.tandemPassword).not.toBe(old.airflow.tandemPassword);
    expect(readCredentials(file)).toEqual(credentials);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // A second start changes nothing.
    const before = readFileSync(file, 'utf8');
    ensureCredentials(file);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });
});
