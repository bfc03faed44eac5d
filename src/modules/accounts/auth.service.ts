import type { Clock } from '../../infra/clock.js';
import { randomToken, sha256, type DataProtector } from '../../infra/crypto.js';
import type { Executor } from '../../infra/db/database.js';
import type { TxContext, UnitOfWork } from '../../infra/outbox/outbox.js';
import {
  enforceRateLimit,
  rateLimitError,
  type RateLimiter,
  type RateLimitRule,
} from '../../infra/rate-limit/rate-limiter.js';
import type { RequestMeta } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { securityEvent } from '../../shared/security-log.js';
import { accountGone } from './account.service.js';
import {
  conflictFor,
  uniqueViolation,
  type AccountsRepository,
  type UserRow,
} from './accounts.repository.js';
import { checkNickname, isReservedNickname } from './nicknames.js';
import { checkPasswordPolicy, hashPassword, verifyAgainstDummy, verifyPassword } from './passwords.js';
import type { SessionService, SignInMethod, TokenPair } from './sessions.service.js';
import type { VerificationService } from './verification.service.js';

const MINUTE = 60_000;
/**
 * Sign-in failures, counted three ways; every counter expires by itself, so nobody is ever locked out for good.
 * Only failures count: a success gives back what its attempt reserved and clears the (account, IP) counter.
 */
export const LOGIN_LIMITS = {
  // Per account and IP: 10 failures per 15 minutes. Someone guessing from elsewhere uses up their own budget,
  // never the account holder's. The account is keyed by what was typed, so unknown accounts count the same.
  perAccountIp: { name: 'login-account-ip', limit: 10, windowMs: 15 * MINUTE },
  // Per account across every IP: 100 failures an hour (ASVS 4.0.3 2.2.1), the cap on a distributed guess.
  perAccount: { name: 'login-account', limit: 100, windowMs: 60 * MINUTE },
  // Per IP across accounts: 50 failures per 15 minutes (one address trying many accounts).
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

const invalidCredentials = () => new AppError('INVALID_CREDENTIALS', 'The sign-in details are not correct.');

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
    return !isReservedNickname(nickname) && !(await this.deps.repo.isNicknameTaken(this.deps.db, nickname));
  }

  async signupWithEmail(
    input: { email: string; password: string; nickname: string; deviceName?: string | null },
    meta: RequestMeta,
  ): Promise<AuthResult> {
    await enforceRateLimit(this.deps.limiter, LOGIN_LIMITS.signupPerIp, meta.ip);
    checkNickname(input.nickname);
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
    checkNickname(input.nickname);
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
    const { repo, verification } = this.deps;
    let key: string;
    let user: UserRow | undefined;
    let attempt: LoginAttempt;
    if ('email' in input) {
      const email = input.email.trim().toLowerCase();
      key = verification.emailHash(email);
      attempt = await this.reserveLoginAttempt(key, meta);
      user = await repo.findUserByEmail(this.deps.db, email);
    } else {
      let phoneHash: string;
      try {
        phoneHash = verification.phoneHash(verification.phone(input.phone));
      } catch {
        phoneHash = this.deps.protector.hash('phone', input.phone);
      }
      key = phoneHash;
      attempt = await this.reserveLoginAttempt(key, meta);
      user = await repo.findUserByPhoneHash(this.deps.db, phoneHash);
    }

    // An account past its restore window is gone, whether or not the purge job has erased it yet.
    const live = user && !accountGone(user, this.deps.clock.now()) ? user : undefined;
    const ok = live?.passwordHash
      ? await verifyPassword(live.passwordHash, input.password)
      : await verifyAgainstDummy(input.password);
    if (!ok || !live) {
      securityEvent(meta.log, 'auth.login.failure', {
        actor: live?.id ?? null,
        ip: meta.ip,
        method: 'password',
      });
      throw invalidCredentials();
    }
    await attempt.succeeded();
    return this.signIn(live, meta, 'password', input.deviceName ?? null);
  }

  /**
   * Counts this attempt as a failure on each login counter before the password is checked, so concurrent
   * guesses cannot overshoot a limit, stopping at the first counter that is full. The (account, IP) counter
   * comes first: an attempt it refuses gives back what it took, so a throttled guesser cannot use up the
   * account's budget across all IPs and lock its holder out. A success gives its reservation back.
   */
  private async reserveLoginAttempt(accountKey: string, meta: RequestMeta): Promise<LoginAttempt> {
    const { limiter } = this.deps;
    const counters: [RateLimitRule, string][] = [
      [LOGIN_LIMITS.perAccountIp, `${accountKey}:${meta.ip}`],
      [LOGIN_LIMITS.perIp, meta.ip],
      [LOGIN_LIMITS.perAccount, accountKey],
    ];
    const giveBack = (taken: [RateLimitRule, string][]) =>
      Promise.all(taken.map(([rule, key]) => limiter.release(rule, key)));
    for (let i = 0; i < counters.length; i++) {
      const [rule, key] = counters[i]!;
      const res = await limiter.consume(rule, key);
      if (!res.allowed) {
        await giveBack(counters.slice(0, i + 1));
        throw rateLimitError(rule, res);
      }
    }
    return {
      succeeded: async () => {
        await limiter.reset(LOGIN_LIMITS.perAccountIp, `${accountKey}:${meta.ip}`);
        await giveBack(counters.slice(1));
      },
    };
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
    if (!user || accountGone(user, this.deps.clock.now())) {
      securityEvent(meta.log, 'auth.login.failure', { actor: null, ip: meta.ip, method: 'phone_code' });
      throw invalidCredentials();
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
    // Callers look the account up first; this is the last guard, for every way of signing in.
    if (accountGone(user, this.deps.clock.now()))
      throw new AppError('UNAUTHENTICATED', 'This account no longer exists.');
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
      // Past `purgeAfter` the account cannot come back, even before the purge job has run.
      if (!user?.deletedAt || accountGone(user, this.deps.clock.now()))
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
   * session: whoever knew the old password is out. The password policy is checked before the code is spent, so
   * a refused password leaves the code usable: the rules that need nothing but what was typed first, the rest
   * (not the nickname) once the code has matched, since telling that before would reveal the account's nickname.
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
    checkPasswordPolicy(input.newPassword, { email: target.channel === 'email' ? target.email : null });
    const found =
      target.channel === 'email'
        ? await repo.findUserByEmail(this.deps.db, target.email)
        : await repo.findUserByPhoneHash(this.deps.db, verification.phoneHash(target.phone));
    const user = found && !accountGone(found, this.deps.clock.now()) ? found : undefined;
    const proof = await verification.verify(target, 'reset', input.code, meta, () => {
      if (user) checkPasswordPolicy(input.newPassword, { nickname: user.nickname, email: user.email });
    });
    if (!user) throw new AppError('CODE_INVALID', 'The code is wrong or has expired. Request a new one.');
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
      Boolean(user && !accountGone(user, this.deps.clock.now())),
    );
  }
}

interface LoginAttempt {
  /** The password was right: the attempt does not count. */
  succeeded(): Promise<void>;
}
