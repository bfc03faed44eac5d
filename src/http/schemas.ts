import { Type, type Static, type TSchema } from 'typebox';
import { ERROR_STATUS, type ErrorCode } from '../shared/errors.js';

/** Shared request and response schemas; every route's error responses use `ErrorResponse`. */

export const ErrorResponse = Type.Object(
  {
    code: Type.String({
      description: 'Machine-readable error code from the error table.',
      examples: ['NOT_FOUND'],
    }),
    message: Type.String({ description: 'Human-readable explanation; do not parse it.' }),
    details: Type.Optional(
      Type.Unknown({
        description: 'For validation errors, a list of `{ path, message }` naming each bad field.',
      }),
    ),
  },
  { $id: 'ErrorResponse', title: 'Error' },
);
export type ErrorResponse = Static<typeof ErrorResponse>;

const ErrorRef = Type.Ref('ErrorResponse');

/**
 * Error responses to document on a route: the common ones plus the given statuses, each referencing the one
 * error schema. Validation (400) and rate limiting (429) apply to every route, so they are always listed.
 */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const status of new Set([400, 429, 500, ...statuses])) {
    const codes = (Object.keys(ERROR_STATUS) as ErrorCode[]).filter((c) => ERROR_STATUS[c] === status);
    out[status] = { ...ErrorRef, description: codes.length > 0 ? `One of: ${codes.join(', ')}` : 'Error' };
  }
  return out;
}

export const Uuid = Type.String({ format: 'uuid', description: 'UUID' });
export const IsoDateTime = Type.String({ format: 'date-time', description: 'RFC 3339 timestamp (UTC)' });

export const IdParams = Type.Object({ id: Uuid });

/** Keyset pagination: pass the previous page's `nextCursor` as `cursor` to get the next page. */
export const PageQuery = Type.Object({
  cursor: Type.Optional(
    Type.String({ maxLength: 512, description: 'Opaque cursor from the previous page.' }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
});

export function Page<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description: 'Cursor of the next page, or null when this is the last page.',
    }),
  });
}

export const Ok = Type.Object({ ok: Type.Literal(true) });
