import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../sqlite-store.ts';
import type { NewHandoffRun } from '../handoffs.ts';

const store = () => openSqliteStore(path.join(mkdtempSync(path.join(tmpdir(), 'tandem-handoffs-')), 'store.db'));

const run = (runId: string, tryNumber = 1): NewHandoffRun => ({
  handoffId: 'handoff:d:r:t:-1',
  workflowType: 'smoke.echo',
  department: 'cardiology',
  pipelineId: 'p',
  partition: 'cardiology',
  airflow: { dagId: 'd', runId: 'r', taskId: 't', mapIndex: -1, tryNumber },
  runId,
  sealedInput: '{}',
  startedBy: 'svc',
});

describe('SqliteHandoffs', () => {
  it('closes only the current run, so a late observer of an old run cannot close its successor', async () => {
    const s = store();
    await s.handoffs.recordRun(run('run-1'));
    await s.handoffs.recordRun(run('run-2', 2));
    expect(await s.handoffs.markClosed('handoff:d:r:t:-1', 'run-1', 'failed', 'old')).toBe(false);
    expect(await s.handoffs.listRunning()).toHaveLength(1);
    expect(await s.handoffs.markClosed('handoff:d:r:t:-1', 'run-2', 'succeeded', null)).toBe(true);
    expect(await s.handoffs.get('handoff:d:r:t:-1')).toMatchObject({ status: 'succeeded', runId: 'run-2', airflow: { tryNumber: 2 } });
    expect(await s.handoffs.listRunning()).toEqual([]);
    await s.close();
  });

  it('keeps the first start time and only ever raises the try number', async () => {
    const s = store();
    const first = await s.handoffs.recordRun(run('run-1', 3));
    await s.handoffs.recordTry(first.handoffId, 2);
    expect((await s.handoffs.get(first.handoffId))!.airflow.tryNumber).toBe(3);
    await s.handoffs.recordTry(first.handoffId, 4);
    expect((await s.handoffs.get(first.handoffId))!.airflow.tryNumber).toBe(4);
    const again = await s.handoffs.recordRun(run('run-2', 5));
    expect(again.createdAt).toBe(first.createdAt);
    await s.close();
  });
});
