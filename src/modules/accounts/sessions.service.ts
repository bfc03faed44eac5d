import type { Config } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import { randomToken, sha256, type DataProtector } from '../../infra/crypto.js';
import type { Executor } from '../../infra/db/database.js';
import type { UnitOfWork, TxContext } from '../../infra/outbox/outbox.js';
import type { Actor, RequestMeta } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { securityEvent } from '../../shared/security-log.js';
import type { AccessTokens } from './access-tokens.js';
import type { AccountsRepository, SessionRow } from './accounts.repository.js';

/** A client replaying the parent token within this window gets the child it already received. */
export const REFRESH_REPLAY_GRACE_MS = 10_000;

export interface TokenPair {
  tokenType: 'Bearer';
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  sessionId: string;
}

export type SignInMethod = 'password' | 'phone_code' | 'kakao' | 'naver' | 'google' | 'restore';

const CHILD_TOKEN_PURPOSE = 'refresh-child';

/**
 * Sessions (one per signed-in device) and their tokens. Refresh tokens rotate on every use; all tokens of a
 * session form one family, and any reuse outside the replay grace revokes the whole session. Every request's
 * access token is checked against the session and the user's "tokens valid after" instant, so revocation,
 * password change and account deletion take effect on the next request, on every node.
 */
export class SessionService {
  constructor(
    private readonly deps: {
      repo: AccountsRepository;
      /** Reads outside a unit of work (per-request authentication, listings). */
      db: Executor;
      tokens: AccessTokens;
      protector: DataProtector;
      clock: Clock;
      unitOfWork: UnitOfWork;
      config: Config['auth'];
    },
  ) {}

  private idleExpiry(session: Pick<SessionRow, 'expiresAt'>): Date {
    const idle = new Date(this.deps.clock.now().getTime() + this.deps.config.refreshIdleDays * 86_400_000);
    return idle < session.expiresAt ? idle : session.expiresAt;
  }

  /** Creates a session and its first token pair, inside the caller's transaction. */
  async start(
    tx: Executor,
    userId: string,
    meta: RequestMeta,
    method: SignInMethod,
    deviceName: string | null,
  ): Promise<TokenPair> {
    const now = this.deps.clock.now();
    const session = await this.deps.repo.insertSession(tx, {
      userId,
      method,
      deviceName,
      userAgent: meta.userAgent?.slice(0, 256) ?? null,
      ip: meta.ip,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: new Date(now.getTime() + this.deps.config.refreshAbsoluteDays * 86_400_000),
    });
    const refreshToken = randomToken();
    await this.deps.repo.insertRefreshToken(tx, {
      sessionId: session.id,
      tokenHash: sha256(refreshToken),
      createdAt: now,
      expiresAt: this.idleExpiry(session),
    });
    const access = await this.deps.tokens.sign(userId, session.id);
    return {
      tokenType: 'Bearer',
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      sessionId: session.id,
    };
  }

  /**
   * Rotates a refresh token. The immediate parent replayed within the grace window returns the same child (a
   * client that lost the response); any other reuse revokes the session, and the answer is TOKEN_REUSED.
   */
  async refresh(rawToken: string, meta: RequestMeta): Promise<TokenPair> {
    const outcome = await this.deps.unitOfWork(async (ctx) => {
      const now = this.deps.clock.now();
      const locked = await this.deps.repo.lockRefreshToken(ctx.tx, sha256(rawToken));
      if (!locked) return { kind: 'invalid' as const };
      const { token, session } = locked;
      if (session.revokedAt || session.expiresAt <= now) return { kind: 'expired' as const };

      if (!token.usedAt) {
        if (token.expiresAt <= now) {
          await this.revokeInTx(ctx, session, 'idle_expired');
          return { kind: 'expired' as const };
        }
        const child = randomToken();
        const childRow = await this.deps.repo.insertRefreshToken(ctx.tx, {
          sessionId: session.id,
          tokenHash: sha256(child),
          parentId: token.id,
          createdAt: now,
          expiresAt: this.idleExpiry(session),
        });
        await this.deps.repo.markRefreshTokenUsed(
          ctx.tx,
          token.id,
          childRow.id,
          this.deps.protector.encrypt(CHILD_TOKEN_PURPOSE, child),
          now,
        );
        await this.deps.repo.touchSession(ctx.tx, session.id, now);
        return { kind: 'rotated' as const, session, refreshToken: child };
      }

      const withinGrace = now.getTime() - token.usedAt.getTime() <= REFRESH_REPLAY_GRACE_MS;
      const child = token.childId ? await this.deps.repo.findRefreshToken(ctx.tx, token.childId) : undefined;
      if (withinGrace && child && !child.usedAt && token.childTokenEnc) {
        return {
          kind: 'replayed' as const,
          session,
          refreshToken: this.deps.protector.decrypt(CHILD_TOKEN_PURPOSE, token.childTokenEnc),
        };
      }
      await this.revokeInTx(ctx, session, 'refresh_token_reuse');
      return { kind: 'reused' as const, session };
    });

    switch (outcome.kind) {
      case 'invalid':
        throw new AppError('UNAUTHENTICATED', 'The refresh token is invalid.');
      case 'expired':
        throw new AppError('SESSION_EXPIRED', 'The session has ended; sign in again.');
      case 'reused':
        securityEvent(meta.log, 'auth.refresh.reuse_detected', {
          actor: outcome.session.userId,
          ip: meta.ip,
          sessionId: outcome.session.id,
        });
        throw new AppError(
          'TOKEN_REUSED',
          'This refresh token was already used; the session has been ended.',
        );
      case 'rotated':
      case 'replayed': {
        const access = await this.deps.tokens.sign(outcome.session.userId, outcome.session.id);
        return {
          tokenType: 'Bearer',
          accessToken: access.token,
          accessTokenExpiresAt: access.expiresAt,
          refreshToken: outcome.refreshToken,
          sessionId: outcome.session.id,
        };
      }
    }
  }

  /**
   * The check every authenticated request and socket handshake goes through: a valid token of ours, for a live
   * session of a user that still exists, issued after the user's "tokens valid after" instant.
   */
  async authenticate(accessToken: string): Promise<Actor> {
    return (await this.authenticateToken(accessToken)).actor;
  }

  /** As `authenticate`, also telling when the token expires (sockets disconnect then unless renewed). */
  async authenticateToken(accessToken: string): Promise<{ actor: Actor; expiresAt: Date }> {
    const claims = await this.deps.tokens.verify(accessToken);
    const state = await this.deps.repo.authState(this.deps.db, claims.sessionId);
    const now = this.deps.clock.now();
    if (
      !state ||
      state.userId !== claims.userId ||
      state.deletedAt ||
      state.revokedAt ||
      state.expiresAt <= now ||
      // Second precision: `iat` has no milliseconds, so compare whole seconds.
      Math.floor(state.tokensValidAfter.getTime() / 1000) > Math.floor(claims.issuedAt.getTime() / 1000)
    ) {
      throw new AppError('UNAUTHENTICATED', 'The access token is invalid or expired.');
    }
    return {
      actor: { userId: state.userId, sessionId: claims.sessionId, role: state.role },
      expiresAt: claims.expiresAt,
    };
  }

  /** Live sessions of a user: not revoked, not past their absolute expiry, not idle-expired. */
  private live(db: Executor, userId: string): Promise<SessionRow[]> {
    const now = this.deps.clock.now();
    const idleSince = new Date(now.getTime() - this.deps.config.refreshIdleDays * 86_400_000);
    return this.deps.repo.listActiveSessions(db, userId, now, idleSince);
  }

  async list(actor: Actor): Promise<(SessionRow & { current: boolean })[]> {
    const rows = await this.live(this.deps.db, actor.userId);
    return rows.map((s) => ({ ...s, current: s.id === actor.sessionId }));
  }

  /** Revokes one of the actor's own sessions; someone else's session is "not found". */
  async revoke(actor: Actor, sessionId: string, meta: RequestMeta): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const sessions = await this.live(ctx.tx, actor.userId);
      const session = sessions.find((s) => s.id === sessionId);
      if (!session) throw new AppError('NOT_FOUND', 'No such session.');
      await this.revokeInTx(ctx, session, sessionId === actor.sessionId ? 'logout' : 'revoked_by_user');
    });
    securityEvent(meta.log, sessionId === actor.sessionId ? 'auth.logout' : 'auth.session.revoked', {
      actor: actor.userId,
      ip: meta.ip,
      sessionId,
    });
  }

  async revokeOthers(actor: Actor, meta: RequestMeta): Promise<number> {
    const revoked = await this.deps.unitOfWork((ctx) =>
      this.revokeAllInTx(ctx, actor.userId, 'revoked_by_user', actor.sessionId),
    );
    securityEvent(meta.log, 'auth.session.revoked', {
      actor: actor.userId,
      ip: meta.ip,
      count: revoked.length,
    });
    return revoked.length;
  }

  async revokeInTx(
    ctx: TxContext,
    session: Pick<SessionRow, 'id' | 'userId'>,
    reason: string,
  ): Promise<void> {
    const revoked = await this.deps.repo.revokeSession(ctx.tx, session.id, reason, this.deps.clock.now());
    if (revoked)
      await ctx.publish('session.revoked', { sessionId: session.id, userId: session.userId, reason });
  }

  /** Revokes every session of a user (but `exceptSessionId`), and tells their sockets to go. */
  async revokeAllInTx(
    ctx: TxContext,
    userId: string,
    reason: string,
    exceptSessionId?: string,
  ): Promise<string[]> {
    const ids = await this.deps.repo.revokeUserSessions(
      ctx.tx,
      userId,
      reason,
      this.deps.clock.now(),
      exceptSessionId,
    );
    for (const sessionId of ids) await ctx.publish('session.revoked', { sessionId, userId, reason });
    return ids;
  }
}
