import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/database.js';
import { LIMITS } from '../../src/modules/accounts/verification.service.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { bearer, trackTokens, uniqueNickname, uniquePhone } from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import type { Json } from '../helpers/http.js';
import { startFakeSens, type FakeSens } from '../fakes/sens-server.js';

const e164 = (phone: string) => `+82${phone.slice(1)}`;

/** Lets a test send a second code to one number at once (the limiter's window is real time on Redis). */
async function resetCooldown(t: TestApp, phone: string): Promise<void> {
  const hash = t.app.modules.accounts.verification.phoneHash({ e164: e164(phone), countryCode: '82' });
  await t.infra.limiter.reset(LIMITS.cooldown, hash);
}

/** Phone verification through the production SENS adapter against a local fake that counts what is sent. */
describe('phone verification over SENS', () => {
  let t: TestApp;
  let sens: FakeSens;
  const clock = new ManualClock();
  beforeAll(async () => {
    sens = await startFakeSens({ now: () => clock.now().getTime() });
    t = await buildTestApp({ clock, env: { ...sens.env, SMS_HOURLY_BUDGET: '1000' } });
  });
  afterAll(async () => {
    await t.close();
    await sens.close();
  });

  const sendCode = (phone: string, purpose = 'signup', ip = '10.1.0.1') =>
    t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/send-code',
      payload: { phone, purpose },
      remoteAddress: ip,
    });

  /** Waits for the SMS the fake received and reads the code out of it. */
  async function codeSentTo(phone: string): Promise<string> {
    await t.app.modules.accounts.verification.idle();
    const msg = await sens.waitForMessage({ e164: e164(phone) });
    const code = /\[(\d{6})\]/.exec(msg.content)?.[1];
    if (!code) throw new Error('no code in the message');
    t.secrets.add(code);
    return code;
  }

  it('signs up with a phone proven by a code', async () => {
    const phone = uniquePhone(t);
    const sent = await sendCode(phone);
    expect(sent.statusCode).toBe(202);
    expect(sent.json()).toEqual({ expiresInSeconds: 300, retryAfterSeconds: 60 });
    const code = await codeSentTo(phone);
    const msg = sens.messages.find((m) => m.e164 === e164(phone))!;
    expect(msg).toMatchObject({ type: 'SMS', countryCode: '82', to: phone });

    const verified = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/verify',
      payload: { phone, purpose: 'signup', code },
    });
    expect(verified.statusCode, verified.body).toBe(200);
    const { verificationId } = verified.json() as Json;
    const password = 'my phone password';
    t.secrets.add(password);
    const signup = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/signup/phone',
      payload: {
        phone: `010-${phone.slice(3, 7)}-${phone.slice(7)}`,
        verificationId,
        password,
        nickname: uniqueNickname(),
      },
    });
    expect(signup.statusCode).toBe(201);
    const body = signup.json() as Json;
    trackTokens(t, body.tokens);
    expect(body.user.phone).toBe(`+82-10-****-${phone.slice(-4)}`);
    expect(signup.body).not.toContain(phone.slice(3));

    // The proof is spent: it cannot make a second account.
    const again = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/signup/phone',
      payload: { phone, verificationId, password, nickname: uniqueNickname() },
    });
    expect((again.json() as Json).code).toBe('VERIFICATION_REQUIRED');

    const login = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { phone, password } });
    expect(login.statusCode).toBe(200);
    trackTokens(t, (login.json() as Json).tokens);

    // Stored encrypted with a keyed hash for lookup; the code only as a hash.
    const rows = await queryRows<{ phone_enc: string; phone_hash: string }>(
      t.infra.database.db,
      sql`select phone_enc, phone_hash from users where id = ${body.user.id}`,
    );
    expect(rows[0]!.phone_enc).toMatch(/^v1\./);
    expect(JSON.stringify(rows)).not.toContain(phone.slice(3));
    const challenges = await queryRows(
      t.infra.database.db,
      sql`select code_hash from verification_challenges`,
    );
    expect(JSON.stringify(challenges)).not.toContain(code);
  });

  it('records every SMS with its type for cost tracking, without the number or text', async () => {
    const phone = uniquePhone(t);
    await sendCode(phone);
    await codeSentTo(phone);
    const rows = await queryRows<Json>(
      t.infra.database.db,
      sql`select kind, type, provider, bytes, status from sms_messages order by created_at desc limit 1`,
    );
    expect(rows[0]).toMatchObject({ kind: 'otp:signup', type: 'SMS', provider: 'sens', status: 'sent' });
    expect(rows[0].bytes).toBeGreaterThan(20);
  });

  it('kills a code after 5 wrong attempts: the 6th attempt fails even with the right code', async () => {
    const phone = uniquePhone(t);
    await sendCode(phone);
    const code = await codeSentTo(phone);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/auth/phone/verify',
        payload: { phone, purpose: 'signup', code: wrong },
      });
      expect((res.json() as Json).code).toBe('CODE_INVALID');
    }
    const right = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/verify',
      payload: { phone, purpose: 'signup', code },
    });
    expect(right.statusCode).toBe(400);
    expect((right.json() as Json).code).toBe('CODE_INVALID');
  });

  it('50 concurrent wrong guesses yield at most 5 comparisons', async () => {
    const phone = uniquePhone(t);
    await sendCode(phone);
    const code = await codeSentTo(phone);
    const wrong = code === '999999' ? '888888' : '999999';
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.app.inject({
          method: 'POST',
          url: '/v1/auth/phone/verify',
          payload: { phone, purpose: 'signup', code: wrong },
          remoteAddress: `10.2.${Math.floor(i / 20)}.${i + 1}`,
        }),
      ),
    );
    expect(results.every((r) => r.statusCode === 400 || r.statusCode === 429)).toBe(true);
    const hash = t.app.modules.accounts.verification.phoneHash({ e164: e164(phone), countryCode: '82' });
    const [row] = await queryRows<{ attempts: number }>(
      t.infra.database.db,
      sql`select attempts from verification_challenges where target_hash = ${hash}`,
    );
    expect(row?.attempts).toBe(5);
  });

  it('binds a code to its purpose and uses it once', async () => {
    const phone = uniquePhone(t);
    await sendCode(phone, 'signup');
    const code = await codeSentTo(phone);
    const other = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/verify',
      payload: { phone, purpose: 'change_phone', code },
    });
    expect((other.json() as Json).code).toBe('CODE_INVALID');
    const first = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/verify',
      payload: { phone, purpose: 'signup', code },
    });
    expect(first.statusCode).toBe(200);
    const second = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/verify',
      payload: { phone, purpose: 'signup', code },
    });
    expect((second.json() as Json).code).toBe('CODE_INVALID');
  });

  it('waits 60 s between sends to one number, counted at the provider', async () => {
    const phone = uniquePhone(t);
    expect((await sendCode(phone)).statusCode).toBe(202);
    const again = await sendCode(phone, 'signup', '10.1.0.2');
    expect(again.statusCode).toBe(429);
    expect(Number(again.headers['retry-after'])).toBeGreaterThan(50);
    await t.app.modules.accounts.verification.idle();
    expect(sens.messages.filter((m) => m.e164 === e164(phone))).toHaveLength(1);
  });

  it('answers the same for registered and unregistered numbers, and texts only the registered one', async () => {
    const registered = uniquePhone(t);
    await sendCode(registered);
    const code = await codeSentTo(registered);
    const { verificationId } = (
      await t.app.inject({
        method: 'POST',
        url: '/v1/auth/phone/verify',
        payload: { phone: registered, purpose: 'signup', code },
      })
    ).json() as Json;
    t.secrets.add('registered password');
    const s = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/signup/phone',
      payload: {
        phone: registered,
        verificationId,
        password: 'registered password',
        nickname: uniqueNickname(),
      },
    });
    trackTokens(t, (s.json() as Json).tokens);
    sens.clear();
    await resetCooldown(t, registered);

    const unregistered = uniquePhone(t);
    const a = await sendCode(registered, 'reset', '10.3.0.1');
    const b = await sendCode(unregistered, 'reset', '10.3.0.2');
    expect(a.statusCode).toBe(b.statusCode);
    expect(a.json()).toEqual(b.json());
    await t.app.modules.accounts.verification.idle();
    expect(sens.messages.map((m) => m.e164)).toEqual([e164(registered)]);
  });

  it('refuses numbers outside the allowed countries before spending anything', async () => {
    const before = sens.messages.length;
    for (const phone of ['+1 650 253 0000', '+44 7911 123456', '+86 138 0013 8000', '+998 90 123 4567']) {
      const res = await sendCode(phone);
      expect(res.statusCode, phone).toBe(400);
      expect((res.json() as Json).code).toBe('PHONE_COUNTRY_NOT_ALLOWED');
    }
    const invalid = await sendCode('010-12');
    expect(invalid.statusCode).toBe(400);
    await t.app.modules.accounts.verification.idle();
    expect(sens.messages.length).toBe(before);
  });

  /** How many messages the fake SENS accepted for these numbers. */
  const deliveredTo = async (phones: string[]) => {
    await t.app.modules.accounts.verification.idle();
    const wanted = new Set(phones.map(e164));
    return sens.messages.filter((m) => wanted.has(m.e164)).length;
  };
  const ruleOf = (res: { json(): unknown }) => (res.json() as Json).details?.rule as string | undefined;

  it('caps sends per IP and per number prefix (SMS pumping), counted at the provider', async () => {
    // One IP, many numbers: the 5-minute burst limit trips first.
    const burstPhones = Array.from({ length: 12 }, () => uniquePhone(t));
    const statuses: number[] = [];
    for (const phone of burstPhones) statuses.push((await sendCode(phone, 'signup', '10.4.0.1')).statusCode);
    expect(statuses.filter((s) => s === 202)).toHaveLength(10);
    expect(statuses.slice(10)).toEqual([429, 429]);
    expect(await deliveredTo(burstPhones)).toBe(10);

    // Many IPs, numbers sharing all but the last 4 digits: the prefix velocity rule trips.
    const prefix = `0109${String(Date.now()).slice(-3)}`;
    const prefixPhones = Array.from({ length: 22 }, (_, i) => `${prefix}${String(1000 + i)}`);
    const prefixStatuses: number[] = [];
    for (const [i, phone] of prefixPhones.entries()) {
      t.secrets.add(phone);
      prefixStatuses.push((await sendCode(phone, 'signup', `10.5.${i}.1`)).statusCode);
    }
    expect(prefixStatuses.filter((s) => s === 202)).toHaveLength(20);
    expect(prefixStatuses.slice(20)).toEqual([429, 429]);
    expect(await deliveredTo(prefixPhones)).toBe(20);
  });

  it('caps one number at 10 codes a day, counted at the provider', async () => {
    const phone = uniquePhone(t);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      // A minute apart and from different addresses: only the per-number daily cap is left to trip.
      const res = await sendCode(phone, 'signup', `10.6.${i}.1`);
      statuses.push(res.statusCode);
      if (res.statusCode === 429) expect(ruleOf(res)).toBe('otp-target-day');
      await t.app.modules.accounts.verification.idle();
      clock.advance(61_000);
    }
    expect(statuses).toEqual([...Array(10).fill(202), 429]);
    expect(await deliveredTo([phone])).toBe(10);
    clock.advance(24 * 3_600_000);
    expect((await sendCode(phone, 'signup', '10.6.99.1')).statusCode).toBe(202);
    expect(await deliveredTo([phone])).toBe(11);
  });

  it('caps one IP at 30 codes a day, counted at the provider', async () => {
    const ip = '10.7.0.1';
    const phones: string[] = [];
    const statuses: number[] = [];
    for (let burst = 0; burst < 4; burst++) {
      // Ten at a time, past the 5-minute burst limit: only the daily cap is left to trip.
      for (let i = 0; i < 10; i++) {
        const phone = uniquePhone(t);
        phones.push(phone);
        const res = await sendCode(phone, 'signup', ip);
        statuses.push(res.statusCode);
        if (res.statusCode === 429) expect(ruleOf(res)).toBe('otp-ip-day');
      }
      // Delivered before time moves on: SENS refuses a request signed more than 5 minutes before it arrives.
      await t.app.modules.accounts.verification.idle();
      clock.advance(5 * 60_000 + 1_000);
    }
    expect(statuses).toEqual([...Array(30).fill(202), ...Array(10).fill(429)]);
    expect(await deliveredTo(phones)).toBe(30);
    clock.advance(24 * 3_600_000);
    expect((await sendCode(uniquePhone(t), 'signup', ip)).statusCode).toBe(202);
  });

  it('a code for change_phone needs a signed-in user', async () => {
    const res = await sendCode(uniquePhone(t), 'change_phone');
    expect(res.statusCode).toBe(401);
  });
});

describe('SMS budget breaker', () => {
  let t: TestApp;
  let sens: FakeSens;
  beforeAll(async () => {
    sens = await startFakeSens();
    t = await buildTestApp({ env: { ...sens.env, SMS_HOURLY_BUDGET: '3' } });
  });
  afterAll(async () => {
    await t.close();
    await sens.close();
  });

  it('opens past the hourly budget: 503 for everyone, nothing more sent, and an alert in the log', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/auth/phone/send-code',
        payload: { phone: uniquePhone(t), purpose: 'signup' },
        remoteAddress: `10.9.${i}.1`,
      });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([202, 202, 202, 503, 503, 503]);
    await t.app.modules.accounts.verification.idle();
    expect(sens.messages).toHaveLength(3);
    expect(t.logs.entries().some((e) => e.event === 'sms.budget_exhausted' && e.level === 'warn')).toBe(true);

    // Sign-in and reset codes for numbers without an account are never sent, but while the breaker is open
    // they answer 503 as well: a 202 would tell them apart from registered numbers.
    for (const purpose of ['login', 'reset']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/auth/phone/send-code',
        payload: { phone: uniquePhone(t), purpose },
        remoteAddress: `10.9.9.${purpose.length}`,
      });
      expect(res.statusCode, purpose).toBe(503);
      expect((res.json() as Json).code).toBe('SMS_UNAVAILABLE');
    }
  });
});

describe('code expiry and SMS sign-in (log provider)', () => {
  let t: TestApp;
  const clock = new ManualClock();
  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t.close());

  const lastCode = (phone: string) => {
    const item = t.infra.devOutbox.last({ channel: 'sms', to: e164(phone) });
    const code = item ? /\[(\d{6})\]/.exec(item.text)?.[1] : undefined;
    if (!code) throw new Error('no code');
    t.secrets.add(code);
    return code;
  };

  it('a code expires after 5 minutes', async () => {
    const phone = uniquePhone(t);
    await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/send-code',
      payload: { phone, purpose: 'signup' },
    });
    const code = lastCode(phone);
    clock.advance(5 * 60_000 + 1_000);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/verify',
      payload: { phone, purpose: 'signup', code },
    });
    expect((res.json() as Json).code).toBe('CODE_INVALID');
  });

  it('the log provider masks the code and the number in the log', async () => {
    const phone = uniquePhone(t);
    await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/send-code',
      payload: { phone, purpose: 'signup' },
    });
    await t.app.modules.accounts.verification.idle();
    const code = lastCode(phone);
    expect(t.logs.text()).not.toContain(code);
    expect(t.logs.text()).toContain(`+82-10-****-${phone.slice(-4)}`);
  });

  it('signs in with an SMS code (purpose login), and a verification id is not a sign-in', async () => {
    const phone = uniquePhone(t);
    await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/send-code',
      payload: { phone, purpose: 'signup' },
    });
    const code = lastCode(phone);
    const { verificationId } = (
      await t.app.inject({
        method: 'POST',
        url: '/v1/auth/phone/verify',
        payload: { phone, purpose: 'signup', code },
      })
    ).json() as Json;
    t.secrets.add('code login password');
    const signup = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/signup/phone',
      payload: { phone, verificationId, password: 'code login password', nickname: uniqueNickname() },
    });
    const userId = (signup.json() as Json).user.id;
    trackTokens(t, (signup.json() as Json).tokens);
    await resetCooldown(t, phone);
    await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/send-code',
      payload: { phone, purpose: 'login' },
    });
    const loginCode = lastCode(phone);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login/phone-code',
      payload: { phone, code: loginCode },
    });
    expect(res.statusCode).toBe(200);
    const tokens = trackTokens(t, (res.json() as Json).tokens);
    const me = await t.app.inject({ url: '/v1/me', headers: bearer(tokens.accessToken) });
    expect((me.json() as Json).id).toBe(userId);
  });
});
