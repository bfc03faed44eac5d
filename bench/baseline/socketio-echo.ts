import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { Server } from 'socket.io';

/**
 * The realtime baseline: plain Socket.IO 4 with the transport settings Moim uses (websocket, 64 KB frames, same
 * ping timers, the upgrade request dropped), no authentication, no validation, no database. Every event is
 * acknowledged at once; `chat:send` is also numbered per room in memory and broadcast to the room (the sender
 * included), in a message of the same shape as Moim's, so the chat benchmark's clients see the same traffic.
 * Sockets join the rooms their handshake names (`auth.rooms`). With PUSH_EVENT and PUSH_INTERVAL_MS set, every
 * socket is also sent a fixed payload of PUSH_BYTES on that interval (the location benchmark's nearby updates).
 */
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
});
const io = new Server(server, {
  transports: ['websocket'],
  maxHttpBufferSize: 64 * 1024,
  serveClient: false,
  pingInterval: 25_000,
  pingTimeout: 20_000,
  connectTimeout: 10_000,
});

const seqs = new Map<string, number>();

io.on('connection', (socket) => {
  (socket.conn as unknown as { request: unknown }).request = null;
  const rooms = (socket.handshake.auth as { rooms?: unknown }).rooms;
  if (Array.isArray(rooms)) void socket.join(rooms.filter((r): r is string => typeof r === 'string'));
  const userId = randomUUID();
  socket.onAny((event: string, ...args: unknown[]) => {
    const ack = args.at(-1);
    if (typeof ack !== 'function') return;
    const reply = ack as (res: unknown) => void;
    if (event !== 'chat:send') return reply({ ok: true, data: {} });
    const p = args[0] as { conversationId: string; clientId: string; body: string };
    const room = `conv:${p.conversationId}`;
    const seq = (seqs.get(room) ?? 0) + 1;
    seqs.set(room, seq);
    const message = {
      id: randomUUID(),
      conversationId: p.conversationId,
      seq,
      clientId: p.clientId,
      sender: { id: userId, nickname: 'baseline', avatarUrl: null },
      kind: 'text',
      body: p.body,
      mediaId: null,
      system: null,
      createdAt: new Date().toISOString(),
      editedAt: null,
      deleted: false,
      changeSeq: 0,
    };
    io.to(room).emit('chat:message', message);
    reply({ ok: true, data: { message, duplicate: false } });
  });
});

const pushEvent = process.env.PUSH_EVENT;
const pushEvery = Number(process.env.PUSH_INTERVAL_MS ?? 0);
if (pushEvent && pushEvery > 0) {
  const payload = { items: 'x'.repeat(Number(process.env.PUSH_BYTES ?? 200)) };
  setInterval(() => io.emit(pushEvent, payload), pushEvery);
}

server.listen(Number(process.env.PORT ?? 3002), process.env.HOST ?? '127.0.0.1');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void io.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  });
}
