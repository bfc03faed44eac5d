import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { DevOutbox } from '../../src/infra/dev-outbox.js';
import { createLogger } from '../../src/infra/logger.js';
import { createMailer } from '../../src/infra/mail/create-mailer.js';
import { LogMailer, maskEmail } from '../../src/infra/mail/log-mailer.js';
import { createSmsSender } from '../../src/infra/sms/create-sms-sender.js';
import { LogSmsSender } from '../../src/infra/sms/log-sms.js';

function capture() {
  const lines: string[] = [];
  const logger = createLogger(
    { log: { level: 'info', pretty: false } },
    { write: (line: string) => lines.push(line) },
  );
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const OTP = '[Moim] 인증번호 [482913]를 입력해 주세요. 5분 후 만료됩니다.';

describe('LogSmsSender', () => {
  it('logs the message with the code and number masked, and keeps the full text in the dev outbox', async () => {
    const { logger, lines, records } = capture();
    const outbox = new DevOutbox();
    const sender = new LogSmsSender({ logger, outbox });

    const result = await sender.send({ to: '+821012345678', text: OTP });

    expect(result).toEqual({ type: 'SMS', provider: 'log', providerMessageId: null, bytes: 60 });
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({
      level: 'info',
      event: 'sms.sent',
      provider: 'log',
      type: 'SMS',
      bytes: 60,
      to: '+82-10-****-5678',
      text: '[Moim] 인증번호 [******]를 입력해 주세요. 5분 후 만료됩니다.',
    });
    const raw = lines.join('\n');
    for (const secret of ['482913', '01012345678', '1012345678', '+821012345678', '1234']) {
      expect(raw).not.toContain(secret);
    }

    expect(outbox.list({ channel: 'sms', to: '+821012345678' })).toEqual([
      { channel: 'sms', to: '+821012345678', type: 'SMS', text: OTP, at: expect.any(Date) },
    ]);
  });

  it('keeps an LMS subject, masked in the log and whole in the outbox', async () => {
    const { logger, lines } = capture();
    const outbox = new DevOutbox();
    const text = `재설정 코드 778899. ${'안내 '.repeat(40)}`;
    const result = await new LogSmsSender({ logger, outbox }).send({
      to: '+821099998888',
      text,
      subject: '코드 778899',
    });
    expect(result.type).toBe('LMS');
    expect(lines.join('')).not.toContain('778899');
    expect(outbox.last({ to: '+821099998888' })).toMatchObject({ text, subject: '코드 778899', type: 'LMS' });
  });

  it('is what createSmsSender builds by default', () => {
    const { logger } = capture();
    expect(createSmsSender(loadConfig({ NODE_ENV: 'test' }), logger, new DevOutbox()).name).toBe('log');
  });
});

describe('LogMailer', () => {
  it('logs recipient (masked) and subject but never the body, and keeps the whole mail in the outbox', async () => {
    const { logger, lines, records } = capture();
    const outbox = new DevOutbox();
    const mailer = new LogMailer({ logger, outbox });
    const text = 'Your Moim password reset code is 557311. It expires in 5 minutes.';
    const html = '<p>Your code is <b>557311</b></p>';

    const res = await mailer.send({
      to: 'Minji.Kim@Example.com',
      subject: '[Moim] Your verification code',
      text,
      html,
    });

    expect(res).toEqual({ messageId: null });
    expect(records()).toEqual([
      expect.objectContaining({
        event: 'mail.sent',
        provider: 'log',
        to: 'M***@Example.com',
        subject: '[Moim] Your verification code',
      }),
    ]);
    const raw = lines.join('\n');
    expect(raw).not.toContain('557311');
    expect(raw).not.toContain('password reset code');
    expect(raw).not.toContain('Minji');

    expect(outbox.last({ channel: 'mail', to: 'minji.kim@example.com' })).toMatchObject({
      channel: 'mail',
      subject: '[Moim] Your verification code',
      text,
      html,
    });
  });

  it('is what createMailer builds by default', () => {
    const { logger } = capture();
    expect(createMailer(loadConfig({ NODE_ENV: 'test' }), logger, new DevOutbox()).name).toBe('log');
  });

  it('masks addresses to their first character and domain', () => {
    expect(maskEmail('minji@example.com')).toBe('m***@example.com');
    expect(maskEmail('한@example.kr')).toBe('한***@example.kr');
    expect(maskEmail('not-an-address')).toBe('***');
  });
});

describe('DevOutbox', () => {
  it('keeps the newest items up to its capacity, newest last', () => {
    let t = 0;
    const outbox = new DevOutbox({ capacity: 3, clock: { now: () => new Date(++t) } });
    for (let i = 1; i <= 5; i++) {
      outbox.push({ channel: 'sms', to: `+8210000000${i}`, type: 'SMS', text: `code ${i}` });
    }
    expect(outbox.size).toBe(3);
    expect(outbox.list().map((m) => m.text)).toEqual(['code 3', 'code 4', 'code 5']);
    expect(outbox.list()[2]!.at).toEqual(new Date(5));
  });

  it('filters by channel and recipient, and clears', () => {
    const outbox = new DevOutbox();
    outbox.push({ channel: 'sms', to: '+821011112222', type: 'SMS', text: 'a' });
    outbox.push({ channel: 'mail', to: 'a@example.com', subject: 's', text: 'b' });
    outbox.push({ channel: 'sms', to: '+821011112222', type: 'SMS', text: 'c' });
    expect(outbox.list({ channel: 'mail' }).map((m) => m.text)).toEqual(['b']);
    expect(outbox.list({ to: '+821011112222' }).map((m) => m.text)).toEqual(['a', 'c']);
    expect(outbox.list({ to: 'A@Example.COM' }).map((m) => m.text)).toEqual(['b']);
    expect(outbox.last({ channel: 'sms' })?.text).toBe('c');
    expect(outbox.last({ to: '+829999' })).toBeUndefined();
    outbox.list()[0]!.text = 'tampered';
    expect(outbox.list()[0]!.text).toBe('a');
    outbox.clear();
    expect(outbox.list()).toEqual([]);
  });
});
