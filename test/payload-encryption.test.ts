// Payload encryption end to end: a workflow started through the API with a canary string in its
// input completes, the API returns the decrypted result, and the canary is nowhere in the Temporal
// dev server's SQLite files — inputs, activity arguments, results and memos are all ciphertext.
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { statePaths } from '../shared/config.ts';
import { api, eventually } from './support/api-client.ts';

const stack = inject('stack');

function temporalDbBytes(): Buffer {
  const db = statePaths(stack.stateDir).temporalDb;
  const files = [db, `${db}-wal`].filter((f) => existsSync(f));
  expect(files).toContain(db);
  return Buffer.concat(files.map((f) => readFileSync(f)));
}

describe('payload encryption', () => {
  it('stores a workflow input only as ciphertext, while the API returns it decrypted', async () => {
    const canary = `CANARY-patient-${randomBytes(6).toString('hex')}`;
    const started = await api<any>(stack.apiUrl, 'POST', '/v1/workflows', {
      key: stack.adminKey,
      body: { type: 'smoke.echo', input: { message: `MRN 42 ${canary}` } },
    });
    expect(started.status).toBe(201);
    const { workflowId } = started.body;

    const done = await eventually(
      async () => {
        const res = await api<any>(stack.apiUrl, 'GET', `/v1/workflows/${encodeURIComponent(workflowId)}`, { key: stack.adminKey });
        return res.body.status === 'running' ? undefined : res.body;
      },
      60_000,
      'the echo workflow to finish',
    );
    expect(done.status).toBe('completed');
    expect(done.result.message).toBe(`MRN 42 ${canary}`);
    // The memo went through the codec too and still reads back.
    expect(done).toMatchObject({ type: 'smoke.echo', department: '*' });

    const bytes = temporalDbBytes();
    // The workflow is in the database (its id is not secret), so the search below looks at the right file.
    expect(bytes.includes(Buffer.from(workflowId))).toBe(true);
    expect(bytes.includes(Buffer.from(canary))).toBe(false);
    expect(bytes.includes(Buffer.from('CANARY-patient'))).toBe(false);
  });
});
