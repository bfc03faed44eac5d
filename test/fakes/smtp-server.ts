import type { AddressInfo } from 'node:net';
import { codesIn, issueSecret } from '../helpers/secrets.js';
import { simpleParser, type AddressObject } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/**
 * A local SMTP server for tests: plain SMTP on 127.0.0.1 (no TLS offered), AUTH PLAIN/LOGIN required with the
 * configured user and password, every accepted mail parsed and kept.
 *
 *   const smtp = await startFakeSmtp();
 *   const config = loadConfig({ ...baseEnv, ...smtp.env });   // MAIL_PROVIDER=smtp against the fake
 *   …
 *   const mail = await smtp.waitForMail({ to: 'user@example.com' });
 *   expect(mail.text).toMatch(/\d{6}/);
 *   await smtp.close();
 */

export interface FakeMail {
  /** Envelope sender (MAIL FROM). */
  envelopeFrom: string;
  /** Envelope recipients (RCPT TO), lower-cased. */
  envelopeTo: string[];
  /** The From header's address and display name. */
  from: string;
  fromName: string;
  /** The To header addresses, lower-cased. */
  to: string[];
  subject: string;
  text: string;
  html: string | undefined;
  messageId: string | undefined;
  raw: string;
  /** The user that authenticated. */
  user: string;
  at: Date;
}

export interface FakeSmtpOptions {
  user?: string;
  password?: string;
}

export interface FakeSmtp {
  /** smtp://user:password@127.0.0.1:port, for SMTP_URL. */
  readonly url: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Environment variables that point a Moim config at this fake. */
  readonly env: Record<string, string>;
  /** Accepted mails, oldest first. */
  readonly mails: readonly FakeMail[];
  /** The next `times` mails are refused at end of DATA with this SMTP reply code (e.g. 451, 550). */
  rejectNext(responseCode?: number, times?: number): void;
  /** Resolves with the first accepted mail to `to` (any recipient if omitted), waiting for it if needed. */
  waitForMail(filter?: { to?: string }, timeoutMs?: number): Promise<FakeMail>;
  clear(): void;
  close(): Promise<void>;
}

export async function startFakeSmtp(options: FakeSmtpOptions = {}): Promise<FakeSmtp> {
  const user = options.user ?? 'moim';
  const password = options.password ?? 'fake-smtp-password';
  issueSecret(password);
  const mails: FakeMail[] = [];
  const rejects: number[] = [];
  const waiters = new Set<() => void>();

  const server = new SMTPServer({
    secure: false,
    // No STARTTLS, so nodemailer's opportunistic upgrade never needs a certificate here.
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    logger: false,
    size: 10 * 1024 * 1024,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === password) {
        callback(null, { user: auth.username });
        return;
      }
      callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        const reject = rejects.shift();
        if (reject !== undefined) {
          callback(Object.assign(new Error('Message refused by the fake'), { responseCode: reject }));
          return;
        }
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            issueSecret(...codesIn(parsed.subject), ...codesIn(parsed.text));
            mails.push({
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              envelopeTo: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
              from: parsed.from?.value[0]?.address ?? '',
              fromName: parsed.from?.value[0]?.name ?? '',
              to: addresses(parsed.to),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : undefined,
              messageId: parsed.messageId,
              raw: raw.toString('utf8'),
              user: typeof session.user === 'string' ? session.user : '',
              at: new Date(),
            });
            for (const wake of waiters) wake();
            callback();
          },
          (err: Error) => callback(err),
        );
      });
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  const url = `smtp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}`;

  const find = (to: string | undefined) =>
    mails.find((m) => to === undefined || m.envelopeTo.includes(to.toLowerCase()));

  return {
    url,
    port,
    user,
    password,
    env: { MAIL_PROVIDER: 'smtp', SMTP_URL: url },
    mails,
    rejectNext(responseCode = 550, times = 1) {
      for (let i = 0; i < times; i++) rejects.push(responseCode);
    },
    async waitForMail(filter = {}, timeoutMs = 5_000) {
      const found = find(filter.to);
      if (found) return found;
      return new Promise<FakeMail>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake SMTP: no mail ${JSON.stringify(filter)} within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          const m = find(filter.to);
          if (!m) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        };
        waiters.add(check);
      });
    },
    clear() {
      mails.length = 0;
      rejects.length = 0;
    },
    close() {
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  if (!field) return [];
  const list = Array.isArray(field) ? field : [field];
  return list.flatMap((o) => o.value.map((a) => (a.address ?? '').toLowerCase())).filter((a) => a.length > 0);
}
