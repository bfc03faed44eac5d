import { Type } from 'typebox';
import { IsoDateTime, Uuid } from '../../http/schemas.js';
import { REACTION_TARGETS } from './reactions.schema.js';
import type { SavedItem } from './reactions.service.js';

export const ReactionStateResponse = Type.Object(
  {
    liked: Type.Boolean({ description: 'I like it.' }),
    bookmarked: Type.Boolean({ description: 'I bookmarked it.' }),
    likeCount: Type.Integer(),
    bookmarkCount: Type.Integer(),
  },
  { examples: [{ liked: true, bookmarked: false, likeCount: 13, bookmarkCount: 4 }] },
);

export const SavedQuery = Type.Object(
  {
    type: Type.Optional(
      Type.Enum([...REACTION_TARGETS], { description: 'Only events, or only groups.', examples: ['event'] }),
    ),
    cursor: Type.Optional(Type.String({ maxLength: 512, description: "The previous page's `nextCursor`." })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  },
  { additionalProperties: false },
);

export const SavedPage = Type.Object(
  {
    items: Type.Array(
      Type.Object({
        type: Type.Enum([...REACTION_TARGETS]),
        id: Uuid,
        name: Type.String({ description: "The event's title or the group's name." }),
        savedAt: IsoDateTime,
      }),
    ),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description: 'Pass as `cursor` for the next page; null on the last page.',
    }),
  },
  {
    examples: [
      {
        items: [
          {
            type: 'event',
            id: '0b7e4a4e-2a59-4c8f-9d3e-5f1c2a7b9e10',
            name: 'Han River 10K evening run',
            savedAt: '2026-11-30T07:10:00.000Z',
          },
        ],
        nextCursor: null,
      },
    ],
  },
);

export function toSaved(item: SavedItem) {
  return { type: item.targetType, id: item.targetId, name: item.name, savedAt: item.savedAt.toISOString() };
}
