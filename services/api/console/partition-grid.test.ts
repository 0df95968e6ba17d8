import { describe, expect, it } from 'vitest';
import type { PipelineRunView } from '../../../shared/contracts/pipelines.ts';
import { partitionGrid } from './partition-grid.ts';

const run = (runId: string, partitions: PipelineRunView['partitions']): PipelineRunView => ({
  runId,
  state: 'running',
  runType: 'manual',
  logicalDate: null,
  runAfter: '2026-12-01T06:00:00Z',
  startDate: '2026-12-01T06:00:01Z',
  endDate: null,
  conf: null,
  partitions,
});

describe('partition grid', () => {
  it('marks a deferred hand-off stage as waiting, links the task in Airflow and the workflow in Temporal', () => {
    const runs = [
      run('r1', [
        { partition: 'cardiology', state: 'running', tasks: { check_sources: 'success', draft: 'success', physician_review: 'deferred' } },
        { partition: 'oncology', state: 'skipped', tasks: { check_sources: 'skipped', physician_review: 'skipped' } },
      ]),
      run('r2', [{ partition: 'cardiology', state: 'failed', tasks: { check_sources: 'success', draft: 'failed', physician_review: 'upstream_failed' } }]),
    ];
    const grid = partitionGrid('tandem__ds', runs, ['cardiology', 'oncology'], ['physician_review'], {
      airflowUiUrl: 'http://af',
      temporalUi: { url: 'http://tui', namespace: 'default' },
    });
    expect(grid.map((r) => r.partition)).toEqual(['cardiology', 'oncology']);
    const [waiting, failed] = grid[0]!.cells;
    expect(waiting).toMatchObject({
      state: 'waiting-handoff',
      label: 'waiting on hand-off',
      airflowHref: 'http://af/dags/tandem__ds/runs/r1/tasks/cardiology.physician_review',
      temporalHref: `http://tui/namespaces/default/workflows/${encodeURIComponent('handoff:tandem__ds:r1:cardiology.physician_review:-1')}`,
    });
    expect(failed).toMatchObject({ state: 'failed', airflowHref: 'http://af/dags/tandem__ds/runs/r2/tasks/cardiology.draft' });
    expect(grid[1]!.cells.map((c) => c.label)).toEqual(['skipped (unchanged)', 'not run']);
    expect(grid[1]!.cells[0]!.temporalHref).toBeUndefined();
  });
});
