/**
 * Cursor pagination for every list of the control API: `?limit=` and an opaque `?cursor=`; each
 * page carries `next`, the URL of the following page (null on the last one). A cursor is a
 * position in the list's own order (keyset, not offset, for the store's lists), so inserts between
 * two pages neither repeat nor skip items. Cursors are opaque to callers, checked when they come
 * back, and expire after a day: a cursor that names no page this API handed out (forged, for
 * another list, or expired) is a 404 — the page it asks for does not exist — rather than a
 * schema error, since any base64url text is a well-formed cursor.
 *
 * Pure: zod only.
 */
import { z } from 'zod';
import { NotFoundError } from '../errors.ts';

/** A position: the sort key values of the last item on the page. */
export type CursorPosition = (string | number)[];

const cursorTtlMs = 24 * 60 * 60 * 1000;

const cursorSchema = z.object({ v: z.literal(1), t: z.number().int(), p: z.array(z.union([z.string(), z.number()])).min(1).max(4) }).strict();

// base64url only, as the API writes them: the document then says exactly which strings can be a
// cursor (a length limit alone counts characters differently in JSON Schema and in zod).
export const cursorParamSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,2000}$/)
  .optional()
  .describe('Opaque: the `next` link of the previous page carries it');

/** `limit` and `cursor`, for a list's querystring (extend with the list's own filters). */
export function pageQuery(defaultLimit = 50, maxLimit = 200) {
  return {
    limit: z.coerce.number().int().min(1).max(maxLimit).default(defaultLimit),
    cursor: cursorParamSchema,
  };
}

/** The `next` field of a page. */
export const nextLinkSchema = z.string().nullable().describe('URL of the next page; null on the last page');

function badCursor(why: string): NotFoundError {
  return new NotFoundError(`no such page: query.cursor ${why}; start again without it`);
}

export function encodeCursor(position: CursorPosition, now = Date.now()): string {
  return Buffer.from(JSON.stringify({ v: 1, t: now, p: position })).toString('base64url');
}

/**
 * The position a cursor carries, in the shape the list expects; a 404 for a cursor this API did
 * not hand out (or for another list), or one a day old.
 */
export function decodeCursor<P extends CursorPosition>(cursor: string | undefined, shape: z.ZodType<P>, now = Date.now()): P | undefined {
  if (cursor === undefined) return undefined;
  let parsed;
  try {
    parsed = cursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) throw badCursor('is not a cursor this API handed out');
  if (now - parsed.data.t > cursorTtlMs || parsed.data.t > now + 60_000) throw badCursor('has expired (cursors last a day)');
  const position = shape.safeParse(parsed.data.p);
  if (!position.success) throw badCursor('belongs to another list');
  return position.data;
}

/**
 * One page from a list fetched with `limit + 1` items: the page, and the URL of the next one built
 * from the request's own path and query with the new cursor.
 */
export function pageOf<T>(items: T[], limit: number, positionOf: (item: T) => CursorPosition, requestUrl: string): { items: T[]; next: string | null } {
  if (items.length <= limit) return { items, next: null };
  const page = items.slice(0, limit);
  return { items: page, next: nextLink(requestUrl, positionOf(page[page.length - 1]!)) };
}

/** The request's own path and query, with the cursor of `position`. */
export function nextLink(requestUrl: string, position: CursorPosition): string {
  const url = new URL(requestUrl, 'http://tandem.invalid');
  url.searchParams.set('cursor', encodeCursor(position));
  return `${url.pathname}${url.search}`;
}
