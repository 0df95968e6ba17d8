import { describe, expect, it } from 'vitest';
import { handoffStartDecision, type HandoffStartDecision, type LatestRun, type RecordedRun } from './attach-or-start.ts';

const running = (runId: string): LatestRun => ({ runId, running: true });
const closed = (runId: string): LatestRun => ({ runId, running: false });
const recorded = (runId: string, tryNumber: number, status = 'running'): RecordedRun => ({ runId, tryNumber, status });

describe('handoffStartDecision', () => {
  type Options = Parameters<typeof handoffStartDecision>[3];
  const ask = { canAskAirflow: true };
  const table: [string, LatestRun | undefined, RecordedRun | undefined, number, HandoffStartDecision, Options?][] = [
    ['nothing started yet', undefined, undefined, 1, 'start'],
    ['Temporal lost the workflow tandem recorded', undefined, recorded('r1', 1), 1, 'start'],
    ['a resumed or re-deferred task attaches', running('r1'), recorded('r1', 1), 1, 'attach'],
    ['a retry after the worker died before deferring attaches', running('r1'), recorded('r1', 1), 2, 'attach'],
    ['a run tandem has not recorded (a lost store write) is attached to', running('r2'), recorded('r1', 1), 1, 'attach'],
    ['a run being cancelled is waited on first', running('r1'), recorded('r1', 1, 'cancelled'), 2, 'wait-for-cancel'],
    ['…and attached to if it still runs after the wait', running('r1'), recorded('r1', 1, 'cancelled'), 2, 'attach', { waitedForCancel: true }],
    ['a duplicate start of a closed run returns it', closed('r1'), recorded('r1', 1, 'succeeded'), 1, 'return-closed'],
    ['an older try asking again returns the closed run', closed('r1'), recorded('r1', 3, 'failed'), 2, 'return-closed'],
    ['a retry after a failed, rejected or expired flow starts fresh', closed('r1'), recorded('r1', 1, 'rejected'), 2, 'start'],
    ['a cleared task re-run (newer try) starts fresh after a cancel', closed('r1'), recorded('r1', 1, 'cancelled'), 2, 'start'],
    ['a closed run tandem never recorded served no try: start fresh', closed('r2'), recorded('r1', 5), 1, 'start'],
    ['a newer try after a succeeded run: ask Airflow how the served try ended', closed('r1'), recorded('r1', 1, 'succeeded'), 2, 'ask-airflow', ask],
    ['…which recorded it a success: a cleared task, start fresh', closed('r1'), recorded('r1', 1, 'succeeded'), 2, 'start', { ...ask, servedTrySucceeded: true }],
    ['…which recorded it failed: the outcome never reached Airflow, answer it', closed('r1'), recorded('r1', 1, 'succeeded'), 2, 'return-closed', { ...ask, servedTrySucceeded: false }],
    ['with no Airflow to ask, a newer try after a succeeded run starts fresh', closed('r1'), recorded('r1', 1, 'succeeded'), 2, 'start'],
    ['a retry after a rejected run starts fresh without asking', closed('r1'), recorded('r1', 1, 'rejected'), 2, 'start', ask],
  ];

  it.each(table)('%s', (_case, latest, record, tryNumber, expected, options) => {
    expect(handoffStartDecision(latest, record, tryNumber, options)).toBe(expected);
  });
});
