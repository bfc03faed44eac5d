/**
 * The SMS port. Adapters: `log` (development and tests: the message is logged with digits masked and kept in
 * the dev outbox) and `sens` (Naver Cloud SENS). Callers pass E.164 numbers; adapters convert to what their
 * provider expects.
 */
export type SmsType = 'SMS' | 'LMS';

export interface SmsMessage {
  /** E.164, e.g. +821012345678. */
  to: string;
  text: string;
  /** Title of an LMS; ignored for SMS. */
  subject?: string;
}

export interface SmsResult {
  type: SmsType;
  provider: string;
  providerMessageId: string | null;
  /** Length of the text in EUC-KR bytes, which decides the type and the cost. */
  bytes: number;
}

export interface SmsSender {
  readonly name: string;
  send(message: SmsMessage): Promise<SmsResult>;
}

export class SmsDeliveryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'SmsDeliveryError';
  }
}

/** Korean carriers bill by EUC-KR bytes: 1 per ASCII character, 2 per Hangul or other character. */
export function eucKrByteLength(text: string): number {
  let bytes = 0;
  for (const ch of text) bytes += ch.codePointAt(0)! <= 0x7f ? 1 : 2;
  return bytes;
}

/** Messages over 90 bytes in EUC-KR go as LMS (long message), shorter ones as SMS. */
export function smsTypeFor(text: string): SmsType {
  return eucKrByteLength(text) > 90 ? 'LMS' : 'SMS';
}
