import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** Domain events written in the producer's transaction and delivered by the relay after commit. */
export const outboxEvents = pgTable(
  'outbox_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    topic: text('topic').notNull(),
    payload: jsonb('payload').notNull(),
    actorId: uuid('actor_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    dispatchedAt: timestamp('dispatched_at', { withTimezone: true }),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    lastError: text('last_error'),
    /**
     * Whether the projections of the event ran in the transaction that wrote it. False for rows written by a node
     * from before projections (or by SQL, as `chat_send` does): the relay runs them then, with the subscribers.
     */
    projected: boolean('projected').notNull().default(false),
  },
  (t) => [
    index('outbox_events_pending_idx')
      .on(t.nextAttemptAt, t.id)
      .where(sql`${t.dispatchedAt} is null`),
    index('outbox_events_dispatched_idx').on(t.dispatchedAt),
  ],
);
