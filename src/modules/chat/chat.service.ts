import type { Clock } from '../../infra/clock.js';
import { readAll, type Executor } from '../../infra/db/database.js';
import type { Outbox, TxContext, UnitOfWork } from '../../infra/outbox/outbox.js';
import type { RealtimePublisher } from '../../infra/realtime/publisher.js';
import type { Actor } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import type { BlockDirectory } from '../blocks/blocks.service.js';
import { toMessage, type MessageView } from './chat.dto.js';
import { canModerate, historyFloor } from './chat.policy.js';
import type { SearchIndexUpkeep } from './search-index.service.js';
import type {
  ChatRepository,
  ConversationRow,
  ConversationSummary,
  MemberRow,
  MessageRow,
  MessageWithSender,
} from './chat.repository.js';

export const CONVERSATION_ROOM_PREFIX = 'conv:';
export const conversationRoom = (id: string) => `${CONVERSATION_ROOM_PREFIX}${id}`;

const SYNC_LIMIT = 200;

export interface SyncResult {
  messages: MessageView[];
  changes: MessageView[];
  lastSeq: number;
  lastChange: number;
  /** More messages after the last one returned: sync again from its seq. */
  hasMore: boolean;
}

/**
 * Conversations and their messages. A message is numbered and written in one transaction that holds the
 * conversation's row, and acknowledged only after that commits; a retry with the same client id finds the
 * message it made. Delivery to sockets is best effort and happens after commit: a client that missed anything
 * asks for what follows its last sequence number (`sync`), and gets every message once, in order.
 */
export class ChatService {
  constructor(
    private readonly deps: {
      repo: ChatRepository;
      db: Executor;
      clock: Clock;
      unitOfWork: UnitOfWork;
      /** What a send, which writes its outbox event itself (`chat_send`), needs of the outbox. */
      outbox: Pick<Outbox, 'preDispatched' | 'notePublished'>;
      realtime: RealtimePublisher;
      blocks: Pick<BlockDirectory, 'between'>;
      searchIndex: Pick<SearchIndexUpkeep, 'written'>;
    },
  ) {}

  /**
   * In a direct conversation, nothing new passes while either person has blocked the other: no message (checked
   * inside `chat_send`), no edit, no typing notice. Deleting one's own message stays possible.
   */
  private async refuseBlockedDirect(exec: Executor, conversation: ConversationRow, userId: string) {
    if (conversation.kind !== 'direct' || !conversation.directKey) return;
    const other = conversation.directKey.split(':').find((id) => id !== userId);
    if (other && (await this.deps.blocks.between(userId, other, exec))) {
      throw new AppError('USER_BLOCKED', 'One of you has blocked the other.');
    }
  }

  /** Whether the caller may tell the conversation they are typing (a member, and no block in a direct one). */
  async typing(actor: Actor, conversationId: string): Promise<void> {
    const { conversation } = await this.access(conversationId, actor.userId);
    await this.refuseBlockedDirect(this.deps.db, conversation, actor.userId);
  }

  /**
   * The tail of this process's sends per conversation. Sends into one conversation take its row lock one at a
   * time anyway; queueing them here first means a burst into one busy conversation waits in memory instead of
   * holding pooled connections on the lock, so the other conversations keep theirs.
   */
  private readonly sendQueues = new Map<string, Promise<unknown>>();

  private inTurn<T>(conversationId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.sendQueues.get(conversationId) ?? Promise.resolve();
    const run = previous.then(work);
    const tail = run.catch(() => undefined);
    this.sendQueues.set(conversationId, tail);
    void tail.then(() => {
      if (this.sendQueues.get(conversationId) === tail) this.sendQueues.delete(conversationId);
    });
    return run;
  }

  /** The conversation and the caller's membership; 404 for anyone who is not a member. */
  async access(
    conversationId: string,
    userId: string,
    exec: Executor = this.deps.db,
  ): Promise<{ conversation: ConversationRow; member: MemberRow }> {
    const [conversation, member] = await readAll(
      exec,
      () => this.deps.repo.findConversation(exec, conversationId),
      () => this.deps.repo.findMember(exec, conversationId, userId),
    );
    if (!conversation || !member || member.leftAt !== null) {
      throw new AppError('NOT_FOUND', 'No such conversation.');
    }
    return { conversation, member };
  }

  async send(
    actor: Actor,
    conversationId: string,
    input: { clientId: string; body: string },
  ): Promise<{ message: MessageView; duplicate: boolean }> {
    const body = input.body.trim();
    if (body.length === 0) {
      throw new AppError('VALIDATION_FAILED', 'The message is empty.', {
        details: [{ path: '/body', message: 'must not be blank' }],
      });
    }
    // One statement, its own transaction (see `ChatRepository.send`): the lock, every check after it, the message
    // and its outbox event.
    // The event's delivery time is taken when the send's turn comes, not before it queued, so it never precedes
    // the message's own `created_at`.
    let dispatchedAt: Date | null = null;
    const outcome = await this.inTurn(conversationId, () => {
      dispatchedAt = this.deps.outbox.preDispatched('chat.message_sent');
      return this.deps.repo.send(this.deps.db, {
        conversationId,
        senderId: actor.userId,
        clientId: input.clientId,
        body,
        dispatchedAt,
      });
    });
    switch (outcome.status) {
      case 'not_found':
        throw new AppError('NOT_FOUND', 'No such conversation.');
      case 'archived':
        throw new AppError('CONVERSATION_ARCHIVED', 'This conversation is closed.');
      case 'blocked':
        throw new AppError('USER_BLOCKED', 'One of you has blocked the other.');
      case 'duplicate':
        return { message: toMessage(outcome.message), duplicate: true };
      case 'sent':
        break;
    }
    // A subscriber takes the event: the relay learns of it here, as `unitOfWork` would have told it.
    if (!dispatchedAt) this.deps.outbox.notePublished();
    this.deps.searchIndex.written();
    // Everything the broadcast needs came back with the commit: nothing after it can fail and leave a stored message
    // unannounced.
    const message = toMessage(outcome.message);
    this.deps.realtime.emit(conversationRoom(conversationId), 'chat:message', message);
    return { message, duplicate: false };
  }

  /** Everything after `afterSeq` (and what changed after change `sinceChange`), in order, at most 200 at a time. */
  async sync(
    actor: Actor,
    conversationId: string,
    input: { afterSeq: number; sinceChange?: number },
  ): Promise<SyncResult> {
    const { conversation, member } = await this.access(conversationId, actor.userId);
    const minSeq = historyFloor(conversation, member);
    const page = await this.deps.repo.page(this.deps.db, conversationId, {
      afterSeq: input.afterSeq,
      minSeq,
      limit: SYNC_LIMIT + 1,
    });
    const changes =
      input.sinceChange === undefined
        ? []
        : await this.deps.repo.changesSince(this.deps.db, conversationId, {
            sinceChange: input.sinceChange,
            maxSeq: input.afterSeq,
            minSeq,
            limit: SYNC_LIMIT,
          });
    const shown = page.slice(0, SYNC_LIMIT);
    const positions = await this.deps.repo.readPositions(this.deps.db, conversationId);
    return {
      messages: shown.map((m) => toMessage(m, readCount(m, positions))),
      changes: changes.map((m) => toMessage(m, readCount(m, positions))),
      lastSeq: conversation.lastSeq,
      lastChange: conversation.lastChange,
      hasMore: page.length > SYNC_LIMIT,
    };
  }

  /** Older messages, before `beforeSeq` (or the latest), oldest first. */
  async history(
    actor: Actor,
    conversationId: string,
    input: { beforeSeq?: number; afterSeq?: number; limit: number },
  ): Promise<{ messages: MessageView[]; hasMore: boolean }> {
    if (input.beforeSeq !== undefined && input.afterSeq !== undefined) {
      throw new AppError('VALIDATION_FAILED', 'Give beforeSeq or afterSeq, not both.', {
        details: [{ path: '/afterSeq', message: 'must not be given with beforeSeq' }],
      });
    }
    const { conversation, member } = await this.access(conversationId, actor.userId);
    const page = await this.deps.repo.page(this.deps.db, conversationId, {
      ...(input.afterSeq !== undefined
        ? { afterSeq: input.afterSeq }
        : { beforeSeq: input.beforeSeq ?? Number.MAX_SAFE_INTEGER }),
      minSeq: historyFloor(conversation, member),
      limit: input.limit + 1,
    });
    const shown = page.slice(0, input.limit);
    if (input.afterSeq === undefined) shown.reverse();
    const positions = await this.deps.repo.readPositions(this.deps.db, conversationId);
    return {
      messages: shown.map((m) => toMessage(m, readCount(m, positions))),
      hasMore: page.length > input.limit,
    };
  }

  async search(
    actor: Actor,
    conversationId: string,
    input: { q: string; beforeSeq?: number; limit: number },
  ): Promise<MessageView[]> {
    const { conversation, member } = await this.access(conversationId, actor.userId);
    const found = await this.deps.repo.search(this.deps.db, conversationId, input.q, {
      minSeq: historyFloor(conversation, member),
      ...(input.beforeSeq !== undefined ? { beforeSeq: input.beforeSeq } : {}),
      limit: input.limit,
    });
    return found.map((m) => toMessage(m));
  }

  /** Moves the caller's read position forward and tells the room (for "read by N"). */
  async markRead(actor: Actor, conversationId: string, seq: number): Promise<number> {
    await this.access(conversationId, actor.userId);
    const lastReadSeq = (await this.deps.repo.markRead(this.deps.db, conversationId, actor.userId, seq)) ?? 0;
    this.deps.realtime.emit(conversationRoom(conversationId), 'chat:read', {
      conversationId,
      userId: actor.userId,
      seq: lastReadSeq,
    });
    return lastReadSeq;
  }

  async edit(actor: Actor, conversationId: string, messageId: string, body: string): Promise<MessageView> {
    const text = body.trim();
    if (text.length === 0) {
      throw new AppError('VALIDATION_FAILED', 'The message is empty.', {
        details: [{ path: '/body/body', message: 'must not be blank' }],
      });
    }
    const edited = await this.change(
      actor,
      conversationId,
      messageId,
      (message) => {
        if (message.senderId !== actor.userId)
          throw new AppError('FORBIDDEN', 'You can edit only your own messages.');
        if (message.kind !== 'text') throw new AppError('FORBIDDEN', 'This message cannot be edited.');
        return { body: text, editedAt: this.deps.clock.now() };
      },
      { refuseBlocked: true },
    );
    this.deps.searchIndex.written();
    return edited;
  }

  /** Deletes a message, leaving a tombstone: the sender deletes their own, admins anyone's. */
  async remove(actor: Actor, conversationId: string, messageId: string): Promise<MessageView> {
    return this.change(actor, conversationId, messageId, (message, member) => {
      if (message.senderId !== actor.userId && !canModerate(member)) {
        throw new AppError('FORBIDDEN', 'You can delete only your own messages.');
      }
      if (message.kind === 'system') throw new AppError('FORBIDDEN', 'System messages cannot be deleted.');
      return { body: null, mediaId: null, deletedAt: this.deps.clock.now() };
    });
  }

  /** One pinned notice per conversation, set or cleared by its admins; everyone sees a system message. */
  async setNotice(actor: Actor, conversationId: string, text: string | null): Promise<ConversationRow> {
    const notice = text?.trim() || null;
    let posted: MessageRow | undefined;
    const updated = await this.deps.unitOfWork(async (ctx) => {
      const conversation = await this.deps.repo.lockConversation(ctx.tx, conversationId);
      const member = conversation && (await this.deps.repo.findMember(ctx.tx, conversationId, actor.userId));
      if (!conversation || !member || member.leftAt !== null) {
        throw new AppError('NOT_FOUND', 'No such conversation.');
      }
      if (!canModerate(member)) throw new AppError('FORBIDDEN', 'Only the host or admins pin notices.');
      if (conversation.archivedAt)
        throw new AppError('CONVERSATION_ARCHIVED', 'This conversation is closed.');
      const row = await this.deps.repo.updateConversation(ctx.tx, conversationId, {
        noticeText: notice,
        noticeBy: notice ? actor.userId : null,
        noticeAt: notice ? this.deps.clock.now() : null,
      });
      posted = await this.insert(ctx, row, {
        kind: 'system',
        system: { type: notice ? 'notice_set' : 'notice_cleared', userId: actor.userId },
      });
      return row;
    });
    this.deps.realtime.emit(conversationRoom(conversationId), 'chat:notice', {
      conversationId,
      text: updated.noticeText,
      by: updated.noticeBy,
      at: updated.noticeAt?.toISOString() ?? null,
    });
    if (posted) await this.broadcast(posted);
    return updated;
  }

  async setHistoryVisibility(
    actor: Actor,
    conversationId: string,
    visibility: 'all' | 'since_join',
  ): Promise<ConversationRow> {
    const { member } = await this.access(conversationId, actor.userId);
    if (!canModerate(member)) throw new AppError('FORBIDDEN', 'Only the host or admins change this.');
    return this.deps.repo.updateConversation(this.deps.db, conversationId, { historyVisibility: visibility });
  }

  list(actor: Actor): Promise<ConversationSummary[]> {
    return this.deps.repo.summaries(this.deps.db, actor.userId);
  }

  async get(actor: Actor, conversationId: string) {
    const { conversation, member } = await this.access(conversationId, actor.userId);
    const members = await this.deps.repo.listMembers(this.deps.db, conversationId);
    return { conversation, member, members };
  }

  /** The conversation of an event (or group) the caller is in. */
  async forScope(actor: Actor, scope: { eventId: string } | { groupId: string }) {
    const conversation = await this.deps.repo.findFor(this.deps.db, scope);
    if (!conversation) throw new AppError('NOT_FOUND', 'No such conversation.');
    return this.access(conversation.id, actor.userId);
  }

  conversationIdsOf(userId: string): Promise<string[]> {
    return this.deps.repo.activeConversationIds(this.deps.db, userId);
  }

  /** Writes a message with the next number inside the caller's transaction (the conversation row is locked). */
  async insert(
    ctx: TxContext,
    conversation: ConversationRow,
    values: Omit<Parameters<ChatRepository['insertMessage']>[1], 'conversationId' | 'seq'>,
  ): Promise<MessageRow> {
    const seq = await this.deps.repo.nextSeq(ctx.tx, conversation.id);
    return this.deps.repo.insertMessage(ctx.tx, { ...values, conversationId: conversation.id, seq });
  }

  /** Sends a committed message to the conversation's room. */
  async broadcast(row: MessageRow): Promise<void> {
    const people = await this.people([row]);
    this.deps.realtime.emit(conversationRoom(row.conversationId), 'chat:message', toMessage(people(row)));
  }

  private async change(
    actor: Actor,
    conversationId: string,
    messageId: string,
    patch: (message: MessageRow, member: MemberRow) => Partial<MessageRow>,
    opts: { refuseBlocked?: boolean } = {},
  ): Promise<MessageView> {
    const view = await this.deps.unitOfWork(async (ctx) => {
      const conversation = await this.deps.repo.lockConversation(ctx.tx, conversationId);
      const member = conversation && (await this.deps.repo.findMember(ctx.tx, conversationId, actor.userId));
      if (!conversation || !member || member.leftAt !== null) {
        throw new AppError('NOT_FOUND', 'No such conversation.');
      }
      const message = await this.deps.repo.findMessage(ctx.tx, conversationId, messageId);
      if (!message || message.seq <= historyFloor(conversation, member)) {
        throw new AppError('NOT_FOUND', 'No such message.');
      }
      if (message.deletedAt) throw new AppError('MESSAGE_DELETED', 'The message was deleted.');
      if (conversation.archivedAt)
        throw new AppError('CONVERSATION_ARCHIVED', 'This conversation is closed.');
      if (opts.refuseBlocked) await this.refuseBlockedDirect(ctx.tx, conversation, actor.userId);
      const changed = await this.deps.repo.changeMessage(
        ctx.tx,
        conversationId,
        message.id,
        patch(message, member),
      );
      return this.view(ctx.tx, changed);
    });
    this.deps.realtime.emit(conversationRoom(conversationId), 'chat:message_updated', view);
    return view;
  }

  /** One message as clients see it, read with the executor given (inside the transaction that wrote it). */
  private async view(exec: Executor, row: MessageRow): Promise<MessageView> {
    const people = await this.people([row], exec);
    return toMessage(people(row));
  }

  /** Attaches senders' names to bare message rows. */
  private async people(
    rows: MessageRow[],
    exec: Executor = this.deps.db,
  ): Promise<(row: MessageRow) => MessageWithSender> {
    const ids = [...new Set(rows.map((r) => r.senderId).filter((id): id is string => id !== null))];
    const cards = await this.deps.repo.people(exec, ids);
    return (row) => {
      const card = row.senderId ? cards.get(row.senderId) : undefined;
      return { ...row, senderNickname: card?.nickname ?? null, senderAvatarUrl: card?.avatarUrl ?? null };
    };
  }
}

/** How many members other than the sender have read up to this message. */
function readCount(message: MessageRow, positions: { userId: string; lastReadSeq: number }[]): number {
  let n = 0;
  for (const p of positions) if (p.userId !== message.senderId && p.lastReadSeq >= message.seq) n++;
  return n;
}
