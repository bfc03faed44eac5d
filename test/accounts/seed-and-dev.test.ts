import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PASSWORD, seed } from '../../src/seed.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { login, uniquePhone } from '../helpers/accounts.js';
import type { Json } from '../helpers/http.js';

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
});
