import { and, asc, desc, eq, getTableColumns, gt, isNull, lte, sql, type SQL } from 'drizzle-orm';
import {
  ADVISORY_LOCKS,
  queryRows,
  retryingConflicts,
  runPrepared,
  type Executor,
  type PreparedStatement,
} from '../../infra/db/database.js';
import { users } from '../accounts/accounts.schema.js';
import { conversationMembers, conversations, messages } from './chat.schema.js';

export type ConversationRow = typeof conversations.$inferSelect;
export type MemberRow = typeof conversationMembers.$inferSelect;
export type MessageRow = typeof messages.$inferSelect;
export type NewMessage = typeof messages.$inferInsert;

export interface MessageWithSender extends MessageRow {
  senderNickname: string | null;
  senderAvatarUrl: string | null;
}

/** What `chat_send` answers: the message stored (or found again), or the rule that refused it. */
type SendStatus = 'sent' | 'duplicate' | 'not_found' | 'archived' | 'blocked';
export type SendOutcome =
  | { status: 'sent' | 'duplicate'; message: MessageWithSender }
  | { status: Exclude<SendStatus, 'sent' | 'duplicate'> };

export interface ConversationSummary {
  conversation: ConversationRow;
  role: 'member' | 'admin';
  lastReadSeq: number;
  unread: number;
  lastMessage: MessageWithSender | null;
}

const withSender = {
  m: messages,
  senderNickname: users.nickname,
  senderAvatarUrl: users.avatarUrl,
};
const flatten = (r: { m: MessageRow; senderNickname: string | null; senderAvatarUrl: string | null }) => ({
  ...r.m,
  senderNickname: r.senderNickname,
  senderAvatarUrl: r.senderAvatarUrl,
});

/** The SQL of conversations, their members and their messages. */
export class ChatRepository {
  // conversations

  async findConversation(db: Executor, id: string): Promise<ConversationRow | undefined> {
    const [row] = await db.select().from(conversations).where(eq(conversations.id, id));
    return row;
  }

  /** Locks the conversation: sends to one conversation are numbered one at a time. */
  async lockConversation(tx: Executor, id: string): Promise<ConversationRow | undefined> {
    const [row] = await runPrepared(this.statements(tx).lock, tx, { id });
    return row;
  }

  /** The hot path's statements, built once (see `runPrepared`) on the first executor that needs them. */
  private prepared: ReturnType<typeof sendStatements> | undefined;

  private statements(exec: Executor): ReturnType<typeof sendStatements> {
    return (this.prepared ??= sendStatements(exec));
  }

  async findFor(
    db: Executor,
    where: { groupId: string } | { eventId: string } | { directKey: string },
  ): Promise<ConversationRow | undefined> {
    const cond =
      'groupId' in where
        ? eq(conversations.groupId, where.groupId)
        : 'eventId' in where
          ? eq(conversations.eventId, where.eventId)
          : eq(conversations.directKey, where.directKey);
    const [row] = await db.select().from(conversations).where(cond);
    return row;
  }

  /** Creates the conversation of a group, event or pair once; a second call finds the first one. */
  async ensureConversation(
    tx: Executor,
    values: Pick<
      typeof conversations.$inferInsert,
      'kind' | 'groupId' | 'eventId' | 'directKey' | 'historyVisibility'
    >,
  ): Promise<ConversationRow> {
    const where = values.groupId
      ? { groupId: values.groupId }
      : values.eventId
        ? { eventId: values.eventId }
        : { directKey: values.directKey! };
    const existing = await this.findFor(tx, where);
    if (existing) return existing;
    await tx.insert(conversations).values(values).onConflictDoNothing();
    return (await this.findFor(tx, where))!;
  }

  async nextSeq(tx: Executor, id: string): Promise<number> {
    const [row] = await tx
      .update(conversations)
      .set({ lastSeq: sql`${conversations.lastSeq} + 1` })
      .where(eq(conversations.id, id))
      .returning({ lastSeq: conversations.lastSeq });
    return row!.lastSeq;
  }

  async updateConversation(
    tx: Executor,
    id: string,
    fields: Partial<typeof conversations.$inferInsert>,
  ): Promise<ConversationRow> {
    const [row] = await tx.update(conversations).set(fields).where(eq(conversations.id, id)).returning();
    return row!;
  }

  // members

  async findMember(db: Executor, conversationId: string, userId: string): Promise<MemberRow | undefined> {
    const [row] = await db
      .select()
      .from(conversationMembers)
      .where(
        and(eq(conversationMembers.conversationId, conversationId), eq(conversationMembers.userId, userId)),
      );
    return row;
  }

  /** Adds a member, or brings back one who left: the history window starts at the current message. */
  async putMember(
    tx: Executor,
    conversationId: string,
    userId: string,
    role: 'member' | 'admin',
    joinedSeq: number,
  ): Promise<{ member: MemberRow; rejoined: boolean; wasActive: boolean }> {
    const before = await this.findMember(tx, conversationId, userId);
    if (before && before.leftAt === null) {
      if (before.role === role) return { member: before, rejoined: false, wasActive: true };
      const [member] = await tx
        .update(conversationMembers)
        .set({ role })
        .where(
          and(eq(conversationMembers.conversationId, conversationId), eq(conversationMembers.userId, userId)),
        )
        .returning();
      return { member: member!, rejoined: false, wasActive: true };
    }
    const [member] = await tx
      .insert(conversationMembers)
      .values({ conversationId, userId, role, joinedSeq, lastReadSeq: joinedSeq })
      .onConflictDoUpdate({
        target: [conversationMembers.conversationId, conversationMembers.userId],
        set: {
          role,
          leftAt: null,
          joinedAt: sql`now()`,
          joinedSeq,
          lastReadSeq: sql`greatest(${conversationMembers.lastReadSeq}, ${joinedSeq})`,
        },
      })
      .returning();
    return { member: member!, rejoined: before !== undefined, wasActive: false };
  }

  async markLeft(tx: Executor, conversationId: string, userId: string): Promise<boolean> {
    const rows = await tx
      .update(conversationMembers)
      .set({ leftAt: sql`now()` })
      .where(
        and(
          eq(conversationMembers.conversationId, conversationId),
          eq(conversationMembers.userId, userId),
          isNull(conversationMembers.leftAt),
        ),
      )
      .returning({ userId: conversationMembers.userId });
    return rows.length > 0;
  }

  async setRole(
    tx: Executor,
    conversationId: string,
    userId: string,
    role: 'member' | 'admin',
  ): Promise<void> {
    await tx
      .update(conversationMembers)
      .set({ role })
      .where(
        and(eq(conversationMembers.conversationId, conversationId), eq(conversationMembers.userId, userId)),
      );
  }

  /** Moves a read position forward (never back), no further than the last message. */
  async markRead(
    db: Executor,
    conversationId: string,
    userId: string,
    seq: number,
  ): Promise<number | undefined> {
    const [row] = await db
      .update(conversationMembers)
      .set({
        lastReadSeq: sql`greatest(${conversationMembers.lastReadSeq}, least(${seq}, (select last_seq from ${conversations} where id = ${conversationId})))`,
      })
      .where(
        and(
          eq(conversationMembers.conversationId, conversationId),
          eq(conversationMembers.userId, userId),
          isNull(conversationMembers.leftAt),
        ),
      )
      .returning({ lastReadSeq: conversationMembers.lastReadSeq });
    return row?.lastReadSeq;
  }

  /** Active members' read positions, for "read by N". */
  async readPositions(
    db: Executor,
    conversationId: string,
  ): Promise<{ userId: string; lastReadSeq: number }[]> {
    return db
      .select({ userId: conversationMembers.userId, lastReadSeq: conversationMembers.lastReadSeq })
      .from(conversationMembers)
      .where(and(eq(conversationMembers.conversationId, conversationId), isNull(conversationMembers.leftAt)));
  }

  async activeConversationIds(db: Executor, userId: string): Promise<string[]> {
    // Read on every connect (twice: see chat.sockets.ts): built once (see runPrepared).
    this.activeStatement ??= db
      .select({ id: conversationMembers.conversationId })
      .from(conversationMembers)
      .where(
        and(eq(conversationMembers.userId, sql.placeholder('userId')), isNull(conversationMembers.leftAt)),
      )
      .prepare('chat_active_conversations');
    const rows = await runPrepared(this.activeStatement, db, { userId });
    return rows.map((r) => r.id);
  }
  private activeStatement: PreparedStatement<{ id: string }[]> | undefined;

  /**
   * Those of `userIds` who share a group or an event with the viewer: both active members of one of its (not
   * archived) group or event conversations. The viewer counts as sharing with themselves.
   */
  async sharingCommunity(db: Executor, viewerId: string, userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const rows = await queryRows<{ user_id: string }>(
      db,
      sql`select distinct b.user_id from ${conversationMembers} a
          join ${conversationMembers} b on b.conversation_id = a.conversation_id
          join ${conversations} c on c.id = a.conversation_id
          where a.user_id = ${viewerId} and a.left_at is null and b.left_at is null
            and c.kind <> 'direct' and c.archived_at is null and b.user_id in ${userIds}`,
    );
    const out = new Set(rows.map((r) => r.user_id));
    if (userIds.includes(viewerId)) out.add(viewerId);
    return out;
  }

  /** The group and event conversations a person is in: the rooms that may hear about them. */
  async communityConversationIds(db: Executor, userId: string): Promise<string[]> {
    // Read on every presence announcement (each connect and disconnect): built once (see runPrepared).
    this.communityStatement ??= db
      .select({ id: conversations.id })
      .from(conversationMembers)
      .innerJoin(conversations, eq(conversations.id, conversationMembers.conversationId))
      .where(
        and(
          eq(conversationMembers.userId, sql.placeholder('userId')),
          isNull(conversationMembers.leftAt),
          sql`${conversations.kind} <> 'direct'`,
          isNull(conversations.archivedAt),
        ),
      )
      .prepare('chat_community_conversations');
    const rows = await runPrepared(this.communityStatement, db, { userId });
    return rows.map((r) => r.id);
  }
  private communityStatement: PreparedStatement<{ id: string }[]> | undefined;

  async listMembers(
    db: Executor,
    conversationId: string,
  ): Promise<
    {
      userId: string;
      nickname: string;
      avatarUrl: string | null;
      role: 'member' | 'admin';
      lastReadSeq: number;
    }[]
  > {
    return db
      .select({
        userId: conversationMembers.userId,
        nickname: users.nickname,
        avatarUrl: users.avatarUrl,
        role: conversationMembers.role,
        lastReadSeq: conversationMembers.lastReadSeq,
      })
      .from(conversationMembers)
      .innerJoin(users, eq(users.id, conversationMembers.userId))
      .where(and(eq(conversationMembers.conversationId, conversationId), isNull(conversationMembers.leftAt)))
      .orderBy(asc(conversationMembers.joinedAt));
  }

  /**
   * The caller's conversations with their unread counts and latest message, newest activity first. Unread
   * counts others' messages after the read position (and, for `since_join`, after joining).
   */
  async summaries(db: Executor, userId: string): Promise<ConversationSummary[]> {
    const rows = await queryRows<{
      id: string;
      role: 'member' | 'admin';
      last_read_seq: string | number;
      unread: number;
      last_message_id: string | null;
    }>(
      db,
      sql`select c.id, m.role, m.last_read_seq,
            (select count(*)::int from ${messages} x
              where x.conversation_id = c.id
                and x.seq > greatest(m.last_read_seq, case when c.history_visibility = 'since_join' then m.joined_seq else 0 end)
                and x.sender_id is distinct from m.user_id and x.deleted_at is null and x.kind <> 'system') as unread,
            (select x.id from ${messages} x where x.conversation_id = c.id
                and x.seq > case when c.history_visibility = 'since_join' then m.joined_seq else 0 end
              order by x.seq desc limit 1) as last_message_id
          from ${conversationMembers} m join ${conversations} c on c.id = m.conversation_id
          where m.user_id = ${userId} and m.left_at is null`,
    );
    if (rows.length === 0) return [];
    const convs = await db
      .select()
      .from(conversations)
      .where(sql`${conversations.id} in ${rows.map((r) => r.id)}`);
    const byId = new Map(convs.map((c) => [c.id, c]));
    const lastIds = rows.map((r) => r.last_message_id).filter((id): id is string => id !== null);
    const lasts =
      lastIds.length === 0
        ? []
        : (
            await db
              .select(withSender)
              .from(messages)
              .leftJoin(users, eq(users.id, messages.senderId))
              .where(sql`${messages.id} in ${lastIds}`)
          ).map(flatten);
    const lastById = new Map(lasts.map((m) => [m.id, m]));
    return rows
      .map((r) => ({
        conversation: byId.get(r.id)!,
        role: r.role,
        lastReadSeq: Number(r.last_read_seq),
        unread: r.unread,
        lastMessage: r.last_message_id ? (lastById.get(r.last_message_id) ?? null) : null,
      }))
      .sort(
        (a, b) =>
          (b.lastMessage?.createdAt ?? b.conversation.createdAt).getTime() -
          (a.lastMessage?.createdAt ?? a.conversation.createdAt).getTime(),
      );
  }

  async isActiveUser(db: Executor, id: string): Promise<boolean> {
    const [row] = await db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.id, id), isNull(users.deletedAt)));
    return row !== undefined;
  }

  async people(
    db: Executor,
    ids: string[],
  ): Promise<Map<string, { nickname: string; avatarUrl: string | null }>> {
    if (ids.length === 0) return new Map();
    const rows = await db
      .select({ id: users.id, nickname: users.nickname, avatarUrl: users.avatarUrl })
      .from(users)
      .where(sql`${users.id} in ${ids}`);
    return new Map(rows.map((r) => [r.id, r]));
  }

  // messages

  async insertMessage(tx: Executor, values: NewMessage): Promise<MessageRow> {
    const [row] = await tx.insert(messages).values(values).returning();
    return row!;
  }

  /**
   * A member's text message, in one statement: the `chat_send` function (migration 0014) locks the conversation,
   * checks the sender after the lock, and writes the message with the next number, the conversation's counter,
   * the sender's read position and the outbox event. Run on the database, not in a transaction: the statement is
   * its own transaction, one round trip where BEGIN, four statements and COMMIT took six.
   */
  async send(
    db: Executor,
    values: {
      conversationId: string;
      senderId: string;
      clientId: string;
      body: string;
      /** The outbox event's `dispatched_at` (see `Outbox.preDispatched`). */
      dispatchedAt: Date | null;
    },
  ): Promise<SendOutcome> {
    const [row] = await retryingConflicts(() =>
      runPrepared(this.statements(db).send, db, {
        ...values,
        dispatchedAt: values.dispatchedAt?.toISOString() ?? null,
      }),
    );
    const { status, senderNickname, senderAvatarUrl, ...message } = row!;
    // A refusal comes back with every message field null: only the status means anything then.
    if (status === 'sent' || status === 'duplicate') {
      return { status, message: { ...message, senderNickname, senderAvatarUrl } };
    }
    return { status };
  }

  async findByClientId(
    db: Executor,
    conversationId: string,
    senderId: string,
    clientId: string,
  ): Promise<MessageRow | undefined> {
    const [row] = await db
      .select()
      .from(messages)
      .where(
        and(
          eq(messages.conversationId, conversationId),
          eq(messages.senderId, senderId),
          eq(messages.clientId, clientId),
        ),
      );
    return row;
  }

  async findMessage(db: Executor, conversationId: string, id: string): Promise<MessageRow | undefined> {
    const [row] = await db
      .select()
      .from(messages)
      .where(and(eq(messages.conversationId, conversationId), eq(messages.id, id)));
    return row;
  }

  /** Edits or tombstones a message under the next change number (the conversation row must be locked). */
  async changeMessage(
    tx: Executor,
    conversationId: string,
    id: string,
    fields: Partial<NewMessage>,
  ): Promise<MessageRow> {
    const [conv] = await tx
      .update(conversations)
      .set({ lastChange: sql`${conversations.lastChange} + 1` })
      .where(eq(conversations.id, conversationId))
      .returning({ lastChange: conversations.lastChange });
    const [row] = await tx
      .update(messages)
      .set({ ...fields, changeSeq: conv!.lastChange })
      .where(eq(messages.id, id))
      .returning();
    return row!;
  }

  /** Messages after `afterSeq` (oldest first) or before `beforeSeq` (newest first), never at or below `minSeq`. */
  async page(
    db: Executor,
    conversationId: string,
    opts: { afterSeq?: number; beforeSeq?: number; minSeq: number; limit: number },
  ): Promise<MessageWithSender[]> {
    const forward = opts.beforeSeq === undefined;
    const rows = await db
      .select(withSender)
      .from(messages)
      .leftJoin(users, eq(users.id, messages.senderId))
      .where(
        and(
          eq(messages.conversationId, conversationId),
          gt(messages.seq, Math.max(opts.minSeq, opts.afterSeq ?? 0)),
          forward ? undefined : sql`${messages.seq} < ${opts.beforeSeq}`,
        ),
      )
      .orderBy(forward ? asc(messages.seq) : desc(messages.seq))
      .limit(opts.limit);
    return rows.map(flatten);
  }

  /** Messages up to `maxSeq` edited or deleted after change `sinceChange`: what an away client missed. */
  async changesSince(
    db: Executor,
    conversationId: string,
    opts: { sinceChange: number; maxSeq: number; minSeq: number; limit: number },
  ): Promise<MessageWithSender[]> {
    const rows = await db
      .select(withSender)
      .from(messages)
      .leftJoin(users, eq(users.id, messages.senderId))
      .where(
        and(
          eq(messages.conversationId, conversationId),
          gt(messages.changeSeq, opts.sinceChange),
          lte(messages.seq, opts.maxSeq),
          gt(messages.seq, opts.minSeq),
        ),
      )
      .orderBy(asc(messages.changeSeq))
      .limit(opts.limit);
    return rows.map(flatten);
  }

  async search(
    db: Executor,
    conversationId: string,
    q: string,
    opts: { minSeq: number; beforeSeq?: number; limit: number },
  ): Promise<MessageWithSender[]> {
    const pattern = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = await db
      .select(withSender)
      .from(messages)
      .leftJoin(users, eq(users.id, messages.senderId))
      .where(
        and(
          eq(messages.conversationId, conversationId),
          gt(messages.seq, opts.minSeq),
          opts.beforeSeq !== undefined ? sql`${messages.seq} < ${opts.beforeSeq}` : undefined,
          isNull(messages.deletedAt),
          sql`${messages.body} ilike ${pattern}`,
        ),
      )
      .orderBy(desc(messages.seq))
      .limit(opts.limit);
    return rows.map(flatten);
  }

  /**
   * Moves the search index's pending entries into the index (`gin_clean_pending_list`), and returns how many
   * pending pages that emptied, or null when another node was doing it (the entries are then its to move).
   * PostgreSQL keeps new entries of a GIN index in a pending list and merges it into the index once it passes
   * `gin_pending_list_limit` (4 MB), inside whichever insert crossed the limit: at 500 messages/s that is one
   * send every few seconds taking 100-200 ms instead of a few, holding its conversation's lock throughout.
   * Merging from here, in small steps, keeps the list short so no send has to; inserts go on meanwhile.
   */
  async sweepSearchIndex(db: Executor): Promise<number | null> {
    const [row] = await queryRows<{ pages: string | number | null }>(
      db,
      sql`select case when pg_try_advisory_xact_lock(${ADVISORY_LOCKS.chatSearchIndexSweep})
        then gin_clean_pending_list('messages_body_trgm_idx'::regclass) end as pages`,
    );
    const pages = row?.pages ?? null;
    return pages === null ? null : Number(pages);
  }
}

const p = sql.placeholder;

/** The statements of the hot path (a send, the conversation lock), with placeholders for their values. */
function sendStatements(db: Executor) {
  const lock = db
    .select()
    .from(conversations)
    .where(eq(conversations.id, p('id')))
    .for('update')
    .prepare('chat_lock_conversation');
  // The function returns the message as one composite column; each field is taken out of it and mapped by the
  // table's own column, so the row has the JS types a select of `messages` gives (Dates, numbers).
  const message = Object.fromEntries(
    Object.entries(getTableColumns(messages)).map(([key, column]) => [
      key,
      sql`(s.message).${sql.identifier(column.name)}`.mapWith(column),
    ]),
  ) as { [K in keyof MessageRow]: SQL<MessageRow[K]> };
  const send = db
    .select({
      status: sql<SendStatus>`s.status`,
      ...message,
      senderNickname: sql<string | null>`s.sender_nickname`,
      senderAvatarUrl: sql<string | null>`s.sender_avatar_url`,
    })
    .from(
      sql`chat_send(${p('conversationId')}::uuid, ${p('senderId')}::uuid, ${p('clientId')}::text, ${p('body')}::text, ${p('dispatchedAt')}::timestamptz) as s`,
    )
    .prepare('chat_send');
  return { lock, send };
}
