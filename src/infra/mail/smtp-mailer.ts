import { createTransport, type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import type { Logger } from '../logger.js';
import { maskEmail } from './log-mailer.js';
import type { MailMessage, Mailer } from './mailer.js';

export interface SmtpMailerOptions {
  /** smtp:// (STARTTLS when offered) or smtps:// (TLS from the start), with credentials. */
  smtpUrl: string;
  from: string;
  logger?: Logger;
}

/**
 * Mail through any SMTP relay (Naver Cloud Outbound Mailer, SES, Postmark, a local Postfix …). One connection
 * per message: verification mail is low volume, and there is no pool to drain at shutdown.
 */
export class SmtpMailer implements Mailer {
  readonly name = 'smtp';
  private readonly transport: Transporter<SMTPTransport.SentMessageInfo, SMTPTransport.Options>;

  constructor(private readonly options: SmtpMailerOptions) {
    this.transport = createTransport({
      url: options.smtpUrl,
      // nodemailer's defaults (2 min to connect, 10 min idle) would hold a request's follow-up work far too long.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
      // Messages are built from our own text only; never let a field make nodemailer read files or fetch URLs.
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  async send(message: MailMessage): Promise<{ messageId: string | null }> {
    const info = await this.transport.sendMail({
      from: this.options.from,
      to: message.to,
      subject: message.subject,
      text: message.text,
      ...(message.html !== undefined ? { html: message.html } : {}),
    });
    this.options.logger?.info(
      { event: 'mail.sent', provider: this.name, to: maskEmail(message.to), messageId: info.messageId },
      'mail handed to the SMTP relay',
    );
    return { messageId: info.messageId ?? null };
  }

  close(): void {
    this.transport.close();
  }
}
