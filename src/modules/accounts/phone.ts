import { parsePhoneNumberWithError } from 'libphonenumber-js/max';
import { AppError } from '../../shared/errors.js';

export interface Phone {
  /** +821012345678 */
  e164: string;
  countryCode: string;
}

/**
 * Accepts the ways people type numbers (010-1234-5678, 01012345678, +82 10 1234 5678; Korea when no country is
 * given) and returns E.164, but only for mobile numbers of an allowed country: SMS to other destinations is
 * the classic SMS-pumping fraud.
 */
export function normalizePhone(raw: string, allowedCountries: readonly string[]): Phone {
  let parsed;
  try {
    parsed = parsePhoneNumberWithError(raw.trim(), 'KR');
  } catch {
    throw new AppError('PHONE_INVALID', 'This is not a valid phone number.');
  }
  if (!allowedCountries.includes(parsed.countryCallingCode)) {
    throw new AppError('PHONE_COUNTRY_NOT_ALLOWED', 'Phone numbers of this country are not supported.');
  }
  const type = parsed.getType();
  if (!parsed.isValid() || (type !== 'MOBILE' && type !== 'FIXED_LINE_OR_MOBILE')) {
    throw new AppError('PHONE_INVALID', 'This is not a valid mobile phone number.');
  }
  return { e164: parsed.number, countryCode: parsed.countryCallingCode };
}
