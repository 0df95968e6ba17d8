import { describe, expect, it } from 'vitest';
import { kneeOf } from './start-throughput.ts';

const at = (concurrency: number, starts_per_second: number) => ({ concurrency, starts_per_second, p50_ms: 1, p99_ms: 2 });

describe('start throughput knee', () => {
  it('is the last level before doubling the concurrency gains less than 10 %', () => {
    expect(kneeOf([at(1, 100), at(2, 190), at(4, 300), at(8, 320), at(16, 400)])).toEqual({ point: at(4, 300), saturated: true });
  });

  it('counts a drop in throughput as saturation', () => {
    expect(kneeOf([at(1, 100), at(2, 80)])).toEqual({ point: at(1, 100), saturated: true });
  });

  it('says so when no level saturated', () => {
    expect(kneeOf([at(1, 100), at(2, 200), at(4, 400)])).toEqual({ point: at(4, 400), saturated: false });
  });
});
