import { sql } from 'drizzle-orm';
import { check, index, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from '../accounts/accounts.schema.js';
import { events } from '../events/events.schema.js';

const ts = (name: string) => timestamp(name, { withTimezone: true });

/**
 * A person's own colour for an event in their calendar. The host's colour lives on the event (`events.color`)
 * and is what everyone sees unless they chose their own here; one person's choice never shows to anyone else.
 */
export const calendarColors = pgTable(
  'calendar_colors',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    eventId: uuid('event_id')
      .notNull()
      .references(() => events.id, { onDelete: 'cascade' }),
    color: text('color').notNull(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.eventId] }),
    index('calendar_colors_event_idx').on(t.eventId),
    check('calendar_colors_color_check', sql`${t.color} ~ '^#[0-9a-f]{6}$'`),
  ],
);

/**
 * A private iCalendar feed: one person's own calendar, or one group's calendar as one member sees it. Each
 * member of a group has a feed of their own, so rotating or revoking one never breaks another's, and leaving the
 * group kills only the leaver's. Only a SHA-256 of the URL's secret is kept; rotation replaces it in place, so
 * the old URL stops working in the same statement.
 */
export const calendarFeeds = pgTable(
  'calendar_feeds',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** Null: the owner's own calendar; set: that group's calendar as the owner sees it. */
    groupId: uuid('group_id'),
    tokenHash: text('token_hash').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    rotatedAt: ts('rotated_at'),
    /** Last fetch, recorded at most once an hour, so the owner can tell a feed still in use. */
    lastUsedAt: ts('last_used_at'),
  },
  (t) => [
    uniqueIndex('calendar_feeds_token_key').on(t.tokenHash),
    uniqueIndex('calendar_feeds_own_key')
      .on(t.ownerId)
      .where(sql`${t.groupId} is null`),
    uniqueIndex('calendar_feeds_group_key')
      .on(t.ownerId, t.groupId)
      .where(sql`${t.groupId} is not null`),
    index('calendar_feeds_group_idx').on(t.groupId),
  ],
);
