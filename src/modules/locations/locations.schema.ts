import { sql } from 'drizzle-orm';
import { bigserial, index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from '../accounts/accounts.schema.js';
import { AUDIENCES, PRECISIONS, STOP_REASONS } from './locations.dto.js';

const ts = (name: string) => timestamp(name, { withTimezone: true });

/**
 * A person's explicit decision to share their position with one audience, at one precision, until one time.
 * Positions themselves never reach the database: they live in the spatial store (Redis or memory) and expire.
 */
export const locationShares = pgTable(
  'location_shares',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The session that started it: ending that session ends the share. */
    sessionId: uuid('session_id'),
    audience: text('audience', { enum: AUDIENCES }).notNull(),
    /** The event or group; null for the nearby layer. */
    audienceId: uuid('audience_id'),
    precision: text('precision', { enum: PRECISIONS }).notNull(),
    startedAt: ts('started_at').notNull(),
    endsAt: ts('ends_at').notNull(),
    /**
     * The duration the person asked for; null for an event share meant to last until the event's end. Kept so
     * the end can be worked out again when the event is rescheduled.
     */
    durationMinutes: integer('duration_minutes'),
    stoppedAt: ts('stopped_at'),
    stopReason: text('stop_reason', { enum: STOP_REASONS }),
  },
  (t) => [
    index('location_shares_user_idx').on(t.userId, t.startedAt),
    // One active share per person and audience: a new one replaces the old in the same transaction.
    uniqueIndex('location_shares_active_key')
      .on(t.userId, t.audience, sql`coalesce(${t.audienceId}, '00000000-0000-0000-0000-000000000000'::uuid)`)
      .where(sql`${t.stoppedAt} is null`),
    index('location_shares_open_idx')
      .on(t.endsAt)
      .where(sql`${t.stoppedAt} is null`),
  ],
);

/**
 * Who received whose position: one row per (viewer, share) and flush span, counting the deliveries in it, so the
 * log is complete without a row per push. Kept LOCATION_ACCESS_LOG_DAYS, then purged by a daily job.
 */
export const locationAccessLog = pgTable(
  'location_access_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    subjectId: uuid('subject_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    viewerId: uuid('viewer_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    shareId: uuid('share_id')
      .notNull()
      .references(() => locationShares.id, { onDelete: 'cascade' }),
    firstSeenAt: ts('first_seen_at').notNull(),
    lastSeenAt: ts('last_seen_at').notNull(),
    deliveries: integer('deliveries').notNull(),
  },
  (t) => [
    index('location_access_subject_idx').on(t.subjectId, t.id),
    index('location_access_last_seen_idx').on(t.lastSeenAt),
  ],
);
