import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, servicesMode, type TestApp } from '../helpers/app.js';
import { bearer, login, signUpWithEmail, uniqueEmail, uniqueNickname } from '../helpers/accounts.js';
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

  it('throttles repeated failures per account with Retry-After; success resets the count', async () => {
    const a = await signUpWithEmail(t);
    const attempt = (password: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: a.email, password },
        // Different client addresses: the per-account limit, not the per-IP one, must stop this.
        remoteAddress: `10.0.0.${Math.floor(Math.random() * 200) + 1}`,
      });
    for (let i = 0; i < 9; i++) expect((await attempt('wrong password!')).statusCode).toBe(401);
    expect((await attempt(a.password)).statusCode).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await attempt('wrong password!')).statusCode);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    const limited = await attempt(a.password);
    expect(statuses[10]).toBe(429);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(15 * 60);
    if (!servicesMode) {
      // The lock expires by itself: no permanent lock-out of a victim.
      clock.advance(15 * 60_000 + 1_000);
      expect((await attempt(a.password)).statusCode).toBe(200);
    }
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
