import { index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from '../accounts/accounts.schema.js';

export const REACTION_TARGETS = ['event', 'group'] as const;
export const REACTION_KINDS = ['like', 'bookmark'] as const;
export type ReactionTargetType = (typeof REACTION_TARGETS)[number];
export type ReactionKind = (typeof REACTION_KINDS)[number];

/**
 * One row per (target, kind, person): a like or a bookmark exists or it does not, so adding twice or removing
 * twice changes nothing. Targets are referenced by type and id (events, groups) rather than by foreign key, so
 * one table serves every kind of target; the target's module decides who may see it.
 */
export const reactions = pgTable(
  'reactions',
  {
    targetType: text('target_type', { enum: REACTION_TARGETS }).notNull(),
    targetId: uuid('target_id').notNull(),
    kind: text('kind', { enum: REACTION_KINDS }).notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.targetType, t.targetId, t.kind, t.userId] }),
    // "My bookmarks" and "my likes", newest first.
    index('reactions_user_idx').on(t.userId, t.kind, t.createdAt.desc(), t.targetId),
  ],
);
