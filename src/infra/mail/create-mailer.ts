import type { Config } from '../../config.js';
import type { DevOutbox } from '../dev-outbox.js';
import type { Logger } from '../logger.js';
import { LogMailer } from './log-mailer.js';
import type { Mailer } from './mailer.js';
import { SmtpMailer } from './smtp-mailer.js';

/** Picks the mail adapter named by MAIL_PROVIDER. */
export function createMailer(config: Pick<Config, 'mail'>, logger: Logger, devOutbox: DevOutbox): Mailer {
  switch (config.mail.provider) {
    case 'log':
      return new LogMailer({ logger, outbox: devOutbox });
    case 'smtp':
      return new SmtpMailer({ smtpUrl: config.mail.smtpUrl, from: config.mail.from, logger });
  }
}
