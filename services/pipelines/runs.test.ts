import { describe, expect, it } from 'vitest';
import type { PipelineSpec } from '../../shared/contracts/pipeline-spec.ts';
import type { AirflowTaskInstance } from '../airflow/client.ts';
import { daysBetween, partitionState, partitionsOfRun, pipelineRunId, zonedMidnightIso } from './runs.ts';

const ti = (task_id: string, state: string | null) => ({ task_id, state }) as AirflowTaskInstance;

describe('partition state from task instances', () => {
  it('skipped tasks → skipped; committed → ran; a failure → failed; otherwise in flight', () => {
    expect(partitionState({ check_sources: 'success', build: 'skipped', commit_fingerprints: 'skipped', sources_unreadable: 'skipped' })).toBe('skipped');
    expect(partitionState({ check_sources: 'success', build: 'success', commit_fingerprints: 'success', sources_unreadable: 'skipped' })).toBe('ran');
    expect(partitionState({ check_sources: 'success', build: 'failed', commit_fingerprints: 'upstream_failed' })).toBe('failed');
    expect(partitionState({ check_sources: 'success', build: 'skipped', commit_fingerprints: 'skipped', sources_unreadable: 'failed' })).toBe('failed');
    expect(partitionState({ check_sources: 'failed', build: 'upstream_failed' })).toBe('failed');
    expect(partitionState({ check_sources: 'success', build: 'running', commit_fingerprints: null, sources_unreadable: 'skipped' })).toBe('running');
    expect(partitionState({ check_sources: 'success', review: 'awaiting_input', commit_fingerprints: null })).toBe('running');
    // The run's check still running: every partition waits behind it.
    expect(partitionState({ check_sources: 'running', build: null, sources_unreadable: null })).toBe('queued');
  });

  it('groups task instances by partition key, each with the run’s check, labelled with the date for date partitions', () => {
    const spec = { partitions: { keys: ['a', 'b'], date: { start: '2026-01-01' } } } as unknown as PipelineSpec;
    const run = { logical_date: '2026-11-24T23:00:00Z', run_after: '2026-11-25T01:00:00Z' };
    const views = partitionsOfRun(run, spec, [
      ti('check_sources', 'success'),
      ti('a.build', 'skipped'),
      ti('a.commit_fingerprints', 'skipped'),
      ti('b.build', 'running'),
      ti('b.commit_fingerprints', null),
    ]);
    expect(views).toEqual([
      { partition: 'a:2026-11-24', state: 'skipped', tasks: { check_sources: 'success', build: 'skipped', commit_fingerprints: 'skipped' } },
      { partition: 'b:2026-11-24', state: 'running', tasks: { check_sources: 'success', build: 'running', commit_fingerprints: null } },
    ]);
    const unkeyed = partitionsOfRun({ logical_date: null, run_after: run.run_after }, {} as PipelineSpec, []);
    expect(unkeyed).toEqual([{ partition: 'all', state: 'not_run', tasks: {} }]);
    // Not keyed: the check is one of the partition's own tasks.
    const dated = partitionsOfRun(run, { partitions: { date: { start: '2026-01-01' } } } as unknown as PipelineSpec, [
      ti('check_sources', 'success'),
      ti('load', 'skipped'),
      ti('commit_fingerprints', 'skipped'),
    ]);
    expect(dated).toEqual([{ partition: '2026-11-24', state: 'skipped', tasks: { check_sources: 'success', load: 'skipped', commit_fingerprints: 'skipped' } }]);
  });
});

describe('triggering', () => {
  it('run ids: the same caller and Idempotency-Key give the same id, another caller another', () => {
    expect(pipelineRunId('k1', 'retry-me')).toBe(pipelineRunId('k1', 'retry-me'));
    expect(pipelineRunId('k1', 'retry-me')).not.toBe(pipelineRunId('k2', 'retry-me'));
    expect(pipelineRunId('k1', 'retry-me', '2026-11-01')).toMatch(/^api__idem_[0-9a-f]{24}__2026-11-01$/);
    expect(pipelineRunId('k1', undefined)).not.toBe(pipelineRunId('k1', undefined));
  });

  it('backfill days are inclusive and midnights follow the time zone', () => {
    expect(daysBetween('2026-02-27', '2026-03-02')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02']);
    expect(zonedMidnightIso('2026-11-25', 'UTC')).toBe('2026-11-25T00:00:00.000Z');
    expect(zonedMidnightIso('2026-11-25', 'Europe/Berlin')).toBe('2026-11-24T23:00:00.000Z');
    expect(zonedMidnightIso('2026-07-01', 'Europe/Berlin')).toBe('2026-06-30T22:00:00.000Z');
  });
});
