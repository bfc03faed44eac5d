import type { Clock } from '../../infra/clock.js';
import { randomToken, sha256, type DataProtector } from '../../infra/crypto.js';
import type { Executor } from '../../infra/db/database.js';
import type { TxContext, UnitOfWork } from '../../infra/outbox/outbox.js';
import type { RateLimiter, RateLimitRule } from '../../infra/rate-limit/rate-limiter.js';
import { enforceRateLimit } from '../../http/rate-limit.js';
import type { RequestMeta } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { securityEvent } from '../../shared/security-log.js';
import type { AccountsRepository, UserRow } from './accounts.repository.js';
import { checkPasswordPolicy, hashPassword, verifyAgainstDummy, verifyPassword } from './passwords.js';
import type { SessionService, SignInMethod, TokenPair } from './sessions.service.js';
import type { VerificationService } from './verification.service.js';

const MINUTE = 60_000;
export const LOGIN_LIMITS = {
  // Per account: 10 tries per 15 minutes (≤ 40 an hour, under ASVS's 100), expiring by itself: no permanent
  // lock-out of a victim. Keyed by the identifier typed, so unknown accounts are throttled the same way.
  perAccount: { name: 'login-account', limit: 10, windowMs: 15 * MINUTE },
  perIp: { name: 'login-ip', limit: 50, windowMs: 15 * MINUTE },
  signupPerIp: { name: 'signup-ip', limit: 20, windowMs: 60 * MINUTE },
} satisfies Record<string, RateLimitRule>;

const RESTORE_TICKET_TTL_MS = 10 * MINUTE;

export type LoginIdentifier = { email: string } | { phone: string };

export interface AuthResult {
  tokens: TokenPair;
  user: UserRow;
  isNewUser: boolean;
}

/** Postgres unique violations name the constraint; that tells which field clashed. */
export function uniqueViolation(err: unknown): string | undefined {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const pg = e as { code?: string; constraint?: string };
    if (pg.code === '23505') return pg.constraint ?? '';
  }
  return undefined;
}

export function conflictFor(constraint: string): AppError {
  if (constraint.includes('nickname')) return new AppError('NICKNAME_TAKEN', 'This nickname is taken.');
  if (constraint.includes('email')) return new AppError('EMAIL_TAKEN', 'An account with this email exists.');
  if (constraint.includes('phone'))
    return new AppError('PHONE_TAKEN', 'An account with this phone number exists.');
  return new AppError('CONFLICT');
}

/**
 * Sign-up, sign-in, password reset and account restore. Sign-in answers the same INVALID_CREDENTIALS, after the
 * same argon2 work, whether the account is missing or the password wrong.
 */
export class AuthService {
  constructor(
    private readonly deps: {
      repo: AccountsRepository;
      db: Executor;
      clock: Clock;
      protector: DataProtector;
      limiter: RateLimiter;
      unitOfWork: UnitOfWork;
      sessions: SessionService;
      verification: VerificationService;
    },
  ) {}

  async nicknameAvailable(nickname: string): Promise<boolean> {
    return !(await this.deps.repo.isNicknameTaken(this.deps.db, nickname));
  }

  async signupWithEmail(
    input: { email: string; password: string; nickname: string; deviceName?: string | null },
    meta: RequestMeta,
  ): Promise<AuthResult> {
    await enforceRateLimit(this.deps.limiter, LOGIN_LIMITS.signupPerIp, meta.ip);
    const email = input.email.trim().toLowerCase();
    checkPasswordPolicy(input.password, { nickname: input.nickname, email });
    const passwordHash = await hashPassword(input.password);
    return this.createAccount(meta, 'email', input.deviceName ?? null, async (tx) => {
      if (await this.deps.repo.findUserByEmail(tx, email)) throw conflictFor('email');
      return { nickname: input.nickname, email, passwordHash };
    });
  }

  /** Phone sign-up: the number must have been verified (purpose signup) within the proof window. */
  async signupWithPhone(
    input: {
      phone: string;
      verificationId: string;
      password: string;
      nickname: string;
      smsConsent?: boolean;
      deviceName?: string | null;
    },
    meta: RequestMeta,
  ): Promise<AuthResult> {
    await enforceRateLimit(this.deps.limiter, LOGIN_LIMITS.signupPerIp, meta.ip);
    const { verification } = this.deps;
    const phone = verification.phone(input.phone);
    checkPasswordPolicy(input.password, { nickname: input.nickname });
    const passwordHash = await hashPassword(input.password);
    return this.createAccount(meta, 'phone', input.deviceName ?? null, async (tx) => {
      await verification.consumeProof(tx, input.verificationId, { channel: 'sms', phone }, 'signup');
      const phoneHash = verification.phoneHash(phone);
      if (await this.deps.repo.findUserByPhoneHash(tx, phoneHash)) throw conflictFor('phone');
      return {
        nickname: input.nickname,
        phoneHash,
        phoneEnc: this.protectPhone(phone.e164),
        passwordHash,
        smsConsent: input.smsConsent ?? false,
      };
    });
  }

  protectPhone(e164: string): string {
    return this.deps.protector.encrypt('phone', e164);
  }

  private async createAccount(
    meta: RequestMeta,
    method: 'email' | 'phone',
    deviceName: string | null,
    build: (tx: Executor) => Promise<Parameters<AccountsRepository['insertUser']>[1]>,
  ): Promise<AuthResult> {
    try {
      const result = await this.deps.unitOfWork(async (ctx) => {
        const fields = await build(ctx.tx);
        if (await this.deps.repo.isNicknameTaken(ctx.tx, fields.nickname)) throw conflictFor('nickname');
        const user = await this.deps.repo.insertUser(ctx.tx, fields);
        await ctx.publish('user.registered', { userId: user.id, method }, user.id);
        const tokens = await this.deps.sessions.start(ctx.tx, user.id, meta, 'password', deviceName);
        return { tokens, user, isNewUser: true };
      });
      securityEvent(meta.log, 'auth.signup', { actor: result.user.id, ip: meta.ip, method });
      return result;
    } catch (err) {
      const constraint = uniqueViolation(err);
      if (constraint !== undefined) throw conflictFor(constraint);
      throw err;
    }
  }

  async login(
    input: LoginIdentifier & { password: string; deviceName?: string | null },
    meta: RequestMeta,
  ): Promise<AuthResult> {
    const { repo, verification, limiter } = this.deps;
    let key: string;
    let user: UserRow | undefined;
    if ('email' in input) {
      const email = input.email.trim().toLowerCase();
      key = verification.emailHash(email);
      await this.throttleLogin(key, meta);
      user = await repo.findUserByEmail(this.deps.db, email);
    } else {
      let phoneHash: string;
      try {
        phoneHash = verification.phoneHash(verification.phone(input.phone));
      } catch {
        phoneHash = this.deps.protector.hash('phone', input.phone);
      }
      key = phoneHash;
      await this.throttleLogin(key, meta);
      user = await repo.findUserByPhoneHash(this.deps.db, phoneHash);
    }

    const ok =
      user?.passwordHash && !user.purgedAt
        ? await verifyPassword(user.passwordHash, input.password)
        : await verifyAgainstDummy(input.password);
    if (!ok || !user) {
      securityEvent(meta.log, 'auth.login.failure', {
        actor: user?.id ?? null,
        ip: meta.ip,
        method: 'password',
      });
      throw new AppError('INVALID_CREDENTIALS', 'The sign-in details are not correct.');
    }
    await limiter.reset(LOGIN_LIMITS.perAccount, key);
    return this.signIn(user, meta, 'password', input.deviceName ?? null);
  }

  private async throttleLogin(accountKey: string, meta: RequestMeta): Promise<void> {
    await enforceRateLimit(this.deps.limiter, LOGIN_LIMITS.perIp, meta.ip);
    await enforceRateLimit(this.deps.limiter, LOGIN_LIMITS.perAccount, accountKey);
  }

  /** Sign-in with an SMS code instead of the password (purpose `login`). */
  async loginWithPhoneCode(
    input: { phone: string; code: string; deviceName?: string | null },
    meta: RequestMeta,
  ): Promise<AuthResult> {
    const { verification } = this.deps;
    const phone = verification.phone(input.phone);
    await verification.verify({ channel: 'sms', phone }, 'login', input.code, meta);
    const user = await this.deps.repo.findUserByPhoneHash(this.deps.db, verification.phoneHash(phone));
    if (!user || user.purgedAt) {
      securityEvent(meta.log, 'auth.login.failure', { ip: meta.ip, method: 'phone_code' });
      throw new AppError('INVALID_CREDENTIALS', 'The sign-in details are not correct.');
    }
    return this.signIn(user, meta, 'phone_code', input.deviceName ?? null);
  }

  /**
   * The last step of every sign-in: a soft-deleted account is not signed in but offered a restore ticket;
   * otherwise a new session starts.
   */
  async signIn(
    user: UserRow,
    meta: RequestMeta,
    method: SignInMethod,
    deviceName: string | null,
  ): Promise<AuthResult> {
    if (user.deletedAt) {
      const ticket = randomToken();
      await this.deps.repo.insertTicket(this.deps.db, {
        idHash: sha256(ticket),
        kind: 'restore',
        userId: user.id,
        data: { method, deviceName },
        expiresAt: new Date(this.deps.clock.now().getTime() + RESTORE_TICKET_TTL_MS),
      });
      throw new AppError(
        'ACCOUNT_PENDING_DELETION',
        'This account is scheduled for deletion. Restore it to continue.',
        {
          details: { restoreToken: ticket, purgeAfter: user.purgeAfter?.toISOString() ?? null },
        },
      );
    }
    const tokens = await this.deps.unitOfWork((ctx) =>
      this.deps.sessions.start(ctx.tx, user.id, meta, method, deviceName),
    );
    securityEvent(meta.log, 'auth.login.success', {
      actor: user.id,
      ip: meta.ip,
      method,
      sessionId: tokens.sessionId,
    });
    return { tokens, user, isNewUser: false };
  }

  /** Undoes a pending deletion with the ticket a sign-in returned, and signs in. */
  async restore(
    input: { restoreToken: string; deviceName?: string | null },
    meta: RequestMeta,
  ): Promise<AuthResult> {
    const result = await this.deps.unitOfWork(async (ctx: TxContext) => {
      const ticket = await this.deps.repo.useTicket(
        ctx.tx,
        sha256(input.restoreToken),
        'restore',
        this.deps.clock.now(),
      );
      if (!ticket?.userId) throw new AppError('UNAUTHENTICATED', 'The restore token is invalid or expired.');
      const user = await this.deps.repo.findUserById(ctx.tx, ticket.userId);
      if (!user?.deletedAt || user.purgedAt)
        throw new AppError('UNAUTHENTICATED', 'The restore token is invalid or expired.');
      const restored = await this.deps.repo.updateUser(ctx.tx, user.id, {
        deletedAt: null,
        purgeAfter: null,
      });
      await ctx.publish('user.restored', { userId: user.id }, user.id);
      const tokens = await this.deps.sessions.start(
        ctx.tx,
        user.id,
        meta,
        'restore',
        input.deviceName ?? null,
      );
      return { tokens, user: restored!, isNewUser: false };
    });
    securityEvent(meta.log, 'account.restored', { actor: result.user.id, ip: meta.ip });
    return result;
  }

  /**
   * Sets a new password with a reset code sent by SMS (phone accounts) or mail (email accounts), and ends every
   * session: whoever knew the old password is out.
   */
  async resetPassword(
    input: LoginIdentifier & { code: string; newPassword: string },
    meta: RequestMeta,
  ): Promise<void> {
    const { verification, repo } = this.deps;
    const target =
      'email' in input
        ? { channel: 'email' as const, email: input.email.trim().toLowerCase() }
        : { channel: 'sms' as const, phone: verification.phone(input.phone) };
    const proof = await verification.verify(target, 'reset', input.code, meta);
    const user =
      target.channel === 'email'
        ? await repo.findUserByEmail(this.deps.db, target.email)
        : await repo.findUserByPhoneHash(this.deps.db, verification.phoneHash(target.phone));
    if (!user || user.purgedAt)
      throw new AppError('CODE_INVALID', 'The code is wrong or has expired. Request a new one.');
    checkPasswordPolicy(input.newPassword, { nickname: user.nickname, email: user.email });
    const passwordHash = await hashPassword(input.newPassword);
    await this.deps.unitOfWork(async (ctx) => {
      await verification.consumeProof(ctx.tx, proof, target, 'reset');
      await repo.updateUser(ctx.tx, user.id, { passwordHash, tokensValidAfter: this.deps.clock.now() });
      await this.deps.sessions.revokeAllInTx(ctx, user.id, 'password_reset');
    });
    securityEvent(meta.log, 'auth.password.reset', { actor: user.id, ip: meta.ip, channel: target.channel });
  }

  /** Sends a reset code to an email account's address; answers the same whether or not the account exists. */
  async requestEmailReset(email: string, meta: RequestMeta) {
    const normalized = email.trim().toLowerCase();
    const user = await this.deps.repo.findUserByEmail(this.deps.db, normalized);
    return this.deps.verification.send(
      { channel: 'email', email: normalized },
      'reset',
      meta,
      Boolean(user && !user.purgedAt),
    );
  }
}
