import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../sqlite-store.ts';

let dir: string;
let store: SqliteStore;
let clock: Date;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'llm-usage-'));
  clock = new Date('2026-11-10T12:00:00Z');
  store = openSqliteStore(path.join(dir, 'tandem.db'), { now: () => clock });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const call = (callKey: string, department: string, totalTokens: number) => ({
  callKey,
  department,
  model: 'm',
  promptTokens: totalTokens - 1,
  completionTokens: 1,
  totalTokens,
});

describe('llm token usage', () => {
  it('sums per department since a time and counts a call key once', async () => {
    await store.llmTokenUsage.record(call('wf-1:1', 'radiology', 100));
    await store.llmTokenUsage.record(call('wf-1:1', 'radiology', 100)); // retried attempt, same call
    await store.llmTokenUsage.record(call('wf-2:1', 'cardiology', 7));
    clock = new Date('2026-12-01T00:00:00Z');
    await store.llmTokenUsage.record(call('wf-3:1', 'radiology', 40));

    expect(await store.llmTokenUsage.spentSince('radiology', new Date('2026-11-01T00:00:00Z'))).toBe(140);
    expect(await store.llmTokenUsage.spentSince('radiology', new Date('2026-12-01T00:00:00Z'))).toBe(40);
    expect(await store.llmTokenUsage.spentSince('cardiology', new Date('2026-11-01T00:00:00Z'))).toBe(7);
    expect(await store.llmTokenUsage.spentSince('oncology', new Date('2026-11-01T00:00:00Z'))).toBe(0);
  });
});
