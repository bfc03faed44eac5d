import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PASSWORD, seed } from '../../src/seed.js';
import { assertNoSecretsLogged, buildTestApp, LogCapture, type TestApp } from '../helpers/app.js';
import { login, sendPhoneCode, uniqueEmail, uniqueNickname, uniquePhone } from '../helpers/accounts.js';
import type { Json } from '../helpers/http.js';
import { issuedSecrets } from '../helpers/secrets.js';
import { startFakeKakao } from '../fakes/kakao-server.js';

describe('moim seed', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
    t.secrets.add(DEMO_PASSWORD);
  });
  afterAll(() => t.close());

  it('creates demo users who can sign in, and running it again keeps them', async () => {
    const first = await seed(t.infra, t.app.modules);
    expect(first.filter((l) => l.startsWith('created'))).toHaveLength(3);
    const second = await seed(t.infra, t.app.modules);
    expect(second.filter((l) => l.startsWith('kept'))).toHaveLength(3);
    await login(t, 'minji@moim.local', DEMO_PASSWORD);
  });

  it('has no development outbox route outside development', async () => {
    expect((await t.app.inject({ url: '/v1/dev/outbox' })).statusCode).toBe(404);
  });
});

describe('development outbox', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { NODE_ENV: 'development' } });
  });
  afterAll(() => t.close());

  it('shows a newcomer the code the log SMS adapter "sent"', async () => {
    const phone = uniquePhone(t);
    await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/send-code',
      payload: { phone, purpose: 'signup' },
    });
    await t.app.modules.accounts.verification.idle();
    const res = await t.app.inject({ url: `/v1/dev/outbox?channel=sms&to=%2B82${phone.slice(1)}` });
    expect(res.statusCode).toBe(200);
    const [item] = (res.json() as Json).items;
    const code = /\[(\d{6})\]/.exec(item.text)?.[1];
    expect(code).toMatch(/^\d{6}$/);
    t.secrets.add(code!);
  });

  it('registers what the app sends, what its dev outbox gets and what fakes issue as secrets, by itself', async () => {
    const signup = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/signup/email',
      payload: { email: uniqueEmail(), password: 'harness password 1', nickname: uniqueNickname() },
    });
    const { tokens } = signup.json() as Json;
    expect(t.secrets.has(tokens.accessToken)).toBe(true);
    expect(t.secrets.has(tokens.refreshToken)).toBe(true);
    expect(t.secrets.has(tokens.sessionId)).toBe(false);

    const phone = uniquePhone(t);
    await sendPhoneCode(t, phone);
    await t.app.modules.accounts.verification.idle();
    const code = /\[(\d{6})\]/.exec(t.infra.devOutbox.last({ channel: 'sms' })!.text)![1]!;
    expect(t.secrets.has(code)).toBe(true);
    const verified = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/phone/verify',
      payload: { phone, purpose: 'signup', code },
    });
    expect(t.secrets.has((verified.json() as Json).verificationId)).toBe(true);
    // Error codes share the `code` key and are not secrets.
    expect(t.secrets.has('CODE_INVALID')).toBe(false);

    const kakao = await startFakeKakao();
    const providerToken = kakao.issueAccessToken({ id: 1 });
    await kakao.close();
    expect(issuedSecrets.has(providerToken)).toBe(true);
    expect(issuedSecrets.has(kakao.clientSecret!)).toBe(true);

    // And a line that carries one fails the check; a code inside a longer number does not.
    const logs = new LogCapture();
    logs.write(`{"msg":"took 0.9${code}1 ms"}`);
    expect(() => assertNoSecretsLogged(logs, [code])).not.toThrow();
    logs.write(`{"msg":"your code is ${code}"}`);
    expect(() => assertNoSecretsLogged(logs, [code])).toThrow(/Secrets found in the logs/);
  });
});
