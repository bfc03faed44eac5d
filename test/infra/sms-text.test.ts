import { describe, expect, it } from 'vitest';
import { maskDigits } from '../../src/infra/sms/log-sms.js';
import { sensRecipient } from '../../src/infra/sms/sens-sms.js';
import {
  eucKrByteLength,
  maskPhone,
  SmsDeliveryError,
  smsTypeFor,
  splitE164,
} from '../../src/infra/sms/sms.js';

describe('EUC-KR byte counting and the SMS/LMS choice', () => {
  it('counts ASCII as 1 byte and Hangul as 2', () => {
    expect(eucKrByteLength('')).toBe(0);
    expect(eucKrByteLength('abc 123')).toBe(7);
    expect(eucKrByteLength('인증번호')).toBe(8);
    expect(eucKrByteLength('[Moim] 인증번호')).toBe(15);
  });

  it('sends up to 90 bytes as SMS and longer texts as LMS', () => {
    expect(eucKrByteLength('가'.repeat(45))).toBe(90);
    expect(smsTypeFor('가'.repeat(45))).toBe('SMS');
    expect(eucKrByteLength('가'.repeat(46))).toBe(92);
    expect(smsTypeFor('가'.repeat(46))).toBe('LMS');
    expect(smsTypeFor('a'.repeat(90))).toBe('SMS');
    expect(smsTypeFor('a'.repeat(91))).toBe('LMS');
    // 44 Hangul (88 bytes) + 2 ASCII = 90, + 3 ASCII = 91.
    expect(smsTypeFor(`${'가'.repeat(44)}ab`)).toBe('SMS');
    expect(smsTypeFor(`${'가'.repeat(44)}abc`)).toBe('LMS');
  });

  it('fits the verification text in one SMS', () => {
    expect(smsTypeFor('[Moim] 인증번호 [123456]를 입력해 주세요. 5분 후 만료됩니다.')).toBe('SMS');
  });
});

describe('phone numbers for SENS', () => {
  it('splits E.164 into calling code and national number', () => {
    expect(splitE164('+821012345678')).toEqual({ countryCode: '82', nationalNumber: '1012345678' });
    expect(splitE164('+14155550123')).toEqual({ countryCode: '1', nationalNumber: '4155550123' });
    expect(splitE164('+819012345678')).toEqual({ countryCode: '81', nationalNumber: '9012345678' });
    expect(splitE164('+85291234567')).toEqual({ countryCode: '852', nationalNumber: '91234567' });
    expect(splitE164('+886912345678')).toEqual({ countryCode: '886', nationalNumber: '912345678' });
    expect(splitE164('+79161234567')).toEqual({ countryCode: '7', nationalNumber: '9161234567' });
  });

  it('sends Korean numbers in national format and others as national significant numbers', () => {
    expect(sensRecipient('+821012345678')).toEqual({ countryCode: '82', to: '01012345678' });
    expect(sensRecipient('+819012345678')).toEqual({ countryCode: '81', to: '9012345678' });
    expect(sensRecipient('+14155550123')).toEqual({ countryCode: '1', to: '4155550123' });
  });

  it('refuses what is not E.164, without echoing the number', () => {
    for (const bad of ['01012345678', '+82 10 1234 5678', '+0123456789', '+82-10-1234-5678', '']) {
      expect(() => splitE164(bad), bad).toThrow(SmsDeliveryError);
    }
    try {
      splitE164('010-9999-8888');
    } catch (err) {
      expect((err as Error).message).not.toMatch(/9999|8888/);
    }
  });
});

describe('masking', () => {
  it('masks phone numbers to the prefix and the last four digits', () => {
    expect(maskPhone('+821012345678')).toBe('+82-10-****-5678');
    expect(maskPhone('+14155550123')).toBe('+1-****-0123');
    expect(maskPhone('not a number 01012345678')).toBe('[invalid number]');
  });

  it('masks every run of four or more digits', () => {
    expect(maskDigits('[Moim] 인증번호 [123456]를 입력해 주세요. 5분 후 만료됩니다.')).toBe(
      '[Moim] 인증번호 [******]를 입력해 주세요. 5분 후 만료됩니다.',
    );
    expect(maskDigits('call 010-1234-5678 or 01012345678, code 987')).toBe(
      'call 010-****-**** or ***********, code 987',
    );
  });
});
