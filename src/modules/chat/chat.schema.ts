import { sql } from 'drizzle-orm';
import {
  bigint,
  index,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { users } from '../accounts/accounts.schema.js';

const ts = (name: string) => timestamp(name, { withTimezone: true });
const seq = (name: string) => bigint(name, { mode: 'number' });

/**
 * A conversation belongs to a group, an event, or two people. `last_seq` is the sequence number of its latest
 * message: messages are numbered 1, 2, 3… per conversation with no gaps, which is what lets a client that was
 * away ask for "everything after n" and know it has it all.
 */
export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: text('kind', { enum: ['group', 'event', 'direct'] }).notNull(),
    groupId: uuid('group_id'),
    eventId: uuid('event_id'),
    /** The two people of a direct conversation, ordered: `<smaller id>:<larger id>`. */
    directKey: text('direct_key'),
    /** `since_join`: a member sees only messages sent after they joined (one seed app's rule). */
    historyVisibility: text('history_visibility', { enum: ['all', 'since_join'] })
      .notNull()
      .default('all'),
    lastSeq: seq('last_seq').notNull().default(0),
    /** Counts edits and deletions, the way `last_seq` counts messages. */
    lastChange: seq('last_change').notNull().default(0),
    noticeText: text('notice_text'),
    noticeBy: uuid('notice_by'),
    noticeAt: ts('notice_at'),
    /** Set when the group is deleted or the event cancelled: readable, no longer writable. */
    archivedAt: ts('archived_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('conversations_group_key')
      .on(t.groupId)
      .where(sql`${t.groupId} is not null`),
    uniqueIndex('conversations_event_key')
      .on(t.eventId)
      .where(sql`${t.eventId} is not null`),
    uniqueIndex('conversations_direct_key')
      .on(t.directKey)
      .where(sql`${t.directKey} is not null`),
  ],
);

/**
 * Who is in a conversation, kept in step with the group's members and the event's people going by outbox
 * projections, in the transactions that change those. A member who leaves keeps the row (`left_at`), so coming back restores the read position.
 */
export const conversationMembers = pgTable(
  'conversation_members',
  {
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id),
    /** Admins (group owner/admins, the event's host) pin notices and delete anyone's messages. */
    role: text('role', { enum: ['member', 'admin'] })
      .notNull()
      .default('member'),
    joinedAt: ts('joined_at').notNull().defaultNow(),
    /** The conversation's `last_seq` when this member (last) joined. */
    joinedSeq: seq('joined_seq').notNull().default(0),
    lastReadSeq: seq('last_read_seq').notNull().default(0),
    leftAt: ts('left_at'),
  },
  (t) => [
    primaryKey({ columns: [t.conversationId, t.userId] }),
    index('conversation_members_user_idx')
      .on(t.userId)
      .where(sql`${t.leftAt} is null`),
  ],
);

/**
 * Messages, numbered per conversation. A retry of a send carries the same client id and finds the message it
 * already made. Deletion leaves a tombstone (no body) so the numbering keeps no holes.
 */
export const messages = pgTable(
  'messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    seq: seq('seq').notNull(),
    senderId: uuid('sender_id').references(() => users.id),
    clientId: text('client_id'),
    kind: text('kind', { enum: ['text', 'image', 'system'] }).notNull(),
    body: text('body'),
    mediaId: uuid('media_id'),
    /** What a system message says, as data: `{ type: 'joined' | 'left' | 'removed' | 'notice', userId }`. */
    system: jsonb('system'),
    createdAt: ts('created_at').notNull().defaultNow(),
    /**
     * The conversation's change number of this message's latest edit or deletion (0: never changed), so a client
     * that was away asks "what changed after change n" and gets exactly that.
     */
    changeSeq: seq('change_seq').notNull().default(0),
    editedAt: ts('edited_at'),
    deletedAt: ts('deleted_at'),
  },
  (t) => [
    uniqueIndex('messages_seq_key').on(t.conversationId, t.seq),
    uniqueIndex('messages_client_key')
      .on(t.conversationId, t.senderId, t.clientId)
      .where(sql`${t.clientId} is not null`),
    index('messages_changes_idx')
      .on(t.conversationId, t.changeSeq)
      .where(sql`${t.changeSeq} > 0`),
    index('messages_body_trgm_idx').using('gin', sql`${t.body} gin_trgm_ops`),
  ],
);
