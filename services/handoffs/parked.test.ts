// The one resume path of a parked hand-off (parked.ts), against a fake Airflow and store row:
// what it answers, what it refuses to touch, and when it asks to be called again.
import { describe, expect, it } from 'vitest';
import type { HandoffRecord } from '../../shared/store/handoffs.ts';
import type { AirflowHitlDetail, AirflowTaskInstance, TaskInstanceState } from '../airflow/client.ts';
import { AirflowConflictError, AirflowNotFoundError } from '../airflow/errors.ts';
import { NotParkedYetError, parkSettleMs, resumeParkedHandoff, type ParkedResumeDeps } from './parked.ts';

const airflow = { dagId: 'tandem__notes', runId: 'manual__1', taskId: 'ward-a.review', mapIndex: -1, tryNumber: 2 };
const handoffId = 'handoff:tandem__notes:manual__1:ward-a.review:-1';

function setup(options: { state: TaskInstanceState | null; tryNumber?: number; request?: 'none' | 'open' | 'answered'; conflict?: boolean; parkedForMs?: number }) {
  const now = Date.parse('2026-12-02T10:00:00Z');
  const answers: unknown[] = [];
  const record = { handoffId, runId: 'run-2', airflow } as unknown as HandoffRecord;
  const deps: ParkedResumeDeps = {
    store: { handoffs: { get: async (id: string) => (id === handoffId ? record : undefined) } as never },
    airflow: {
      getTaskInstance: async () => ({ state: options.state, try_number: options.tryNumber ?? 2 }) as AirflowTaskInstance,
      getHitlDetail: async () => {
        if ((options.request ?? 'open') === 'none') throw new AirflowNotFoundError({ status: 404, detail: 'no detail', method: 'GET', path: '/x' });
        const answered = options.request === 'answered';
        const created_at = new Date(now - (options.parkedForMs ?? 60_000)).toISOString();
        return { created_at, response_received: answered, responded_by_user: answered ? { id: 'tandem', name: 'tandem' } : null, responded_at: null } as AirflowHitlDetail;
      },
      answerHitlDetail: async (...args: unknown[]) => {
        if (options.conflict) throw new AirflowConflictError({ status: 409, detail: 'already', method: 'PATCH', path: '/x' });
        answers.push(args);
        return {} as never;
      },
    },
    now: () => now,
  };
  return { deps, answers };
}

describe('resumeParkedHandoff', () => {
  it("answers the parked task's request with the one option, naming the hand-off and its run", async () => {
    const { deps, answers } = setup({ state: 'awaiting_input' });
    expect(await resumeParkedHandoff(deps, handoffId, 'run-2')).toMatchObject({ outcome: 'resumed' });
    expect(answers).toEqual([['tandem__notes', 'manual__1', 'ward-a.review', -1, { chosen_options: ['workflow closed'], params_input: { handoffId, runId: 'run-2' } }]]);
  });

  it('answers a task between writing its request and parking (Airflow resumes it as it parks)', async () => {
    const { deps, answers } = setup({ state: 'running' });
    expect((await resumeParkedHandoff(deps, handoffId)).outcome).toBe('resumed');
    expect(answers).toHaveLength(1);
  });

  it('asks to be called again while the task runs without a request yet', async () => {
    const { deps, answers } = setup({ state: 'running', request: 'none' });
    await expect(resumeParkedHandoff(deps, handoffId)).rejects.toBeInstanceOf(NotParkedYetError);
    expect(answers).toEqual([]);
  });

  it('asks to be called again while the task parked moments ago (Airflow has not reaped its process yet)', async () => {
    const { deps, answers } = setup({ state: 'awaiting_input', parkedForMs: 700 });
    await expect(resumeParkedHandoff(deps, handoffId)).rejects.toThrow(/parked 700 ms ago/);
    expect(answers).toEqual([]);
    const settled = setup({ state: 'awaiting_input', parkedForMs: parkSettleMs });
    expect((await resumeParkedHandoff(settled.deps, handoffId)).outcome).toBe('resumed');
  });

  it.each([
    ['another run serves the task', { state: 'awaiting_input' as const }, 'run-1', 'superseded'],
    ['the task is at a newer try', { state: 'awaiting_input' as const, tryNumber: 3 }, 'run-2', 'superseded'],
    ['the request is answered already', { state: 'scheduled' as const, request: 'answered' as const }, 'run-2', 'already-resumed'],
    ['Airflow answers 409', { state: 'awaiting_input' as const, conflict: true }, 'run-2', 'already-resumed'],
    ['the task was cleared', { state: null, request: 'none' as const }, 'run-2', 'not-parked'],
    ['the task ended', { state: 'failed' as const }, 'run-2', 'not-parked'],
  ])('touches nothing when %s', async (_why, options, runId, outcome) => {
    const { deps, answers } = setup(options);
    expect((await resumeParkedHandoff(deps, handoffId, runId)).outcome).toBe(outcome);
    expect(answers).toEqual([]);
  });

  it('knows nothing of a hand-off without a record', async () => {
    const { deps } = setup({ state: 'awaiting_input' });
    expect((await resumeParkedHandoff(deps, 'handoff:other')).outcome).toBe('unknown');
  });
});
