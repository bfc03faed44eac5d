import { Type } from 'typebox';
import { defineJob } from '../../infra/jobs/job-queue.js';
import type { Infra } from '../../infra/infra.js';
import type { MoimSocket } from '../../realtime/gateway.js';
import { AppError } from '../../shared/errors.js';
import { AccessTokens } from './access-tokens.js';
import { AccountService } from './account.service.js';
import { AccountsRepository } from './accounts.repository.js';
import { AuthService } from './auth.service.js';
import { OAuthService } from './oauth.service.js';
import { SessionService } from './sessions.service.js';
import { VerificationService } from './verification.service.js';

export const purgeAccountsJob = defineJob({
  name: 'accounts.purge',
  payload: Type.Object({}),
  retryLimit: 3,
  policy: 'singleton',
});

/** Rooms every authenticated socket joins, so a revocation or a per-user push can find it on any node. */
export const userRoom = (userId: string) => `user:${userId}`;
export const sessionRoom = (sessionId: string) => `session:${sessionId}`;

/**
 * Accounts and identity: builds the services from the infrastructure ports and wires the socket handshake,
 * the purge schedule and the outbox projection that disconnects revoked sessions' sockets.
 */
export function createAccountsModule(infra: Infra) {
  const { config, database, clock, protector, limiter, outbox } = infra;
  const repo = new AccountsRepository();
  const db = database.db;
  const tokens = new AccessTokens(
    infra.keys,
    config.http.publicUrl,
    config.auth.accessTokenTtlSeconds,
    clock,
  );
  const sessions = new SessionService({
    repo,
    db,
    tokens,
    protector,
    clock,
    unitOfWork: outbox.unitOfWork,
    config: config.auth,
  });
  const verification = new VerificationService({
    repo,
    db,
    protector,
    limiter,
    clock,
    sms: infra.sms,
    mailer: infra.mailer,
    logger: infra.logger,
    config: config.sms,
  });
  const auth = new AuthService({
    repo,
    db,
    clock,
    protector,
    limiter,
    unitOfWork: outbox.unitOfWork,
    sessions,
    verification,
  });
  const oauth = new OAuthService({
    repo,
    db,
    clock,
    protector,
    unitOfWork: outbox.unitOfWork,
    auth,
    providers: infra.oauthProviders,
    publicUrl: config.http.publicUrl,
    redirectAllowlist: config.oauth.redirectAllowlist,
  });
  const account = new AccountService({
    repo,
    db,
    clock,
    protector,
    unitOfWork: outbox.unitOfWork,
    sessions,
    verification,
  });

  // Sockets authenticate with the same access token, under the same rules, at the handshake.
  infra.gateway.useAuthenticator(async (socket: MoimSocket) => {
    const token = handshakeToken(socket);
    if (!token)
      throw new AppError('UNAUTHENTICATED', 'Send the access token in the handshake: auth: { token }.');
    const { actor, expiresAt } = await sessions.authenticateToken(token);
    socket.data.userId = actor.userId;
    socket.data.sessionId = actor.sessionId;
    socket.data.accessExpiresAt = expiresAt.getTime();
  });
  const expiryTimers = new WeakMap<MoimSocket, NodeJS.Timeout>();
  const armExpiry = (socket: MoimSocket) => {
    clearTimeout(expiryTimers.get(socket));
    const delay = Math.max(0, (socket.data.accessExpiresAt ?? 0) - clock.now().getTime());
    // A socket lives no longer than its token, unless the client renews it (auth:renew).
    const timer = setTimeout(
      () => {
        socket.emit('auth:expired', { reason: 'token_expired' });
        socket.disconnect(true);
      },
      Math.min(delay, 2 ** 31 - 1),
    );
    timer.unref();
    expiryTimers.set(socket, timer);
  };
  // Joined before the client hears it is connected (see Gateway.onHandshake); the session is checked again after.
  infra.gateway.onHandshake(async (socket) => {
    const { userId, sessionId } = socket.data;
    if (userId && sessionId) await socket.join([userRoom(userId), sessionRoom(sessionId)]);
  });
  infra.gateway.onConnection((socket) => {
    if (socket.data.userId && socket.data.sessionId) armExpiry(socket);
  });
  infra.gateway.onDisconnect((socket) => clearTimeout(expiryTimers.get(socket)));
  infra.gateway.on(
    'auth:renew',
    Type.Object({ token: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }),
    async (ctx, payload) => {
      const { actor, expiresAt } = await sessions.authenticateToken(payload.token);
      if (actor.userId !== ctx.socket.data.userId || actor.sessionId !== ctx.socket.data.sessionId) {
        throw new AppError('FORBIDDEN', 'The token belongs to another session.');
      }
      ctx.socket.data.accessExpiresAt = expiresAt.getTime();
      armExpiry(ctx.socket);
      return { expiresAt: expiresAt.toISOString() };
    },
    { rateLimit: { limit: 5, windowMs: 60_000 } },
  );

  // A revoked session's sockets go at once, on whichever node holds them.
  outbox.project('accounts.disconnect-revoked', ['session.revoked'], async (event, ctx) => {
    ctx.afterCommit(() => {
      infra.realtime.emit(sessionRoom(event.payload.sessionId), 'auth:expired', { reason: 'session_ended' });
      infra.realtime.disconnect(sessionRoom(event.payload.sessionId));
    });
  });

  infra.jobs.handle(purgeAccountsJob, async () => {
    await account.purgeDue(infra.logger);
    await account.cleanup();
  });
  infra.jobs.schedule({ job: purgeAccountsJob, cron: '30 4 * * *' });

  return {
    repo,
    tokens,
    sessions,
    verification,
    auth,
    oauth,
    account,
    protector,
    purgeJob: purgeAccountsJob,
    authenticate: (token: string) => sessions.authenticate(token),
  };
}

export type AccountsModule = ReturnType<typeof createAccountsModule>;

function handshakeToken(socket: MoimSocket): string | undefined {
  const auth = socket.handshake.auth as { token?: unknown } | undefined;
  if (typeof auth?.token === 'string') return auth.token;
  const header = socket.handshake.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer ([^\s]+)$/i.exec(header) : null;
  return match?.[1];
}
