import type { Executor } from '../../infra/db/database.js';
import type { TxContext, UnitOfWork } from '../../infra/outbox/outbox.js';
import type { RealtimePublisher } from '../../infra/realtime/publisher.js';
import type { Actor } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { userRoom } from '../accounts/accounts.module.js';
import type { BlockDirectory } from '../blocks/blocks.service.js';
import type { ChatRepository, ConversationRow } from './chat.repository.js';
import { conversationRoom, type ChatService } from './chat.service.js';

type Scope = { groupId: string } | { eventId: string };

/**
 * Keeps each conversation's members in step with its group's members and its event's people going, from the
 * domain events those modules publish (outbox projections: in the transaction that publishes the event, so a
 * removed member can never read on while the relay catches up). Joins and departures are announced by system
 * messages, and the person's sockets join or leave the conversation's room right after commit, on whichever node
 * holds them.
 */
export class ChatMembership {
  constructor(
    private readonly deps: {
      repo: ChatRepository;
      db: Executor;
      unitOfWork: UnitOfWork;
      realtime: RealtimePublisher;
      chat: ChatService;
      blocks: BlockDirectory;
    },
  ) {}

  /** Creates the conversation of a new group or event, with its owner or host as admin. */
  async open(ctx: TxContext, scope: Scope, adminId: string, historyVisibility: 'all' | 'since_join' = 'all') {
    const conversation = await this.deps.repo.ensureConversation(ctx.tx, {
      kind: 'groupId' in scope ? 'group' : 'event',
      ...scope,
      historyVisibility,
    });
    await this.add(ctx, scope, adminId, 'admin', { announce: false });
    return conversation;
  }

  /** Adds (or brings back) a member; announced with a system message unless told otherwise. */
  async add(
    ctx: TxContext,
    scope: Scope,
    userId: string,
    role: 'member' | 'admin',
    opts: { announce?: boolean } = {},
  ): Promise<void> {
    const conversation = await this.lockFor(ctx, scope);
    if (!conversation) return;
    const { wasActive } = await this.deps.repo.putMember(
      ctx.tx,
      conversation.id,
      userId,
      role,
      conversation.lastSeq,
    );
    if (wasActive) return;
    ctx.afterCommit(() => this.deps.realtime.join(userRoom(userId), conversationRoom(conversation.id)));
    if (opts.announce ?? true) await this.announce(ctx, conversation, { type: 'joined', userId });
  }

  /** Ends a membership; the person's sockets leave the room at once. */
  async remove(ctx: TxContext, scope: Scope, userId: string, how: 'left' | 'removed'): Promise<void> {
    const conversation = await this.lockFor(ctx, scope);
    if (!conversation) return;
    if (!(await this.deps.repo.markLeft(ctx.tx, conversation.id, userId))) return;
    ctx.afterCommit(() => this.deps.realtime.leave(userRoom(userId), conversationRoom(conversation.id)));
    await this.announce(ctx, conversation, { type: how, userId });
  }

  async setRole(ctx: TxContext, scope: Scope, userId: string, role: 'member' | 'admin'): Promise<void> {
    const conversation = await this.deps.repo.findFor(ctx.tx, scope);
    if (conversation) await this.deps.repo.setRole(ctx.tx, conversation.id, userId, role);
  }

  /** A deleted group's or cancelled event's conversation stays readable and takes no more messages. */
  async archive(ctx: TxContext, scope: Scope): Promise<void> {
    const conversation = await this.deps.repo.findFor(ctx.tx, scope);
    if (conversation && !conversation.archivedAt) {
      await this.deps.repo.updateConversation(ctx.tx, conversation.id, { archivedAt: new Date() });
    }
  }

  /** The direct conversation between the caller and another person, made on first use. */
  async openDirect(actor: Actor, otherUserId: string): Promise<ConversationRow> {
    if (otherUserId === actor.userId) {
      throw new AppError('VALIDATION_FAILED', 'A direct conversation needs another person.', {
        details: [{ path: '/body/userId', message: 'must not be yourself' }],
      });
    }
    if (!(await this.deps.repo.isActiveUser(this.deps.db, otherUserId))) {
      throw new AppError('NOT_FOUND', 'No such user.');
    }
    if (await this.deps.blocks.between(actor.userId, otherUserId)) {
      throw new AppError('USER_BLOCKED', 'One of you has blocked the other.');
    }
    const directKey = [actor.userId, otherUserId].sort().join(':');
    return this.deps.unitOfWork(async (ctx) => {
      const conversation = await this.deps.repo.ensureConversation(ctx.tx, { kind: 'direct', directKey });
      for (const userId of [actor.userId, otherUserId]) {
        const { wasActive } = await this.deps.repo.putMember(ctx.tx, conversation.id, userId, 'member', 0);
        if (!wasActive)
          ctx.afterCommit(() => this.deps.realtime.join(userRoom(userId), conversationRoom(conversation.id)));
      }
      return conversation;
    });
  }

  private async lockFor(ctx: TxContext, scope: Scope): Promise<ConversationRow | undefined> {
    const found = await this.deps.repo.findFor(ctx.tx, scope);
    return found && this.deps.repo.lockConversation(ctx.tx, found.id);
  }

  private async announce(
    ctx: TxContext,
    conversation: ConversationRow,
    system: { type: 'joined' | 'left' | 'removed'; userId: string },
  ): Promise<void> {
    const row = await this.deps.chat.insert(ctx, conversation, { kind: 'system', system });
    ctx.afterCommit(() => this.deps.chat.broadcast(row));
  }
}
