import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { DevOutbox } from '../../src/infra/dev-outbox.js';
import { createLogger } from '../../src/infra/logger.js';
import { createMailer } from '../../src/infra/mail/create-mailer.js';
import { SmtpMailer } from '../../src/infra/mail/smtp-mailer.js';
import { startFakeSmtp, type FakeSmtp } from '../fakes/smtp-server.js';

const silent = createLogger({ log: { level: 'silent', pretty: false } });
let smtp: FakeSmtp;

beforeAll(async () => {
  smtp = await startFakeSmtp();
});
afterAll(() => smtp.close());
beforeEach(() => smtp.clear());

describe('SmtpMailer against the fake SMTP server', () => {
  it('delivers text and html with the configured From', async () => {
    const mailer = new SmtpMailer({ smtpUrl: smtp.url, from: 'Moim <no-reply@moim.test>' });
    const res = await mailer.send({
      to: 'minji@example.com',
      subject: '[Moim] 인증 코드',
      text: 'Your code is 482913.\n모임',
      html: '<p>Your code is <b>482913</b></p>',
    });

    expect(res.messageId).toMatch(/^<.+@.+>$/);
    const mail = await smtp.waitForMail({ to: 'minji@example.com' });
    expect(mail).toMatchObject({
      envelopeFrom: 'no-reply@moim.test',
      envelopeTo: ['minji@example.com'],
      from: 'no-reply@moim.test',
      fromName: 'Moim',
      to: ['minji@example.com'],
      subject: '[Moim] 인증 코드',
      text: 'Your code is 482913.\n모임',
      html: '<p>Your code is <b>482913</b></p>',
      messageId: res.messageId,
      user: smtp.user,
    });
    mailer.close();
  });

  it('fails when the credentials are wrong, and nothing is delivered', async () => {
    const url = new URL(smtp.url);
    url.password = 'wrong';
    const mailer = new SmtpMailer({ smtpUrl: url.href, from: 'no-reply@moim.test' });
    await expect(mailer.send({ to: 'a@example.com', subject: 's', text: 't' })).rejects.toThrow(/535|auth/i);
    expect(smtp.mails).toHaveLength(0);
  });

  it('surfaces a refusal by the server', async () => {
    smtp.rejectNext(550);
    const mailer = new SmtpMailer({ smtpUrl: smtp.url, from: 'no-reply@moim.test' });
    await expect(mailer.send({ to: 'a@example.com', subject: 's', text: 't' })).rejects.toThrow(/550/);
    expect(smtp.mails).toHaveLength(0);
  });

  it('is what createMailer builds for MAIL_PROVIDER=smtp', async () => {
    const config = loadConfig({ NODE_ENV: 'test', ...smtp.env, MAIL_FROM: 'Moim <hello@moim.test>' });
    const mailer = createMailer(config, silent, new DevOutbox());
    expect(mailer.name).toBe('smtp');
    await mailer.send({ to: 'b@example.com', subject: 'Hi', text: 'Hello' });
    expect(await smtp.waitForMail({ to: 'B@example.com' })).toMatchObject({
      from: 'hello@moim.test',
      fromName: 'Moim',
    });
  });
});
