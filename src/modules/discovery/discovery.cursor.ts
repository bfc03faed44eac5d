import { createHash } from 'node:crypto';
import { AppError } from '../../shared/errors.js';

/**
 * Keyset cursors: the position after the last item of a page (its sort key and id), bound to the sort and to
 * the filters it was made for. Opaque to clients (base64url JSON); checked strictly on the way back in, so a
 * cursor reused with other filters, or edited by hand, is a 400 and never reaches SQL unchecked.
 */
export interface Cursor {
  sort: string;
  /** The sort key of the last item: a timestamp (ISO, microseconds), a count or a distance. */
  key: string | number;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Timestamps travel with microseconds, as PostgreSQL stores them, so no row is skipped or repeated. */
export const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** A short digest of the normalized filters, so a cursor only continues the listing it came from. */
export function filtersDigest(filters: unknown): string {
  return createHash('sha256').update(JSON.stringify(filters)).digest('base64url').slice(0, 12);
}

export function encodeCursor(cursor: Cursor, digest: string): string {
  return Buffer.from(JSON.stringify([cursor.sort, cursor.key, cursor.id, digest])).toString('base64url');
}

export function decodeCursor(
  raw: string,
  expect: { sort: string; digest: string; key: 'time' | 'int' | 'number' },
): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw badCursor('is not a cursor from this API');
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) throw badCursor('is not a cursor from this API');
  const [sort, key, id, digest] = parsed as unknown[];
  if (sort !== expect.sort || digest !== expect.digest) {
    throw badCursor('belongs to another sort or other filters; start again without a cursor');
  }
  if (typeof id !== 'string' || !UUID.test(id)) throw badCursor('is not a cursor from this API');
  const keyOk =
    expect.key === 'time'
      ? typeof key === 'string' && CURSOR_TIME.test(key) && !Number.isNaN(Date.parse(key))
      : expect.key === 'int'
        ? Number.isSafeInteger(key)
        : typeof key === 'number' && Number.isFinite(key);
  if (!keyOk) throw badCursor('is not a cursor from this API');
  return { sort, key: key as string | number, id };
}

function badCursor(message: string): AppError {
  return new AppError('VALIDATION_FAILED', 'The request is not valid.', {
    details: [{ path: '/query/cursor', message }],
  });
}
