import { Type } from 'typebox';
import { Uuid } from '../../http/schemas.js';
import { socketActor, type Gateway, type MoimSocket } from '../../realtime/gateway.js';
import { ClientId, MessageBody, Seq } from './chat.dto.js';
import { CONVERSATION_ROOM_PREFIX, conversationRoom, type ChatService } from './chat.service.js';

const TYPING_EVERY_MS = 2_000;
const strict = { additionalProperties: false } as const;

/**
 * Chat over the socket: every event is validated by the gateway, names its conversation, and goes through the
 * same service (and membership check) as the HTTP routes. Rooms are joined here during the handshake and by the
 * membership projections afterwards, never by a client's request.
 */
export function registerChatSockets(gateway: Gateway, chat: ChatService): void {
  // The conversation rooms are joined before the client hears it is connected, so a message sent right after
  // its `connect` reaches it. A membership that changes meanwhile cannot reach a socket still in its handshake
  // (Socket.IO applies room changes to connected sockets only): once connected, the rooms are read again.
  gateway.onHandshake(async (socket) => {
    const { userId } = socket.data;
    if (!userId) return;
    const ids = await chat.conversationIdsOf(userId);
    if (ids.length > 0) await socket.join(ids.map(conversationRoom));
  });
  gateway.onConnection(async (socket) => {
    const { userId } = socket.data;
    if (!userId) return;
    const now = new Set((await chat.conversationIdsOf(userId)).map(conversationRoom));
    for (const room of socket.rooms) {
      if (room.startsWith(CONVERSATION_ROOM_PREFIX) && !now.has(room)) await socket.leave(room);
    }
    const missing = [...now].filter((room) => !socket.rooms.has(room));
    if (missing.length === 0) return;
    await socket.join(missing);
    // A removal whose room-leave ran between the read and the join would be undone by the join: read once more
    // (the removal committed before its leave was sent, so this read sees it) and leave what is no longer ours.
    const still = new Set((await chat.conversationIdsOf(userId)).map(conversationRoom));
    const gone = missing.filter((room) => !still.has(room));
    for (const room of gone) await socket.leave(room);
  });

  gateway.on(
    'chat:send',
    Type.Object({ conversationId: Uuid, clientId: ClientId, body: MessageBody }, strict),
    (ctx, p) => chat.send(socketActor(ctx), p.conversationId, { clientId: p.clientId, body: p.body }),
    { rateLimit: { limit: 20, windowMs: 2_000 } },
  );

  gateway.on(
    'chat:sync',
    Type.Object({ conversationId: Uuid, afterSeq: Seq, sinceChange: Type.Optional(Seq) }, strict),
    (ctx, p) =>
      chat.sync(socketActor(ctx), p.conversationId, {
        afterSeq: p.afterSeq,
        ...(p.sinceChange !== undefined ? { sinceChange: p.sinceChange } : {}),
      }),
    { rateLimit: { limit: 50, windowMs: 1_000 } },
  );

  gateway.on(
    'chat:history',
    Type.Object(
      {
        conversationId: Uuid,
        beforeSeq: Type.Optional(Seq),
        afterSeq: Type.Optional(Seq),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
      },
      strict,
    ),
    (ctx, p) =>
      chat.history(socketActor(ctx), p.conversationId, {
        ...(p.beforeSeq !== undefined ? { beforeSeq: p.beforeSeq } : {}),
        ...(p.afterSeq !== undefined ? { afterSeq: p.afterSeq } : {}),
        limit: p.limit ?? 50,
      }),
  );

  gateway.on('chat:read', Type.Object({ conversationId: Uuid, seq: Seq }, strict), async (ctx, p) => ({
    lastReadSeq: await chat.markRead(socketActor(ctx), p.conversationId, p.seq),
  }));

  // Typing notices are relayed at most once every 2 s per socket and conversation; extra ones are dropped quietly.
  const lastTyping = new WeakMap<MoimSocket, Map<string, number>>();
  gateway.on(
    'chat:typing',
    Type.Object({ conversationId: Uuid }, strict),
    async (ctx, p) => {
      const actor = socketActor(ctx);
      const seen = lastTyping.get(ctx.socket) ?? new Map<string, number>();
      lastTyping.set(ctx.socket, seen);
      const now = Date.now();
      // Dropped before any read: only a notice that passed the checks opens the 2 s window, and a dropped one
      // relays nothing, so the membership and block reads run at most once per window.
      if (now - (seen.get(p.conversationId) ?? 0) < TYPING_EVERY_MS) return {};
      await chat.typing(actor, p.conversationId);
      seen.set(p.conversationId, now);
      ctx.socket.volatile
        .to(conversationRoom(p.conversationId))
        .emit('chat:typing', { conversationId: p.conversationId, userId: actor.userId });
      return {};
    },
    { rateLimit: { limit: 10, windowMs: 2_000 } },
  );
}
