import type { Infra } from '../../infra/infra.js';
import type { BlockDirectory } from '../blocks/blocks.service.js';
import { ChatRepository } from './chat.repository.js';
import { ChatService } from './chat.service.js';
import { registerChatSockets } from './chat.sockets.js';
import { ChatMembership } from './membership.service.js';
import { SearchIndexUpkeep } from './search-index.service.js';

/**
 * Chat: the services, the socket events, the search index's upkeep (started with the server), and the outbox
 * projections that open a conversation for every event (and group) and keep its members in step with the people
 * going (and the group's members), in the transactions that change those.
 */
export function createChatModule(infra: Infra, deps: { blocks: BlockDirectory }) {
  const { database, outbox, realtime, clock } = infra;
  const repo = new ChatRepository();
  const db = database.db;
  const { blocks } = deps;
  const searchIndex = new SearchIndexUpkeep({
    repo,
    db,
    logger: infra.logger,
    intervalMs: infra.config.chat.searchIndexSweepMs,
  });
  const chat = new ChatService({
    repo,
    db,
    clock,
    unitOfWork: outbox.unitOfWork,
    outbox,
    realtime,
    blocks,
    searchIndex,
  });
  const membership = new ChatMembership({ repo, db, unitOfWork: outbox.unitOfWork, realtime, chat, blocks });
  registerChatSockets(infra.gateway, chat);

  outbox.project('chat.event-conversations', ['event.created'], async (e, ctx) => {
    await membership.open(ctx, { eventId: e.payload.eventId }, e.payload.hostId);
  });
  outbox.project(
    'chat.event-members',
    ['event.joined', 'event.promoted', 'event.application_decided'],
    async (e, ctx) => {
      const going = e.topic === 'event.promoted' || ('status' in e.payload && e.payload.status === 'going');
      if (going) await membership.add(ctx, { eventId: e.payload.eventId }, e.payload.userId, 'member');
    },
  );
  outbox.project('chat.event-departures', ['event.left', 'event.kicked'], async (e, ctx) => {
    await membership.remove(
      ctx,
      { eventId: e.payload.eventId },
      e.payload.userId,
      e.topic === 'event.kicked' ? 'removed' : 'left',
    );
  });
  outbox.project('chat.event-host', ['event.host_changed'], async (e, ctx) => {
    await membership.setRole(ctx, { eventId: e.payload.eventId }, e.payload.from, 'member');
    await membership.add(ctx, { eventId: e.payload.eventId }, e.payload.to, 'admin', { announce: false });
  });
  outbox.project('chat.event-closed', ['event.cancelled'], async (e, ctx) => {
    await membership.archive(ctx, { eventId: e.payload.eventId });
  });

  // Groups: the conversation opens with the group (its owner as admin), follows its members and their roles,
  // and is archived when the group is deleted.
  outbox.project('chat.group-conversations', ['group.created'], async (e, ctx) => {
    await membership.open(ctx, { groupId: e.payload.groupId }, e.payload.ownerId);
  });
  outbox.project('chat.group-members', ['group.member_joined'], async (e, ctx) => {
    await membership.add(ctx, { groupId: e.payload.groupId }, e.payload.userId, 'member');
  });
  outbox.project('chat.group-departures', ['group.member_left', 'group.member_removed'], async (e, ctx) => {
    await membership.remove(
      ctx,
      { groupId: e.payload.groupId },
      e.payload.userId,
      e.topic === 'group.member_removed' ? 'removed' : 'left',
    );
  });
  outbox.project('chat.group-roles', ['group.role_changed'], async (e, ctx) => {
    const role = e.payload.to === 'member' ? 'member' : 'admin';
    await membership.setRole(ctx, { groupId: e.payload.groupId }, e.payload.userId, role);
  });
  outbox.project('chat.group-closed', ['group.deleted'], async (e, ctx) => {
    await membership.archive(ctx, { groupId: e.payload.groupId });
  });

  return { repo, chat, membership, searchIndex };
}

export type ChatModule = ReturnType<typeof createChatModule>;
