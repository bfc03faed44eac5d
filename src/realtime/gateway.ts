import type { Server as HttpServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Server, type Socket } from 'socket.io';
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Clock } from '../infra/clock.js';
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import { MemoryRateLimiter, type RateLimitRule } from '../infra/rate-limit/rate-limiter.js';
import type { Redis } from '../infra/redis.js';
import type { Actor } from '../shared/context.js';
import { AppError, isAppError, refusedInput, toErrorBody, type ErrorBody } from '../shared/errors.js';
import { securityEvent } from '../shared/security-log.js';
import type {
  AckResponse,
  ClientEventName,
  ClientEventResult,
  ClientToServerEvents,
  InterServerEvents,
  ServerToClientEvents,
  SocketData,
} from './events.js';

export type MoimServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type MoimSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** Largest frame a client may send; bigger ones close the connection. */
export const MAX_SOCKET_PAYLOAD_BYTES = 64 * 1024;

export interface SocketContext {
  socket: MoimSocket;
  userId: string | undefined;
  log: Logger;
}

type Handler<E extends ClientEventName, S extends TSchema> = (
  ctx: SocketContext,
  payload: Static<S>,
) => Promise<ClientEventResult<E>> | ClientEventResult<E>;

interface Registration {
  event: string;
  check: ReturnType<typeof Compile>;
  handler: (ctx: SocketContext, payload: unknown) => Promise<unknown>;
  rateLimit: RateLimitRule;
  requiresAuth: boolean;
}

/** The authenticated caller of a socket event (events registered with `requiresAuth`, the default). */
export function socketActor(ctx: SocketContext): Actor {
  const { userId, sessionId } = ctx.socket.data;
  if (!userId || !sessionId) throw new AppError('UNAUTHENTICATED');
  return { userId, sessionId, role: 'user' };
}

export type HandshakeAuthenticator = (socket: MoimSocket) => Promise<void>;
export type ConnectionHook = (socket: MoimSocket) => Promise<void> | void;

const DEFAULT_EVENT_LIMIT: Omit<RateLimitRule, 'name'> = { limit: 30, windowMs: 1_000 };

/**
 * The realtime interface, the socket twin of the HTTP layer: it authenticates handshakes, validates every client
 * event against its schema, rate-limits per socket, calls one service function, and answers through the ack.
 * Handlers never see an unvalidated payload, and nothing reaches a room unless a handler puts it there.
 */
export class Gateway {
  private readonly registrations = new Map<string, Registration>();
  private readonly handshakeHooks: ConnectionHook[] = [];
  private readonly connectionHooks: ConnectionHook[] = [];
  private readonly disconnectHooks: ConnectionHook[] = [];
  private authenticator: HandshakeAuthenticator | undefined;
  private readonly limiter: MemoryRateLimiter;
  private io: MoimServer | undefined;
  private redisClients: Redis[] = [];
  private closing = false;

  constructor(
    private readonly deps: { logger: Logger; metrics: Metrics; clock: Clock; corsOrigins: string[] },
  ) {
    this.limiter = new MemoryRateLimiter(deps.clock);
  }

  /** Registers a client event. Must be called before `attach`. */
  on<E extends ClientEventName, S extends TSchema>(
    event: E,
    schema: S,
    handler: Handler<E, S>,
    opts: { rateLimit?: Omit<RateLimitRule, 'name'>; requiresAuth?: boolean } = {},
  ): void {
    if (this.registrations.has(event)) throw new Error(`Socket event ${event} registered twice`);
    this.registrations.set(event, {
      event,
      check: Compile(schema),
      handler: async (ctx, payload) => handler(ctx, payload as Static<S>),
      rateLimit: { name: `socket:${event}`, ...(opts.rateLimit ?? DEFAULT_EVENT_LIMIT) },
      requiresAuth: opts.requiresAuth ?? true,
    });
  }

  /** The client events this gateway answers (for the protocol documentation and the fuzz test). */
  get events(): string[] {
    return [...this.registrations.keys()];
  }

  /** Sets how handshakes are authenticated (the accounts module provides it). */
  useAuthenticator(fn: HandshakeAuthenticator): void {
    this.authenticator = fn;
  }

  /**
   * Runs `hook` during the handshake, after authentication and before the client is told it is connected: the
   * place to join the rooms a socket belongs in, so that nothing emitted after the client sees `connect` misses
   * it. A failing hook refuses the connection. Hooks run in the order registered.
   */
  onHandshake(hook: ConnectionHook): void {
    this.handshakeHooks.push(hook);
  }

  /** Runs `hook` once the socket is connected (the client may already be sending). */
  onConnection(hook: ConnectionHook): void {
    this.connectionHooks.push(hook);
  }

  onDisconnect(hook: ConnectionHook): void {
    this.disconnectHooks.push(hook);
  }

  get server(): MoimServer {
    if (!this.io) throw new Error('The realtime gateway is not attached');
    return this.io;
  }

  get attached(): boolean {
    return this.io !== undefined;
  }

  /** Creates the Socket.IO server on the HTTP server, with the Redis adapter when Redis is configured. */
  attach(httpServer: HttpServer, redis?: { client: Redis; prefix: string }): MoimServer {
    const io: MoimServer = new Server(httpServer, {
      maxHttpBufferSize: MAX_SOCKET_PAYLOAD_BYTES,
      serveClient: false,
      cors: { origin: this.deps.corsOrigins, credentials: false },
      pingInterval: 25_000,
      pingTimeout: 20_000,
      connectTimeout: 10_000,
    });
    if (redis) {
      // The adapter publishes without handling failures; a dedicated client that drops failed publishes keeps a
      // Redis outage from surfacing as unhandled rejections (fan-out degrades; clients resync from the DB).
      const pub = redis.client.duplicate({ enableOfflineQueue: false, lazyConnect: false });
      const publish: (channel: string, message: string | Buffer) => Promise<number> = pub.publish.bind(pub);
      (pub as unknown as { publish: typeof publish }).publish = (channel, message) =>
        publish(channel, message).catch(() => 0);
      // The subscriber queues its SUBSCRIBE commands until connected and re-subscribes after reconnecting.
      const sub = redis.client.duplicate({ enableOfflineQueue: true, lazyConnect: false });
      for (const c of [pub, sub]) c.on('error', () => undefined);
      this.redisClients = [pub, sub];
      io.adapter(createAdapter(pub, sub, { key: `${redis.prefix}socket.io` }));
    }
    io.use((socket, next) => {
      this.handshake(socket).then(
        () => next(),
        (err: unknown) => {
          // A failure that is not a refusal (the database or Redis unreachable) must not read as a bad token:
          // clients sign out on UNAUTHENTICATED, and retry later on SERVICE_UNAVAILABLE.
          const body = toErrorBody(isAppError(err) ? err : new AppError('SERVICE_UNAVAILABLE'));
          if (!isAppError(err)) this.deps.logger.error({ err }, 'socket handshake failed');
          const error = new Error(body.message) as Error & { data: ErrorBody };
          error.data = body;
          next(error);
        },
      );
    });
    io.on('connection', (socket) => this.handleConnection(socket));
    this.io = io;
    return io;
  }

  /**
   * Authenticates, joins the socket's rooms (handshake hooks), then authenticates again: a session revoked while
   * the rooms were being joined is refused here, since its revocation could not reach a socket not yet connected.
   * (The token's signature is remembered, so the second check is one session read.)
   */
  private async handshake(socket: MoimSocket): Promise<void> {
    await this.authenticator?.(socket);
    if (this.handshakeHooks.length === 0) return;
    for (const hook of this.handshakeHooks) await hook(socket);
    await this.authenticator?.(socket);
  }

  /**
   * Authenticates once more right after Socket.IO has added the socket: a revocation that committed between the
   * handshake's last check and that moment was sent to rooms the socket was not yet served in. Fails closed: when
   * the check cannot be made (the database unreachable), the transport is closed, so the client reconnects and its
   * next handshake decides (SERVICE_UNAVAILABLE until the database is back).
   */
  private async recheck(socket: MoimSocket, log: Logger): Promise<void> {
    try {
      await this.authenticator?.(socket);
    } catch (err) {
      if (!isAppError(err)) {
        log.warn({ err }, 'socket session re-check failed; closing the transport');
        socket.conn.close();
        return;
      }
      const expired = (socket.data.accessExpiresAt ?? 0) <= this.deps.clock.now().getTime();
      socket.emit('auth:expired', { reason: expired ? 'token_expired' : 'session_ended' });
      socket.disconnect(true);
    }
  }

  private handleConnection(socket: MoimSocket): void {
    // The upgrade request holds headers and buffers we never read again; dropping it saves memory per socket.
    (socket.conn as unknown as { request: unknown }).request = null;
    this.deps.metrics.socketsConnected.inc();
    const log = this.deps.logger.child({ socketId: socket.id, userId: socket.data.userId });
    if (socket.data.userId) void this.recheck(socket, log);
    for (const hook of this.connectionHooks) {
      Promise.resolve(hook(socket)).catch((err: unknown) =>
        log.error({ err }, 'socket connection hook failed'),
      );
    }
    socket.on('disconnect', () => {
      this.deps.metrics.socketsConnected.dec();
      // A node going away does not mean its people went away: they reconnect to another node, and what this node
      // recorded about them (presence) expires by itself.
      if (this.closing) return;
      for (const hook of this.disconnectHooks) {
        Promise.resolve(hook(socket)).catch((err: unknown) =>
          log.error({ err }, 'socket disconnect hook failed'),
        );
      }
    });
    socket.onAny((event: string, ...args: unknown[]) => {
      void this.dispatch(socket, log, event, args);
    });
  }

  private async dispatch(socket: MoimSocket, log: Logger, event: string, args: unknown[]): Promise<void> {
    const last = args.at(-1);
    const ack = typeof last === 'function' ? (last as (res: AckResponse<unknown>) => void) : undefined;
    const reply = (res: AckResponse<unknown>): void => {
      if (ack) ack(res);
    };
    const fail = (err: AppError, outcome: string): void => {
      this.deps.metrics.socketEvents.inc({
        event: this.registrations.has(event) ? event : 'unknown',
        outcome,
      });
      reply({ ok: false, error: toErrorBody(err) });
    };

    const reg = this.registrations.get(event);
    if (!reg)
      return fail(new AppError('BAD_REQUEST', `Unknown event "${String(event).slice(0, 64)}".`), 'unknown');
    if (reg.requiresAuth && !socket.data.userId)
      return fail(new AppError('UNAUTHENTICATED'), 'unauthenticated');

    const limit = this.limiter.consumeSync(reg.rateLimit, socket.id);
    if (!limit.allowed) {
      securityEvent(log, 'rate_limited', {
        actor: socket.data.userId ?? null,
        ip: socket.handshake.address,
        rule: reg.rateLimit.name,
        socketEvent: event,
      });
      return fail(
        new AppError('RATE_LIMITED', undefined, { details: { retryAfterMs: limit.retryAfterMs } }),
        'rate_limited',
      );
    }

    const payload = ack ? args.slice(0, -1) : args;
    const body = payload.length === 1 ? payload[0] : payload.length === 0 ? undefined : payload;
    if (!reg.check.Check(body)) {
      const details = reg.check
        .Errors(body)
        .slice(0, 10)
        .map((e) => ({ path: e.instancePath || '/', message: e.message }));
      return fail(
        new AppError('VALIDATION_FAILED', 'The event payload is not valid.', { details }),
        'invalid',
      );
    }

    try {
      const data = await reg.handler({ socket, userId: socket.data.userId, log }, body);
      this.deps.metrics.socketEvents.inc({ event, outcome: 'ok' });
      reply({ ok: true, data });
    } catch (err) {
      if (isAppError(err)) return fail(err, 'rejected');
      const refused = refusedInput(err);
      if (refused) return fail(refused, 'invalid');
      log.error({ err, event }, 'socket handler failed');
      fail(new AppError('INTERNAL'), 'error');
    }
  }

  /**
   * Tells clients to reconnect elsewhere and closes every connection on this node. The HTTP server itself is
   * closed by Fastify, which calls this before it stops listening.
   */
  async close(): Promise<void> {
    const io = this.io;
    if (!io) return;
    this.closing = true;
    this.io = undefined;
    io.local.emit('system:shutdown', { reconnectInMs: 1_000 });
    // Closing the transport (not disconnecting the socket) is what makes clients reconnect by themselves: to a
    // client, a server-side disconnect means "do not come back".
    for (const socket of io.of('/').sockets.values()) socket.conn.close();
    await io.of('/').adapter.close();
    io.engine.close();
    for (const c of this.redisClients) c.disconnect();
    this.redisClients = [];
  }
}
