import { Emitter } from '@socket.io/redis-emitter';
import type { Gateway } from '../../realtime/gateway.js';
import type { ServerToClientEvents } from '../../realtime/events.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';

type EventName = keyof ServerToClientEvents;
type Payload<E extends EventName> = Parameters<ServerToClientEvents[E]>[0];

/**
 * How services reach connected clients, from any process. On an API node it goes through the local Socket.IO
 * server (and its Redis adapter to the other nodes); in a worker, which has no sockets, through the Redis
 * emitter to every node. Delivery is best effort: clients recover anything durable from the database. Operations
 * run at the end of the current event-loop turn, in order.
 */
export interface RealtimePublisher {
  /** Emits to every socket in `rooms`, except those also in one of `except` (e.g. the user rooms of people blocked). */
  emit<E extends EventName>(
    rooms: string | string[],
    event: E,
    payload: Payload<E>,
    opts?: { except?: string[] },
  ): void;
  /** Disconnects every socket in `room` (e.g. `session:<id>` after a revocation). */
  disconnect(room: string): void;
  /** Makes every socket in `room` leave `rooms` (e.g. a kicked member's `user:<id>` leaves `group:<id>`). */
  leave(room: string, rooms: string | string[]): void;
  /** Makes every socket in `room` join `rooms`. */
  join(room: string, rooms: string | string[]): void;
  /** Runs what is queued now rather than at the end of the turn (before Redis closes at shutdown). */
  flush(): void;
}

export function createRealtimePublisher(
  gateway: Gateway,
  redis: { client: Redis; prefix: string } | undefined,
  logger: Logger,
): RealtimePublisher {
  let emitter: Emitter | undefined;
  const target = () => {
    if (gateway.attached) return gateway.server;
    if (redis)
      return (emitter ??= new Emitter(quietPublisher(redis.client, logger), {
        key: `${redis.prefix}socket.io`,
      }));
    return undefined;
  };
  // Room changes and disconnects are applied to this node's sockets at once, then sent to every node. The Redis
  // adapter sends even this node's part through Redis and applies it when its own message comes back, while a
  // broadcast reaches this node's sockets at once: without the local step, a kicked member's socket here would
  // still get their removal notice and whatever was said in the next milliseconds. The echo repeats what was
  // done; joining or leaving twice changes nothing, and Redis keeps the echoes in order. (A join and a leave of the
  // same room given within one Redis round trip are applied here, then once more as their echoes arrive: for
  // that round trip the socket can be where the first one put it. Sending the other nodes their part outside
  // the adapter would avoid that, and break rooms across nodes running different versions during a deploy.)
  // Every operation waits for the end of the current turn of the event loop (setImmediate) and then runs in the
  // order given. A socket handler's acknowledgement therefore leaves before the fan-out its work caused: when a
  // burst of database answers arrives at once, each sender hears back before the broadcasts (one frame per member
  // of each room) are written. Order among operations is kept: a removal's room-leave still goes before its system
  // message, and a revocation's notice before the disconnect.
  let queue: (() => void)[] = [];
  const flush = () => {
    const batch = queue;
    queue = [];
    for (const op of batch) op();
  };
  const run = (what: string, fn: (t: NonNullable<ReturnType<typeof target>>) => void) => {
    if (queue.length === 0) setImmediate(flush);
    queue.push(() => {
      try {
        const t = target();
        if (t) fn(t);
      } catch (err) {
        logger.warn({ err, what }, 'realtime publish failed');
      }
    });
  };
  return {
    emit(rooms, event, payload, opts) {
      run('emit', (t) => {
        const to = opts?.except?.length ? t.to(rooms).except(opts.except) : t.to(rooms);
        (to as unknown as { emit(e: string, p: unknown): void }).emit(event, payload);
      });
    },
    disconnect(room) {
      run('disconnect', (t) => {
        if (t === gateway.server) t.local.in(room).disconnectSockets(true);
        t.in(room).disconnectSockets(true);
      });
    },
    leave(room, rooms) {
      run('leave', (t) => {
        if (t === gateway.server) t.local.in(room).socketsLeave(rooms);
        t.in(room).socketsLeave(rooms);
      });
    },
    join(room, rooms) {
      run('join', (t) => {
        if (t === gateway.server) t.local.in(room).socketsJoin(rooms);
        t.in(room).socketsJoin(rooms);
      });
    },
    flush,
  };
}

/**
 * The emitter calls `publish` and drops the promise, so a failed publish (Redis down, or closed while a last
 * socket event is handled during shutdown) would be an unhandled rejection, which ends the process. Delivery
 * is best effort: log it instead.
 */
function quietPublisher(client: Redis, logger: Logger) {
  return {
    publish: (channel: string, message: string | Buffer) =>
      client.publish(channel, message).catch((err: unknown) => {
        logger.warn({ err }, 'realtime publish failed');
        return 0;
      }),
  };
}
