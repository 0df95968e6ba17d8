import { describe, expect, it } from 'vitest';
import { completedChunks, embedPlanOf } from './example-embedder.ts';

describe('the example embedder image', () => {
  it('reads its command line, with defaults, and refuses what the image would refuse', () => {
    expect(embedPlanOf(['embed'])).toEqual({ chunks: 4, secondsPerChunk: 2 });
    expect(embedPlanOf(['embed', '--chunks', '6', '--seconds-per-chunk', '0.5', '--fail-at-chunk', '3'])).toEqual({ chunks: 6, secondsPerChunk: 0.5, failAtChunk: 3 });
    expect(() => embedPlanOf(['python', 'embed.py'])).toThrow(/unknown command "python"; usage: embed/);
    expect(() => embedPlanOf(['embed', '--chunks', '0'])).toThrow(/--chunks must be a whole number/);
    expect(() => embedPlanOf(['embed', '--chunks', '2.5'])).toThrow(/--chunks/);
    expect(() => embedPlanOf(['embed', '--seconds-per-chunk', 'soon'])).toThrow(/--seconds-per-chunk/);
    expect(() => embedPlanOf(['embed', '--shards', '3'])).toThrow(/shards/);
  });

  it('resumes from the chunks a checkpoint lists; anything else is a fresh start', () => {
    expect([...completedChunks('0,1,3')]).toEqual([0, 1, 3]);
    expect(completedChunks(null).size).toBe(0);
    expect(completedChunks('{"completed":["c1"]}').size).toBe(0);
  });
});
