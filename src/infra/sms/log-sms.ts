import type { DevOutbox } from '../dev-outbox.js';
import type { Logger } from '../logger.js';
import {
  eucKrByteLength,
  maskPhone,
  smsTypeFor,
  type SmsMessage,
  type SmsResult,
  type SmsSender,
} from './sms.js';

/**
 * Development and test SMS: nothing leaves the process. The log line shows that a message went out and what
 * it looked like, with codes and the number masked (logs are shipped and kept; codes and phone numbers must not
 * be). The full message goes to the in-memory dev outbox, where a developer reads the code.
 */
export class LogSmsSender implements SmsSender {
  readonly name = 'log';

  constructor(private readonly deps: { logger: Logger; outbox: DevOutbox }) {}

  async send(message: SmsMessage): Promise<SmsResult> {
    const type = smsTypeFor(message.text);
    const bytes = eucKrByteLength(message.text);
    const subject = type === 'LMS' ? message.subject : undefined;
    this.deps.logger.info(
      {
        event: 'sms.sent',
        provider: this.name,
        type,
        bytes,
        to: maskPhone(message.to),
        text: maskDigits(message.text),
        ...(subject ? { subject: maskDigits(subject) } : {}),
      },
      'SMS kept in the dev outbox (SMS_PROVIDER=log)',
    );
    this.deps.outbox.push({
      channel: 'sms',
      to: message.to,
      type,
      text: message.text,
      ...(subject ? { subject } : {}),
    });
    return { type, provider: this.name, providerMessageId: null, bytes };
  }
}

/** Every run of 4 or more digits becomes asterisks: OTP and reset codes, phone and card numbers. */
export function maskDigits(text: string): string {
  return text.replace(/\d{4,}/g, (run) => '*'.repeat(run.length));
}
