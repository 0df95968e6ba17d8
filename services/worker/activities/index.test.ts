import { describe, expect, it } from 'vitest';
import { activities, registerFamilies } from './index.ts';

describe('activity registry', () => {
  it('registers every family', () => {
    expect(Object.keys(activities)).toContain('stampEcho');
  });

  it('refuses two families exporting the same activity name', () => {
    const a = { notifyReviewer: async () => undefined };
    const b = { notifyReviewer: async () => undefined };
    expect(() => registerFamilies({ a, b })).toThrow(/"notifyReviewer" is exported by both the a and the b family/);
  });
});
