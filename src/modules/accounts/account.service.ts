import type { Clock } from '../../infra/clock.js';
import type { DataProtector } from '../../infra/crypto.js';
import type { Executor } from '../../infra/db/database.js';
import type { UnitOfWork } from '../../infra/outbox/outbox.js';
import type { Actor, RequestMeta } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { securityEvent } from '../../shared/security-log.js';
import {
  conflictFor,
  uniqueViolation,
  type AccountsRepository,
  type IdentityRow,
  type NewUser,
  type UserRow,
} from './accounts.repository.js';
import { checkNickname, purgedNickname } from './nicknames.js';
import { checkPasswordPolicy, hashPassword, verifyPassword } from './passwords.js';
import type { SessionService } from './sessions.service.js';
import type { VerificationService } from './verification.service.js';

export const RESTORE_WINDOW_DAYS = 30;
/** Without a password to confirm, a sensitive change needs a session signed in this recently. */
const RECENT_SIGN_IN_MS = 10 * 60_000;
const DAY_MS = 86_400_000;

/**
 * Whether an account is gone for good: purged, or deleted and past its restore window. The purge job runs once
 * a day, so between `purgeAfter` and the purge the row still holds the data, but nobody may sign in to it,
 * restore it or get codes for it any more.
 */
export function accountGone(
  user: Pick<UserRow, 'purgedAt' | 'deletedAt' | 'purgeAfter'>,
  now: Date,
): boolean {
  if (user.purgedAt) return true;
  return user.deletedAt !== null && user.purgeAfter !== null && user.purgeAfter <= now;
}

export interface ProfilePatch {
  nickname?: string;
  bio?: string | null;
  statusMessage?: string | null;
  interests?: string[];
  mood?: string | null;
  preferredRegion?: string | null;
  preferredDistanceKm?: number | null;
  level?: number | null;
  smsConsent?: boolean;
}

/** The signed-in person's own account: profile, password, phone, deletion and the purge that follows it. */
export class AccountService {
  constructor(
    private readonly deps: {
      repo: AccountsRepository;
      db: Executor;
      clock: Clock;
      protector: DataProtector;
      unitOfWork: UnitOfWork;
      sessions: SessionService;
      verification: VerificationService;
    },
  ) {}

  async me(actor: Actor): Promise<{ user: UserRow; identities: IdentityRow[] }> {
    const user = await this.deps.repo.findUserById(this.deps.db, actor.userId);
    if (!user || user.deletedAt) throw new AppError('UNAUTHENTICATED');
    return { user, identities: await this.deps.repo.listIdentities(this.deps.db, actor.userId) };
  }

  async updateProfile(
    actor: Actor,
    patch: ProfilePatch,
  ): Promise<{ user: UserRow; identities: IdentityRow[] }> {
    if (patch.nickname !== undefined) checkNickname(patch.nickname);
    const fields: Partial<NewUser> = {};
    for (const key of Object.keys(patch) as (keyof ProfilePatch)[]) {
      if (patch[key] !== undefined) Object.assign(fields, { [key]: patch[key] });
    }
    if (patch.interests)
      fields.interests = [...new Set(patch.interests.map((t) => t.trim()).filter(Boolean))];
    // Choosing a preferred region is the end of onboarding, as it was for the group-running seed.
    if (patch.preferredRegion) fields.needsOnboarding = false;
    try {
      await this.deps.unitOfWork(async ({ tx }) => {
        if (patch.nickname && (await this.deps.repo.isNicknameTaken(tx, patch.nickname, actor.userId))) {
          throw conflictFor('nickname');
        }
        await this.deps.repo.updateUser(tx, actor.userId, fields);
      });
    } catch (err) {
      const constraint = uniqueViolation(err);
      if (constraint !== undefined) throw conflictFor(constraint);
      throw err;
    }
    return this.me(actor);
  }

  /** The public card of anyone; deleted accounts are not found. */
  async publicProfile(userId: string): Promise<UserRow> {
    const user = await this.deps.repo.findUserById(this.deps.db, userId);
    if (!user || user.deletedAt) throw new AppError('NOT_FOUND', 'No such user.');
    return user;
  }

  /**
   * Confirms it is really the account holder: the current password when the account has one, otherwise a
   * session that signed in within the last few minutes.
   */
  private async reauthenticate(actor: Actor, user: UserRow, password: string | undefined): Promise<void> {
    if (user.passwordHash) {
      if (!password || !(await verifyPassword(user.passwordHash, password))) {
        throw new AppError('REAUTHENTICATION_REQUIRED', 'Confirm your current password.');
      }
      return;
    }
    const sessions = await this.deps.sessions.list(actor);
    const current = sessions.find((s) => s.current);
    if (!current || this.deps.clock.now().getTime() - current.createdAt.getTime() > RECENT_SIGN_IN_MS) {
      throw new AppError('REAUTHENTICATION_REQUIRED', 'Sign in again before doing this.');
    }
  }

  async changePassword(
    actor: Actor,
    input: { currentPassword?: string; newPassword: string },
    meta: RequestMeta,
  ): Promise<void> {
    const { user } = await this.me(actor);
    await this.reauthenticate(actor, user, input.currentPassword);
    checkPasswordPolicy(input.newPassword, { nickname: user.nickname, email: user.email });
    const passwordHash = await hashPassword(input.newPassword);
    await this.deps.unitOfWork(async (ctx) => {
      await this.deps.repo.updateUser(ctx.tx, user.id, { passwordHash });
      await this.deps.sessions.revokeAllInTx(ctx, user.id, 'password_changed', actor.sessionId);
    });
    securityEvent(meta.log, 'auth.password.changed', { actor: user.id, ip: meta.ip });
  }

  /** Moves the account to a new number, verified by a code sent to it; other sessions end. */
  async changePhone(
    actor: Actor,
    input: { phone: string; verificationId: string; password?: string },
    meta: RequestMeta,
  ): Promise<void> {
    const { user } = await this.me(actor);
    await this.reauthenticate(actor, user, input.password);
    const { verification } = this.deps;
    const phone = verification.phone(input.phone);
    const phoneHash = verification.phoneHash(phone);
    try {
      await this.deps.unitOfWork(async (ctx) => {
        await verification.consumeProof(
          ctx.tx,
          input.verificationId,
          { channel: 'sms', phone },
          'change_phone',
        );
        const holder = await this.deps.repo.findUserByPhoneHash(ctx.tx, phoneHash);
        if (holder && holder.id !== user.id) throw conflictFor('phone');
        await this.deps.repo.updateUser(ctx.tx, user.id, {
          phoneHash,
          phoneEnc: this.deps.protector.encrypt('phone', phone.e164),
        });
        await this.deps.sessions.revokeAllInTx(ctx, user.id, 'phone_changed', actor.sessionId);
      });
    } catch (err) {
      const constraint = uniqueViolation(err);
      if (constraint !== undefined) throw conflictFor(constraint);
      throw err;
    }
    securityEvent(meta.log, 'auth.phone.changed', { actor: user.id, ip: meta.ip });
  }

  /**
   * Soft-deletes the account: every session and token ends now, sign-in within the restore window offers to
   * restore it, and after that the purge job erases personal data. Other modules hear `user.deleted` and hand
   * over or close what the person hosts.
   */
  async deleteAccount(actor: Actor, input: { password?: string }, meta: RequestMeta): Promise<Date> {
    const { user } = await this.me(actor);
    await this.reauthenticate(actor, user, input.password);
    const now = this.deps.clock.now();
    const purgeAfter = new Date(now.getTime() + RESTORE_WINDOW_DAYS * DAY_MS);
    await this.deps.unitOfWork(async (ctx) => {
      await this.deps.repo.updateUser(ctx.tx, user.id, { deletedAt: now, purgeAfter, tokensValidAfter: now });
      await this.deps.sessions.revokeAllInTx(ctx, user.id, 'account_deleted');
      await ctx.publish('user.deleted', { userId: user.id, purgeAfter: purgeAfter.toISOString() }, user.id);
    });
    securityEvent(meta.log, 'account.deleted', {
      actor: user.id,
      ip: meta.ip,
      purgeAfter: purgeAfter.toISOString(),
    });
    return purgeAfter;
  }

  /**
   * Erases the personal data of accounts whose restore window has passed. Authored content stays (its author
   * shows as a deleted user); the nickname is freed. Safe to run on several workers at once (SKIP LOCKED).
   */
  async purgeDue(log: RequestMeta['log']): Promise<number> {
    let purged = 0;
    for (;;) {
      const batch = await this.deps.unitOfWork(async (ctx) => {
        const { repo, verification } = this.deps;
        const due = await repo.usersDueForPurge(ctx.tx, this.deps.clock.now(), 50);
        const traces: string[] = [];
        for (const user of due) {
          if (user.phoneHash) traces.push(user.phoneHash);
          if (user.email) traces.push(verification.emailHash(user.email));
          await repo.updateUser(ctx.tx, user.id, {
            nickname: await this.freePurgedNickname(ctx.tx),
            email: null,
            emailVerified: false,
            phoneEnc: null,
            phoneHash: null,
            passwordHash: null,
            bio: null,
            statusMessage: null,
            interests: [],
            mood: null,
            preferredRegion: null,
            preferredDistanceKm: null,
            level: null,
            smsConsent: false,
            avatarUrl: null,
            avatarMediaId: null,
            purgedAt: this.deps.clock.now(),
          });
          await repo.deleteIdentitiesOf(ctx.tx, user.id);
          await ctx.publish('user.purged', { userId: user.id }, user.id);
        }
        await repo.forgetTargets(ctx.tx, traces);
        return due.length;
      });
      purged += batch;
      if (batch === 0) break;
    }
    if (purged > 0) securityEvent(log, 'account.purged', { count: purged });
    return purged;
  }

  /**
   * A `deleted-…` nickname no row has. Nobody else can choose the prefix, and 48 random bits make a clash
   * between purged rows unlikely; the check makes it impossible (and the unique index backs it up).
   */
  private async freePurgedNickname(tx: Executor): Promise<string> {
    for (;;) {
      const nickname = purgedNickname();
      if (!(await this.deps.repo.isNicknameTaken(tx, nickname))) return nickname;
    }
  }

  /**
   * Housekeeping that runs with the purge: replay-window secrets, dead sessions, used tickets, and codes a day
   * past their expiry (they hold keyed hashes of phone numbers and addresses, kept no longer than needed).
   */
  async cleanup(): Promise<void> {
    const now = this.deps.clock.now().getTime();
    await this.deps.repo.wipeSpentChildTokens(this.deps.db, new Date(now - 60_000));
    await this.deps.repo.deleteDeadSessions(this.deps.db, new Date(now - 30 * DAY_MS));
    await this.deps.repo.deleteExpiredTickets(this.deps.db, new Date(now - DAY_MS));
    await this.deps.repo.deleteExpiredChallenges(this.deps.db, new Date(now - DAY_MS));
  }
}
