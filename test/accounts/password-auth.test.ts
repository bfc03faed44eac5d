import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  login,
  signUpWithEmail,
  trackTokens,
  uniqueEmail,
  uniqueNickname,
} from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import type { Json } from '../helpers/http.js';

describe('email sign-up and password sign-in', () => {
  let t: TestApp;
  const clock = new ManualClock();
  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t.close());

  it('signs up, returns tokens and the account, and never a password hash or token in the user', async () => {
    const email = uniqueEmail();
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/signup/email',
      payload: { email, password: 'a long enough pass', nickname: uniqueNickname() },
    });
    t.secrets.add('a long enough pass');
    expect(res.statusCode).toBe(201);
    const body = res.json() as Json;
    t.secrets.add(body.tokens.accessToken);
    t.secrets.add(body.tokens.refreshToken);
    expect(body.tokens).toMatchObject({ tokenType: 'Bearer', accessToken: expect.any(String) });
    expect(body.user).toMatchObject({ email, hasPassword: true, needsOnboarding: false, role: 'user' });
    expect(res.body).not.toMatch(/argon2|passwordHash|password_hash/);
    const me = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(body.tokens.accessToken) });
    expect(me.statusCode).toBe(200);
    expect((me.json() as Json).id).toBe(body.user.id);
  });

  it('refuses a taken email and a taken nickname, whatever their case', async () => {
    const a = await signUpWithEmail(t);
    const sameEmail = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/signup/email',
      payload: { email: a.email.toUpperCase(), password: 'another fine pass', nickname: uniqueNickname() },
    });
    expect(sameEmail.statusCode).toBe(409);
    expect((sameEmail.json() as Json).code).toBe('EMAIL_TAKEN');
    const sameNick = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/signup/email',
      payload: { email: uniqueEmail(), password: 'another fine pass', nickname: a.nickname.toUpperCase() },
    });
    expect(sameNick.statusCode).toBe(409);
    expect((sameNick.json() as Json).code).toBe('NICKNAME_TAKEN');
  });

  it('enforces the password policy: length, common passwords, not the nickname or email', async () => {
    const email = uniqueEmail();
    const cases: [string, string][] = [
      ['short1!', 'VALIDATION_FAILED'],
      ['x'.repeat(73), 'VALIDATION_FAILED'],
      ['password123', 'WEAK_PASSWORD'],
      ['qwer1234', 'WEAK_PASSWORD'],
      ['Saranghae1004', 'WEAK_PASSWORD'],
      ['nick_name_x', 'WEAK_PASSWORD'],
      [email, 'WEAK_PASSWORD'],
    ];
    for (const [password, code] of cases) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/auth/signup/email',
        payload: { email, password, nickname: 'nick_name_x' },
      });
      expect(res.statusCode, password).toBe(400);
      expect((res.json() as Json).code, password).toBe(code);
    }
  });

  it('reports nickname availability', async () => {
    const a = await signUpWithEmail(t);
    const taken = await t.app.inject({ url: `/v1/auth/nickname-availability?nickname=${a.nickname}` });
    expect(taken.json()).toEqual({ nickname: a.nickname, available: false });
    const free = await t.app.inject({ url: `/v1/auth/nickname-availability?nickname=${uniqueNickname()}` });
    expect((free.json() as Json).available).toBe(true);
    const bad = await t.app.inject({ url: '/v1/auth/nickname-availability?nickname=a%0Ab' });
    expect(bad.statusCode).toBe(400);
  });

  it('signs in, and answers a wrong password and an unknown account identically', async () => {
    const a = await signUpWithEmail(t);
    const ok = await login(t, a.email, a.password);
    expect(ok.accessToken).toBeTruthy();
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: a.email, password: 'not the password' },
    });
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: uniqueEmail(), password: 'not the password' },
    });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json()).toEqual(unknown.json());
    expect(wrong.json()).toEqual({
      code: 'INVALID_CREDENTIALS',
      message: 'The sign-in details are not correct.',
    });
  });

  // These check the password scores of times over: argon2 is slow on purpose, and slower on a busy machine.
  describe('throttling', { timeout: 120_000 }, () => {
    const attempt = (email: string, password: string, ip: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email, password },
        remoteAddress: ip,
      });
    const statuses = async (n: number, email: string, password: string, ip: string) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await attempt(email, password, ip)).statusCode);
      return out;
    };
    const ruleOf = (res: { json(): unknown }) => (res.json() as Json).details?.rule as string | undefined;

    it('throttles 10 failures per account and IP, with Retry-After; the holder still signs in from elsewhere; it expires', async () => {
      const a = await signUpWithEmail(t);
      expect(await statuses(10, a.email, 'wrong password!', '10.20.0.1')).toEqual(Array(10).fill(401));
      const limited = await attempt(a.email, 'wrong password!', '10.20.0.1');
      expect(limited.statusCode).toBe(429);
      expect(ruleOf(limited)).toBe('login-account-ip');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(15 * 60);
      // The guesser keeps trying from their address: refused there, without touching the holder's budget.
      expect(await statuses(20, a.email, 'wrong password!', '10.20.0.1')).toEqual(Array(20).fill(429));
      expect((await attempt(a.email, a.password, '10.20.0.1')).statusCode).toBe(429);
      const holder = await attempt(a.email, a.password, '10.20.0.2');
      expect(holder.statusCode).toBe(200);
      trackTokens(t, (holder.json() as Json).tokens);
      // No permanent lock-out: the window ends by itself (on the injected clock, in both modes).
      clock.advance(15 * 60_000 + 1_000);
      expect((await attempt(a.email, 'wrong password!', '10.20.0.1')).statusCode).toBe(401);
      const back = await attempt(a.email, a.password, '10.20.0.1');
      expect(back.statusCode).toBe(200);
      trackTokens(t, (back.json() as Json).tokens);
    });

    it('counts failures only: a success takes no budget and clears the account-and-IP count', async () => {
      const a = await signUpWithEmail(t);
      const ip = '10.21.0.1';
      for (let round = 0; round < 3; round++) {
        expect(await statuses(9, a.email, 'wrong password!', ip)).toEqual(Array(9).fill(401));
        const ok = await attempt(a.email, a.password, ip);
        expect(ok.statusCode, `round ${round}`).toBe(200);
        trackTokens(t, (ok.json() as Json).tokens);
      }
      expect(await statuses(10, a.email, 'wrong password!', ip)).toEqual(Array(10).fill(401));
      expect((await attempt(a.email, 'wrong password!', ip)).statusCode).toBe(429);
    });

    it('throttles 50 failures per IP across accounts; successes from that IP do not count', async () => {
      const a = await signUpWithEmail(t);
      const ip = '10.22.0.1';
      for (let i = 0; i < 5; i++)
        trackTokens(t, ((await attempt(a.email, a.password, ip)).json() as Json).tokens);
      // Five accounts, ten guesses each: every per-account-and-IP count stays under its limit.
      const guesses: number[] = [];
      for (let i = 0; i < 5; i++) guesses.push(...(await statuses(10, uniqueEmail(), 'some guess 123', ip)));
      expect(guesses).toEqual(Array(50).fill(401));
      const limited = await attempt(uniqueEmail(), 'some guess 123', ip);
      expect(limited.statusCode).toBe(429);
      expect(ruleOf(limited)).toBe('login-ip');
      expect((await attempt(a.email, a.password, ip)).statusCode).toBe(429);
      const elsewhere = await attempt(a.email, a.password, '10.22.0.2');
      expect(elsewhere.statusCode).toBe(200);
      trackTokens(t, (elsewhere.json() as Json).tokens);
      clock.advance(15 * 60_000 + 1_000);
      expect((await attempt(uniqueEmail(), 'some guess 123', ip)).statusCode).toBe(401);
    });

    it('caps failures per account across all IPs at 100 an hour (ASVS 2.2.1), then lets the holder in again', async () => {
      const a = await signUpWithEmail(t);
      const guesses: number[] = [];
      for (let ip = 1; ip <= 10; ip++) {
        guesses.push(...(await statuses(10, a.email, 'distributed guess', `10.23.${ip}.1`)));
      }
      expect(guesses).toEqual(Array(100).fill(401));
      const limited = await attempt(a.email, a.password, '10.23.99.1');
      expect(limited.statusCode).toBe(429);
      expect(ruleOf(limited)).toBe('login-account');
      // Another account from the same addresses is not affected.
      const b = await signUpWithEmail(t);
      const other = await attempt(b.email, b.password, '10.23.1.1');
      expect(other.statusCode).toBe(200);
      trackTokens(t, (other.json() as Json).tokens);
      clock.advance(60 * 60_000 + 1_000);
      const back = await attempt(a.email, a.password, '10.23.99.1');
      expect(back.statusCode).toBe(200);
      trackTokens(t, (back.json() as Json).tokens);
    });
  });

  it('logs sign-in successes and failures as security events with time, request id, actor and IP', async () => {
    const a = await signUpWithEmail(t);
    await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: a.email, password: 'wrong password!' },
      headers: { 'x-request-id': 'sec-evt-1' },
    });
    await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: a.email, password: a.password },
      headers: { 'x-request-id': 'sec-evt-2' },
    });
    const events = t.logs.entries().filter((e) => e.security === true);
    const failure = events.find((e) => e.requestId === 'sec-evt-1' && e.event === 'auth.login.failure');
    const success = events.find((e) => e.requestId === 'sec-evt-2' && e.event === 'auth.login.success');
    expect(failure).toMatchObject({ actor: a.userId, ip: '127.0.0.1' });
    expect(success).toMatchObject({ actor: a.userId, ip: '127.0.0.1' });
    expect(String(success?.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});
