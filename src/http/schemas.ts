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

/**
 * Attaches documented examples to a request body or response schema; they appear in the OpenAPI document as the
 * media type's example. The examples are typed by the schema, so the compiler catches one that drifts from it,
 * and test/foundation/openapi.test.ts checks that every /v1 request body and 2xx response has one, valid
 * against the generated document.
 */
export function withExamples<T extends TSchema>(schema: T, ...examples: [Static<T>, ...Static<T>[]]): T {
  // A copy with every property descriptor: TypeBox keeps its kind in a non-enumerable property.
  const copy = Object.create(
    Object.getPrototypeOf(schema) as object,
    Object.getOwnPropertyDescriptors(schema),
  ) as T & { examples: unknown[] };
  copy.examples = examples;
  return copy;
}

/** Values the examples share, so one person and one event read the same across the document. */
export const EXAMPLE = {
  userId: '3f2b9c1e-7a4d-4e1b-9c2a-5d6e7f8a9b0c',
  otherUserId: '8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
  eventId: '0b7e4c2a-91d3-4f5e-a6b7-c8d9e0f1a2b3',
  groupId: '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d',
  conversationId: 'c2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e6f',
  messageId: 'd4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f7a',
  sessionId: 'e6f7a8b9-c0d1-4e2f-9a3b-4c5d6e7f8a9b',
  invitationId: 'f8a9b0c1-d2e3-4f4a-8b5c-6d7e8f9a0b1c',
  ratingId: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
  now: '2026-05-01T09:00:00.000Z',
  startsAt: '2026-05-02T10:00:00.000Z',
  endsAt: '2026-05-02T12:00:00.000Z',
} as const;
