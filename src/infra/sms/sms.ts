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

// Calling codes are prefix-free: +1 and +7 are the only one-digit codes, these are the two-digit ones, and
// every other code has three digits.
const TWO_DIGIT_CODES = new Set(
  `20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58
   60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98`.split(/\s+/),
);

/** Splits an E.164 number into its country calling code and national significant number. */
export function splitE164(e164: string): { countryCode: string; nationalNumber: string } {
  if (!/^\+[1-9]\d{6,14}$/.test(e164)) {
    // The number itself stays out of the message: errors end up in logs.
    throw new SmsDeliveryError('Recipient is not an E.164 phone number');
  }
  const digits = e164.slice(1);
  const ccLength =
    digits[0] === '1' || digits[0] === '7' ? 1 : TWO_DIGIT_CODES.has(digits.slice(0, 2)) ? 2 : 3;
  return { countryCode: digits.slice(0, ccLength), nationalNumber: digits.slice(ccLength) };
}

/**
 * +82-10-****-5678: enough for a person to recognise their number, useless to anyone else. The one way a number
 * is ever shown: in responses (`GET /v1/me`) and in log lines.
 */
export function maskPhone(e164: string): string {
  let parts: { countryCode: string; nationalNumber: string };
  try {
    parts = splitE164(e164);
  } catch {
    return '[invalid number]';
  }
  const { countryCode, nationalNumber } = parts;
  const last4 = nationalNumber.slice(-4);
  if (countryCode === '82' && nationalNumber.length >= 9) {
    return `+82-${nationalNumber.slice(0, 2)}-****-${last4}`;
  }
  return `+${countryCode}-****-${last4}`;
}
