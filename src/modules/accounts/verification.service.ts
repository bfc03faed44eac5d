import { randomInt, randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import { safeEqual, type DataProtector } from '../../infra/crypto.js';
import type { Executor } from '../../infra/db/database.js';
import type { Logger } from '../../infra/logger.js';
import type { Mailer } from '../../infra/mail/mailer.js';
import {
  enforceRateLimit,
  type RateLimiter,
  type RateLimitRule,
} from '../../infra/rate-limit/rate-limiter.js';
import {
  eucKrByteLength,
  maskPhone,
  smsTypeFor,
  type SmsResult,
  type SmsSender,
} from '../../infra/sms/sms.js';
import type { Actor, RequestMeta } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { securityEvent } from '../../shared/security-log.js';
import { accountGone } from './account.service.js';
import type { AccountsRepository, ChallengeRow } from './accounts.repository.js';
import { normalizePhone, type Phone } from './phone.js';

export type VerificationPurpose = ChallengeRow['purpose'];

export const CODE_TTL_MS = 5 * 60_000;
/** A verified code is proof of the phone or address for this long (enough to finish a sign-up form). */
export const PROOF_TTL_MS = 15 * 60_000;
export const MAX_ATTEMPTS = 5;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Throttles on sending, by target, by IP and by number prefix (SMS pumping), and on verifying. */
export const LIMITS = {
  cooldown: { name: 'otp-cooldown', limit: 1, windowMs: 60_000 },
  perTargetDaily: { name: 'otp-target-day', limit: 10, windowMs: DAY },
  perIpDaily: { name: 'otp-ip-day', limit: 30, windowMs: DAY },
  perIpBurst: { name: 'otp-ip-5min', limit: 10, windowMs: 5 * 60_000 },
  perPrefixHourly: { name: 'otp-prefix-hour', limit: 20, windowMs: HOUR },
  verifyPerIp: { name: 'otp-verify-ip', limit: 30, windowMs: 5 * 60_000 },
  verifyPerTarget: { name: 'otp-verify-target', limit: 20, windowMs: DAY },
} satisfies Record<string, RateLimitRule>;

export interface SendResult {
  expiresInSeconds: number;
  retryAfterSeconds: number;
}

type Target = { channel: 'sms'; phone: Phone } | { channel: 'email'; email: string };

/**
 * One-time codes by SMS and mail: 6 digits from a CSPRNG, valid 5 minutes, single use, bound to the target and
 * purpose, stored as a keyed hash, dead after 5 wrong attempts. Sending answers the same whether or not an
 * account exists; the message itself is handed to the provider after the response, so timing does not tell
 * either.
 */
export class VerificationService {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      repo: AccountsRepository;
      db: Executor;
      protector: DataProtector;
      limiter: RateLimiter;
      clock: Clock;
      sms: SmsSender;
      mailer: Mailer;
      logger: Logger;
      config: Config['sms'];
    },
  ) {}

  phone(raw: string): Phone {
    return normalizePhone(raw, this.deps.config.allowedCountries);
  }

  phoneHash(phone: Phone): string {
    return this.deps.protector.hash('phone', phone.e164);
  }

  emailHash(email: string): string {
    return this.deps.protector.hash('email', email.trim().toLowerCase());
  }

  private targetHash(target: Target): string {
    return target.channel === 'sms' ? this.phoneHash(target.phone) : this.emailHash(target.email);
  }

  private codeHash(challengeId: string, code: string): string {
    return this.deps.protector.hash('otp', `${challengeId}:${code}`);
  }

  /**
   * Sends an SMS code. `change_phone` needs a signed-in person (the code will move their account). For `login`
   * and `reset` the message only goes out when a live account has the number, but the answer, throttles and
   * budget are the same either way, so the endpoint does not tell which numbers are registered.
   */
  async sendPhoneCode(
    input: { phone: string; purpose: VerificationPurpose },
    actor: Actor | null,
    meta: RequestMeta,
  ): Promise<SendResult> {
    if (input.purpose === 'change_phone' && !actor) {
      throw new AppError('UNAUTHENTICATED', 'Sign in to change your phone number.');
    }
    const phone = this.phone(input.phone);
    let deliver = true;
    if (input.purpose === 'login' || input.purpose === 'reset') {
      const user = await this.deps.repo.findUserByPhoneHash(this.deps.db, this.phoneHash(phone));
      deliver = Boolean(user && !accountGone(user, this.deps.clock.now()));
    }
    return this.send({ channel: 'sms', phone }, input.purpose, meta, deliver);
  }

  /**
   * Issues a code. `deliver` false records the challenge but sends nothing (e.g. a reset for a number with no
   * account), so the caller answers identically either way.
   */
  async send(
    target: Target,
    purpose: VerificationPurpose,
    meta: RequestMeta,
    deliver: boolean,
  ): Promise<SendResult> {
    const targetHash = this.targetHash(target);
    const { limiter } = this.deps;
    await enforceRateLimit(limiter, LIMITS.perIpBurst, meta.ip);
    await enforceRateLimit(limiter, LIMITS.perIpDaily, meta.ip);
    await enforceRateLimit(limiter, LIMITS.cooldown, targetHash);
    await enforceRateLimit(limiter, LIMITS.perTargetDaily, targetHash);
    if (target.channel === 'sms') {
      // Numbers sharing all but the last 4 digits: the shape of a premium-range pumping attack.
      await enforceRateLimit(limiter, LIMITS.perPrefixHourly, target.phone.e164.slice(0, -4));
      // Taken whether or not the message will go out: an open breaker must answer 503 for unregistered numbers
      // too, or the 202 they would get would tell them apart.
      await this.takeFromSmsBudget(meta);
    }

    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const now = this.deps.clock.now();
    const id = randomUUID();
    await this.deps.repo.insertChallenge(this.deps.db, {
      id,
      channel: target.channel,
      targetHash,
      purpose,
      codeHash: this.codeHash(id, code),
      maxAttempts: MAX_ATTEMPTS,
      createdAt: now,
      expiresAt: new Date(now.getTime() + CODE_TTL_MS),
      ip: meta.ip,
    });

    securityEvent(meta.log, deliver ? 'otp.sent' : 'otp.suppressed', {
      actor: meta.actorId,
      ip: meta.ip,
      channel: target.channel,
      purpose,
      ...(target.channel === 'sms' ? { to: maskPhone(target.phone.e164) } : {}),
    });
    if (deliver) this.dispatch(target, purpose, code, targetHash);
    return { expiresInSeconds: CODE_TTL_MS / 1000, retryAfterSeconds: LIMITS.cooldown.windowMs / 1000 };
  }

  private async takeFromSmsBudget(meta: RequestMeta): Promise<void> {
    const res = await this.deps.limiter.consume(
      { name: 'sms-budget', limit: this.deps.config.hourlyBudget, windowMs: HOUR },
      'global',
    );
    if (!res.allowed) {
      // The breaker: no SMS until the hour is over. Someone must look at why the budget ran out.
      securityEvent(meta.log, 'sms.budget_exhausted', {
        actor: meta.actorId,
        ip: meta.ip,
        budget: this.deps.config.hourlyBudget,
      });
      throw new AppError('SMS_UNAVAILABLE', 'Text messages cannot be sent right now. Try again later.', {
        headers: { 'retry-after': String(Math.max(1, Math.ceil(res.retryAfterMs / 1000))) },
      });
    }
  }

  private dispatch(target: Target, purpose: VerificationPurpose, code: string, targetHash: string): void {
    const work = (async () => {
      if (target.channel === 'email') {
        await this.deps.mailer.send({
          to: target.email,
          subject: '[Moim] Your verification code',
          text: `Your Moim ${purpose === 'reset' ? 'password reset ' : ''}code is ${code}. It expires in 5 minutes.\nIf you did not ask for it, ignore this mail.`,
        });
        return;
      }
      const text = `[Moim] 인증번호 [${code}]를 입력해 주세요. 5분 후 만료됩니다.`;
      let sent: SmsResult | undefined;
      try {
        sent = await this.deps.sms.send({ to: target.phone.e164, text });
      } catch (err) {
        this.deps.logger.error({ err, to: maskPhone(target.phone.e164) }, 'SMS delivery failed');
      }
      await this.deps.repo.recordSms(this.deps.db, {
        phoneHash: targetHash,
        kind: `otp:${purpose}`,
        provider: this.deps.sms.name,
        // As the adapter reports it billed; a failed send records what the message would have been.
        ...(sent
          ? { type: sent.type, bytes: sent.bytes, status: 'sent', providerMessageId: sent.providerMessageId }
          : {
              type: smsTypeFor(text),
              bytes: eucKrByteLength(text),
              status: 'failed',
              providerMessageId: null,
            }),
      });
    })().catch((err: unknown) => this.deps.logger.error({ err }, 'verification delivery failed'));
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /** Resolves when every message handed off so far has been delivered (tests, graceful shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /**
   * Checks a code. The attempt is counted before the comparison, atomically; wrong, expired, exhausted and
   * unknown all answer the same CODE_INVALID. Returns the challenge id: proof of the target for PROOF_TTL_MS.
   *
   * `beforeSpending` runs once the code has matched and before it is marked verified: a check that may only be
   * answered to the holder of the code (e.g. a password policy that involves the account) and that, when it
   * throws, must leave the code usable for another try (the attempt still counts).
   */
  async verify(
    target: Target,
    purpose: VerificationPurpose,
    code: string,
    meta: RequestMeta,
    beforeSpending?: () => void,
  ): Promise<string> {
    const targetHash = this.targetHash(target);
    await enforceRateLimit(this.deps.limiter, LIMITS.verifyPerIp, meta.ip);
    await enforceRateLimit(this.deps.limiter, LIMITS.verifyPerTarget, targetHash);
    const now = this.deps.clock.now();
    const attempt = await this.deps.repo.claimAttempt(this.deps.db, targetHash, purpose, now);
    const matched =
      attempt !== undefined &&
      /^\d{6}$/.test(code) &&
      safeEqual(attempt.codeHash, this.codeHash(attempt.id, code));
    if (matched) beforeSpending?.();
    const ok = matched && (await this.deps.repo.markChallengeVerified(this.deps.db, attempt.id, now));
    securityEvent(meta.log, ok ? 'otp.verify.success' : 'otp.verify.failure', {
      actor: meta.actorId,
      ip: meta.ip,
      channel: target.channel,
      purpose,
    });
    if (!ok || !attempt)
      throw new AppError('CODE_INVALID', 'The code is wrong or has expired. Request a new one.');
    return attempt.id;
  }

  /** Spends a proof returned by `verify`, inside the transaction that relies on it. */
  async consumeProof(
    tx: Executor,
    proofId: string,
    target: Target,
    purpose: VerificationPurpose,
  ): Promise<void> {
    const now = this.deps.clock.now();
    const verifiedAfter = new Date(now.getTime() - PROOF_TTL_MS);
    const ok = await this.deps.repo.consumeVerifiedChallenge(
      tx,
      proofId,
      this.targetHash(target),
      purpose,
      verifiedAfter,
      now,
    );
    if (!ok) {
      throw new AppError(
        'VERIFICATION_REQUIRED',
        'Verify the phone number (or address) again before continuing.',
      );
    }
  }
}
