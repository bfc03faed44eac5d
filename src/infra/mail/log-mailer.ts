import type { DevOutbox } from '../dev-outbox.js';
import type { Logger } from '../logger.js';
import type { MailMessage, Mailer } from './mailer.js';

/**
 * Development and test mail: nothing leaves the process. The log line records that a mail went out, to whom
 * (masked) and its subject; the body, which carries codes and reset links, only goes to the in-memory dev
 * outbox.
 */
export class LogMailer implements Mailer {
  readonly name = 'log';

  constructor(private readonly deps: { logger: Logger; outbox: DevOutbox }) {}

  async send(message: MailMessage): Promise<{ messageId: string | null }> {
    this.deps.logger.info(
      {
        event: 'mail.sent',
        provider: this.name,
        to: maskEmail(message.to),
        subject: maskCodes(message.subject),
      },
      'mail kept in the dev outbox (MAIL_PROVIDER=log)',
    );
    this.deps.outbox.push({
      channel: 'mail',
      to: message.to,
      subject: message.subject,
      text: message.text,
      ...(message.html !== undefined ? { html: message.html } : {}),
    });
    return { messageId: null };
  }
}

/** m***@example.com: the domain helps debugging, the local part identifies the person. */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return '***';
  const first = Array.from(address.slice(0, at))[0]!;
  return `${first}***${address.slice(at)}`;
}

// Subjects are not meant to carry codes, but "123456 is your code" subjects are common enough to guard against.
function maskCodes(text: string): string {
  return text.replace(/\d{4,}/g, (run) => '*'.repeat(run.length));
}
