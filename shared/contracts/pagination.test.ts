import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NotFoundError } from '../errors.ts';
import { decodeCursor, encodeCursor, pageOf } from './pagination.ts';

const position = z.tuple([z.string(), z.number()]);

describe('cursors', () => {
  it('round-trip a position', () => {
    expect(decodeCursor(encodeCursor(['2026-12-01T00:00:00Z', 7]), position)).toEqual(['2026-12-01T00:00:00Z', 7]);
    expect(decodeCursor(undefined, position)).toBeUndefined();
  });

  it('refuse what this API did not hand out: garbage, tampered JSON, another list’s shape', () => {
    for (const forged of ['not-a-cursor', Buffer.from('{"v":1}').toString('base64url'), Buffer.from('{"v":2,"t":1,"p":["a"]}').toString('base64url'), "' OR 1=1 --", '../../etc/passwd']) {
      expect(() => decodeCursor(forged, position), forged).toThrow(NotFoundError);
    }
    expect(() => decodeCursor(encodeCursor([3]), position)).toThrow(/another list/);
  });

  it('expire after a day', () => {
    const issued = Date.parse('2026-12-01T00:00:00Z');
    const cursor = encodeCursor(['a', 1], issued);
    expect(decodeCursor(cursor, position, issued + 23 * 3_600_000)).toEqual(['a', 1]);
    expect(() => decodeCursor(cursor, position, issued + 25 * 3_600_000)).toThrow(/expired/);
  });
});

describe('pageOf', () => {
  it('cuts the extra item and links the next page with the request’s own query', () => {
    const page = pageOf([1, 2, 3], 2, (n) => [`k${n}`, n], '/v1/things?status=pending&cursor=old');
    expect(page.items).toEqual([1, 2]);
    const next = new URL(page.next!, 'http://x');
    expect(next.pathname).toBe('/v1/things');
    expect(next.searchParams.get('status')).toBe('pending');
    expect(decodeCursor(next.searchParams.get('cursor')!, position)).toEqual(['k2', 2]);
  });

  it('has no next link on the last page', () => {
    expect(pageOf([1, 2], 2, (n) => ['k', n], '/v1/things')).toEqual({ items: [1, 2], next: null });
  });
});
