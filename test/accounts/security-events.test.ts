import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, trackTokens, uniquePhone } from '../helpers/accounts.js';
import type { Json } from '../helpers/http.js';

const IP = '10.77.0.1';

/**
 * The security log (ASVS V16): a scripted session of sign-ins, a token reuse, codes, a rate-limit hit, a refusal
 * and revocations, and the exact list of security events it must leave, each with UTC time, request id, actor
 * and IP, and nothing secret.
 */
describe('security events', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('logs one structured line per security event, with time, request id, actor and IP', async () => {
    const a = await signUpWithEmail(t);
    let step = 0;
    const call = async (opts: {
      method?: 'GET' | 'POST' | 'DELETE';
      url: string;
      payload?: unknown;
      headers?: Record<string, string>;
    }) => {
      const requestId = `scn-${++step}`;
      const res = await t.app.inject({
        method: opts.method ?? 'POST',
        url: opts.url,
        payload: opts.payload as Json,
        headers: { ...opts.headers, 'x-request-id': requestId },
        remoteAddress: IP,
      });
      return { res, requestId };
    };

    const fail = await call({
      url: '/v1/auth/login',
      payload: { email: a.email, password: 'not it at all' },
    });
    const ok = await call({ url: '/v1/auth/login', payload: { email: a.email, password: a.password } });
    const session = trackTokens(t, (ok.res.json() as Json).tokens);
    const phone = uniquePhone(t);
    const sent = await call({
      url: '/v1/auth/phone/send-code',
      payload: { phone, purpose: 'change_phone' },
      headers: session.headers,
    });
    const limited = await call({
      url: '/v1/auth/phone/send-code',
      payload: { phone, purpose: 'change_phone' },
      headers: session.headers,
    });
    expect(limited.res.statusCode).toBe(429);
    const wrongCode = await call({
      url: '/v1/auth/phone/verify',
      payload: { phone, purpose: 'change_phone', code: '000000' },
    });
    const text = t.infra.devOutbox.last({ channel: 'sms' })?.text ?? '';
    const code = /\[(\d{6})\]/.exec(text)![1]!;
    const rightCode =
      code === '000000'
        ? wrongCode
        : await call({ url: '/v1/auth/phone/verify', payload: { phone, purpose: 'change_phone', code } });
    const first = await call({ url: '/v1/auth/refresh', payload: { refreshToken: session.refreshToken } });
    const second = await call({
      url: '/v1/auth/refresh',
      payload: { refreshToken: (first.res.json() as Json).refreshToken },
    });
    trackTokens(t, second.res.json());
    const reuse = await call({ url: '/v1/auth/refresh', payload: { refreshToken: session.refreshToken } });
    expect((reuse.res.json() as Json).code).toBe('TOKEN_REUSED');
    const denied = await call({ method: 'DELETE', url: '/v1/me', headers: a.headers });
    expect(denied.res.statusCode).toBe(403);
    const other = await call({ url: '/v1/auth/login', payload: { email: a.email, password: a.password } });
    trackTokens(t, (other.res.json() as Json).tokens);
    const revoked = await call({ method: 'POST', url: '/v1/me/sessions/revoke-others', headers: a.headers });
    const logout = await call({ method: 'POST', url: '/v1/auth/logout', headers: a.headers });

    const events = t.logs
      .entries()
      .filter((e) => e.security === true && String(e.requestId).startsWith('scn-'))
      .map((e) => ({ requestId: e.requestId, event: e.event, actor: e.actor }));
    const expected = [
      { requestId: fail.requestId, event: 'auth.login.failure', actor: a.userId },
      { requestId: ok.requestId, event: 'auth.login.success', actor: a.userId },
      { requestId: sent.requestId, event: 'otp.sent', actor: a.userId },
      { requestId: limited.requestId, event: 'rate_limited', actor: a.userId },
      { requestId: wrongCode.requestId, event: 'otp.verify.failure', actor: null },
      ...(rightCode === wrongCode
        ? []
        : [{ requestId: rightCode.requestId, event: 'otp.verify.success', actor: null }]),
      { requestId: reuse.requestId, event: 'auth.refresh.reuse_detected', actor: a.userId },
      { requestId: denied.requestId, event: 'authz.denied', actor: a.userId },
      { requestId: other.requestId, event: 'auth.login.success', actor: a.userId },
      { requestId: revoked.requestId, event: 'auth.session.revoked', actor: a.userId },
      { requestId: logout.requestId, event: 'auth.logout', actor: a.userId },
    ];
    expect(events).toEqual(expected);

    const lines = t.logs
      .entries()
      .filter((e) => e.security === true && String(e.requestId).startsWith('scn-'));
    for (const line of lines) {
      expect(String(line.time), String(line.event)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(line.ip, String(line.event)).toBe(IP);
      expect(line).toHaveProperty('actor');
    }
    expect(lines.find((e) => e.event === 'rate_limited')).toMatchObject({ rule: 'otp-cooldown' });
    expect(lines.find((e) => e.event === 'authz.denied')).toMatchObject({
      code: 'REAUTHENTICATION_REQUIRED',
    });
    expect(JSON.stringify(lines)).not.toContain(phone.slice(3));
  });

  it('logs the API-wide per-IP limit as a rate_limited event too', async () => {
    const strict = await buildTestApp({ env: { RATE_LIMIT_PER_MINUTE: '2' } });
    try {
      for (let i = 0; i < 3; i++) {
        await strict.app.inject({
          url: '/v1/auth/oauth/providers',
          headers: { 'x-request-id': `global-${i}` },
          remoteAddress: '10.78.0.1',
        });
      }
      const line = strict.logs.entries().find((e) => e.security === true && e.event === 'rate_limited');
      expect(line).toMatchObject({ requestId: 'global-2', ip: '10.78.0.1', rule: 'global-ip', actor: null });
    } finally {
      await strict.close();
    }
  });
});
