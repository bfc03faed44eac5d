import { Type } from 'typebox';
import { Uuid } from '../../http/schemas.js';
import type { Infra } from '../../infra/infra.js';
import { socketActor } from '../../realtime/gateway.js';
import type { BlockDirectory } from '../blocks/blocks.service.js';
import type { ChatModule } from '../chat/chat.module.js';
import { conversationRoom } from '../chat/chat.service.js';
import { PresenceRepository } from './presence.repository.js';
import { PresenceService } from './presence.service.js';

/**
 * Presence: records every socket of every signed-in person in the presence store, and answers who is online to
 * people who share a group or an event with them (which the chat module's conversations tell).
 */
export function createPresenceModule(infra: Infra, deps: { chat: ChatModule; blocks: BlockDirectory }) {
  const repo = new PresenceRepository();
  const db = infra.database.db;
  const chatRepo = deps.chat.repo;
  const service = new PresenceService({
    store: infra.presence,
    repo,
    db,
    realtime: infra.realtime,
    logger: infra.logger,
    blocks: deps.blocks,
    intervals: infra.config.presence,
    community: {
      sharingCommunity: (viewerId, userIds) => chatRepo.sharingCommunity(db, viewerId, userIds),
      communityRooms: async (userId) =>
        (await chatRepo.communityConversationIds(db, userId)).map(conversationRoom),
    },
  });

  infra.gateway.onConnection(async (socket) => {
    if (socket.data.userId) await service.connected(socket.data.userId, socket.id);
  });
  infra.gateway.onDisconnect(async (socket) => {
    if (socket.data.userId) await service.disconnected(socket.data.userId, socket.id);
  });
  infra.gateway.on(
    'presence:query',
    Type.Object(
      { userIds: Type.Array(Uuid, { minItems: 1, maxItems: 200 }) },
      { additionalProperties: false },
    ),
    async (ctx, p) => ({ presence: await service.of(socketActor(ctx).userId, p.userIds) }),
    { rateLimit: { limit: 10, windowMs: 1_000 } },
  );

  return {
    service,
    /** Starts this node's heartbeat and sweeper (API nodes only: workers hold no sockets). */
    start: () => service.start(),
    stop: () => service.stop(),
  };
}

export type PresenceModule = ReturnType<typeof createPresenceModule>;
