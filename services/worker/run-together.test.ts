import type { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { combinedState, runTogether } from './worker.ts';

/** A worker whose run() ends when shut down, or fails when told to. */
function fakeWorker() {
  let state = 'RUNNING';
  let end!: () => void;
  let fail!: (err: Error) => void;
  const running = new Promise<void>((resolve, reject) => {
    end = resolve;
    fail = reject;
  });
  const worker = {
    getState: () => state,
    run: () => running,
    shutdown: () => {
      state = 'STOPPED';
      end();
    },
    crash(err: Error) {
      state = 'FAILED';
      fail(err);
    },
  };
  return worker;
}

describe('runTogether', () => {
  it('stops every region’s worker when one fails, then rethrows its error', async () => {
    const [a, b] = [fakeWorker(), fakeWorker()];
    const run = runTogether([a, b] as unknown as Worker[]);
    b.crash(new Error('namespace region-b not found'));
    await expect(run).rejects.toThrow('namespace region-b not found');
    expect(a.getState()).toBe('STOPPED');
  });

  it('ends when all have stopped after a shutdown', async () => {
    const [a, b] = [fakeWorker(), fakeWorker()];
    const run = runTogether([a, b] as unknown as Worker[]);
    a.shutdown();
    await expect(run).resolves.toBeUndefined();
    expect(b.getState()).toBe('STOPPED');
  });
});

describe('combinedState', () => {
  it('is RUNNING only when every region’s worker is', () => {
    const [a, b] = [fakeWorker(), fakeWorker()];
    expect(combinedState([a, b] as unknown as Worker[])).toBe('RUNNING');
    b.shutdown();
    expect(combinedState([a, b] as unknown as Worker[])).toBe('STOPPED');
  });
});
