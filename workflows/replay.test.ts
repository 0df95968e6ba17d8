/**
 * Determinism guard: replays every recorded history under workflows/histories/<family>/*.json
 * against the current workflow bundle. A change that would break executions already in flight
 * (reordered activities, a removed timer, a renamed signal) fails here. Record new histories
 * with `node services/worker/record-history.ts <workflowId>`; when a change is intentionally
 * incompatible, gate it with `patched()` rather than re-recording.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { prebuildWorkflowBundle } from '../services/worker/bundle.ts';
import { historyFromJsonValue } from '../services/worker/history-json.ts';
import { historiesDir } from '../services/worker/record-history.ts';
import { installQuietRuntime } from '../test/support/temporal-test-env.ts';

interface RecordedHistory {
  family: string;
  file: string;
  workflowId: string;
}

function recordedHistories(): RecordedHistory[] {
  return readdirSync(historiesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(path.join(historiesDir, d.name))
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => ({ family: d.name, file: path.join(historiesDir, d.name, f), workflowId: f.replace(/\.json$/, '') })),
    );
}

const histories = recordedHistories();

describe('recorded workflow histories replay against the current code', () => {
  it('has at least one recorded history', () => {
    expect(histories.length).toBeGreaterThan(0);
  });

  it('replays every history without a determinism error', async () => {
    installQuietRuntime();
    const { codePath } = await prebuildWorkflowBundle();
    const failures: string[] = [];
    const results = Worker.runReplayHistories(
      { workflowBundle: { codePath } },
      histories.map((h) => ({ workflowId: h.workflowId, history: historyFromJsonValue(JSON.parse(readFileSync(h.file, 'utf8'))) })),
    );
    let replayed = 0;
    for await (const result of results) {
      replayed += 1;
      if (result.error) {
        const where = histories.find((h) => h.workflowId === result.workflowId);
        failures.push(`${where ? path.relative(historiesDir, where.file) : result.workflowId}: ${result.error.message}`);
      }
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(histories.length);
  });
});
