import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { DevOutbox } from '../../src/infra/dev-outbox.js';
import { createLogger } from '../../src/infra/logger.js';
import { createSmsSender } from '../../src/infra/sms/create-sms-sender.js';
import { SensSmsSender, sensSignature, type SensConfig } from '../../src/infra/sms/sens-sms.js';
import { SmsDeliveryError } from '../../src/infra/sms/sms.js';
import { startFakeSens, type FakeSens } from '../fakes/sens-server.js';

const silent = createLogger({ log: { level: 'silent', pretty: false } });
const OTP = '[Moim] 인증번호 [482913]를 입력해 주세요. 5분 후 만료됩니다.';

let sens: FakeSens;
let config: SensConfig;

beforeAll(async () => {
  sens = await startFakeSens();
  config = {
    baseUrl: sens.url,
    serviceId: sens.serviceId,
    accessKey: sens.accessKey,
    secretKey: sens.secretKey,
    from: sens.from,
  };
});
afterAll(() => sens.close());
beforeEach(() => sens.clear());

describe('SensSmsSender against the fake SENS', () => {
  it('sends a short text as SMS to the Korean national number, without a subject', async () => {
    const sender = new SensSmsSender(config);
    const result = await sender.send({ to: '+821012345678', text: OTP, subject: 'ignored for SMS' });

    expect(result).toMatchObject({ type: 'SMS', provider: 'sens', bytes: 60 });
    expect(result.providerMessageId).toMatch(/^RSSA-/);
    expect(sens.messages).toHaveLength(1);
    expect(sens.messages[0]).toMatchObject({
      type: 'SMS',
      to: '01012345678',
      countryCode: '82',
      e164: '+821012345678',
      from: '0212345678',
      contentType: 'COMM',
      content: OTP,
      subject: undefined,
      requestId: result.providerMessageId,
    });
  });

  it('sends a long text as LMS with its subject', async () => {
    const text = `[Moim] ${'안내 '.repeat(40)}`;
    const result = await new SensSmsSender(config).send({ to: '+821098765432', text, subject: '모임 안내' });
    expect(result.type).toBe('LMS');
    expect(sens.messages[0]).toMatchObject({
      type: 'LMS',
      to: '01098765432',
      content: text,
      subject: '모임 안내',
    });
  });

  it('sends foreign numbers as national significant numbers with their country code', async () => {
    await new SensSmsSender(config).send({ to: '+819012345678', text: 'code 123456' });
    expect(sens.messages[0]).toMatchObject({ to: '9012345678', countryCode: '81', e164: '+819012345678' });
  });

  it('turns an error status into SmsDeliveryError carrying the status and no secrets or number', async () => {
    sens.failNext(500);
    const err = await new SensSmsSender(config)
      .send({ to: '+821012345678', text: OTP })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SmsDeliveryError);
    expect((err as SmsDeliveryError).status).toBe(500);
    const message = (err as Error).message;
    for (const secret of [config.secretKey, config.accessKey, '01012345678', '12345678', '482913']) {
      expect(message).not.toContain(secret);
    }
    expect(sens.messages).toHaveLength(0);
  });

  it('fails with 401 when the secret is wrong', async () => {
    const sender = new SensSmsSender({ ...config, secretKey: 'not-the-secret' });
    const err = await sender.send({ to: '+821012345678', text: OTP }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SmsDeliveryError);
    expect((err as SmsDeliveryError).status).toBe(401);
    expect((err as Error).message).not.toContain('not-the-secret');
    expect(sens.rejections.at(-1)).toMatchObject({ status: 401, reason: 'signature mismatch' });
  });

  it('is refused when its clock is more than 5 minutes off', async () => {
    const skewed = { now: () => new Date(Date.now() - 6 * 60_000) };
    const err = await new SensSmsSender(config, { clock: skewed })
      .send({ to: '+821012345678', text: OTP })
      .catch((e: unknown) => e);
    expect((err as SmsDeliveryError).status).toBe(401);
    expect(sens.rejections.at(-1)?.reason).toMatch(/5 minutes/);
    const nearlySkewed = { now: () => new Date(Date.now() - 4 * 60_000) };
    await expect(
      new SensSmsSender(config, { clock: nearlySkewed }).send({ to: '+821012345678', text: OTP }),
    ).resolves.toMatchObject({ type: 'SMS' });
  });

  it('signs with the injected clock and sends the documented headers', async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const recordingFetch: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      seen.push({ url, init: init ?? {} });
      return fetch(input, init);
    };
    const clock = { now: () => new Date(Date.now() - 1000) };
    await new SensSmsSender(config, { fetch: recordingFetch, clock }).send({
      to: '+821012345678',
      text: 'hi',
    });
    const headers = seen[0]!.init.headers as Record<string, string>;
    expect(seen[0]!.url).toBe(`${sens.url}/sms/v2/services/${sens.serviceId}/messages`);
    expect(headers['content-type']).toBe('application/json; charset=utf-8');
    expect(headers['x-ncp-iam-access-key']).toBe(sens.accessKey);
    expect(Math.abs(Number(headers['x-ncp-apigw-timestamp']) - (Date.now() - 1000))).toBeLessThan(1000);
    expect(headers['x-ncp-apigw-signature-v2']).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('reports an unreachable SENS as SmsDeliveryError without a status', async () => {
    const dead = await startFakeSens();
    const url = dead.url;
    await dead.close();
    const err = await new SensSmsSender({ ...config, baseUrl: url })
      .send({ to: '+821012345678', text: OTP })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SmsDeliveryError);
    expect((err as SmsDeliveryError).status).toBeUndefined();
  });

  it('refuses texts over the LMS limit before calling SENS', async () => {
    const err = await new SensSmsSender(config)
      .send({ to: '+821012345678', text: '가'.repeat(1001) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SmsDeliveryError);
    expect(sens.rejections).toHaveLength(0);
    expect(sens.messages).toHaveLength(0);
  });

  it('is what createSmsSender builds for SMS_PROVIDER=sens', async () => {
    const cfg = loadConfig({ NODE_ENV: 'test', ...sens.env });
    const sender = createSmsSender(cfg, silent, new DevOutbox());
    expect(sender.name).toBe('sens');
    await sender.send({ to: '+821012345678', text: OTP });
    const msg = await sens.waitForMessage({ e164: '+821012345678' });
    expect(msg.content).toBe(OTP);
  });
});

describe('the fake SENS itself', () => {
  const path = () => `/sms/v2/services/${sens.serviceId}/messages`;
  const post = (p: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${sens.url}${p}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const signed = (body: unknown) => {
    const timestamp = String(Date.now());
    return post(path(), body, {
      'x-ncp-apigw-timestamp': timestamp,
      'x-ncp-iam-access-key': sens.accessKey,
      'x-ncp-apigw-signature-v2': sensSignature({
        method: 'POST',
        path: path(),
        timestamp,
        accessKey: sens.accessKey,
        secretKey: sens.secretKey,
      }),
    });
  };
  const valid = {
    type: 'SMS',
    contentType: 'COMM',
    countryCode: '82',
    from: '0212345678',
    content: 'hello',
    messages: [{ to: '01012345678' }],
  };

  it('rejects unsigned requests and unknown services', async () => {
    expect((await post(path(), valid)).status).toBe(401);
    expect((await post('/sms/v2/services/other/messages', valid)).status).toBe(404);
    expect(sens.messages).toHaveLength(0);
  });

  it('accepts a valid signed body and rejects the mistakes a client could make', async () => {
    expect((await signed(valid)).status).toBe(202);
    const mistakes: [string, unknown][] = [
      ['subject on SMS', { ...valid, subject: 'x' }],
      ['E.164 digits instead of national', { ...valid, messages: [{ to: '821012345678' }] }],
      ['unregistered from', { ...valid, from: '0299999999' }],
      ['over 90 bytes as SMS', { ...valid, content: '가'.repeat(46) }],
      ['no recipients', { ...valid, messages: [] }],
      ['unknown type', { ...valid, type: 'FAX' }],
    ];
    for (const [name, body] of mistakes) expect((await signed(body)).status, name).toBe(400);
    expect(sens.messages).toHaveLength(1);
  });
});
