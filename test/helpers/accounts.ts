import { randomBytes, randomInt } from 'node:crypto';
import type { TestApp } from './app.js';
import type { Json } from './http.js';

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export function uniqueNickname(prefix = 'user'): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export function uniqueEmail(): string {
  return `u${randomBytes(5).toString('hex')}@example.com`;
}

/** A random Korean mobile number, registered with the app's secret set in every format it may be typed. */
export function uniquePhone(t?: TestApp): string {
  let rest: string;
  // 010-597x … 010-599x are not assigned (libphonenumber refuses them).
  do {
    rest = String(randomInt(10_000_000, 99_999_999));
  } while (/^59[7-9]/.test(rest));
  const phone = `010${rest}`;
  t?.secrets.add(phone);
  t?.secrets.add(`+8210${rest}`);
  t?.secrets.add(`010-${rest.slice(0, 4)}-${rest.slice(4)}`);
  return phone;
}

export interface SignedUp {
  userId: string;
  email: string;
  password: string;
  nickname: string;
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  headers: { authorization: string };
}

/** Signs up through the real API; every secret involved is registered for the end-of-file log check. */
export async function signUpWithEmail(
  t: TestApp,
  overrides: Partial<{ email: string; password: string; nickname: string }> = {},
): Promise<SignedUp> {
  const email = overrides.email ?? uniqueEmail();
  const password = overrides.password ?? `pw-${randomBytes(6).toString('hex')}`;
  const nickname = overrides.nickname ?? uniqueNickname();
  t.secrets.add(password);
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/auth/signup/email',
    payload: { email, password, nickname },
    // Each person signs up from an address of their own, as real users do, so factories stay under the
    // per-IP sign-up limit.
    remoteAddress: `10.${randomInt(0, 256)}.${randomInt(0, 256)}.${randomInt(1, 255)}`,
  });
  if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`);
  const body = res.json() as Json;
  return { userId: body.user.id, email, password, nickname, ...trackTokens(t, body.tokens) };
}

export function trackTokens(t: TestApp, tokens: Json) {
  t.secrets.add(tokens.accessToken);
  t.secrets.add(tokens.refreshToken);
  return {
    accessToken: tokens.accessToken as string,
    refreshToken: tokens.refreshToken as string,
    sessionId: tokens.sessionId as string,
    headers: bearer(tokens.accessToken as string),
  };
}

export async function login(t: TestApp, email: string, password: string) {
  const res = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password } });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  return trackTokens(t, (res.json() as Json).tokens);
}

/** `POST /v1/auth/phone/send-code` for `phone` (signed in with `headers`, from `ip`), as an app would. */
export function sendPhoneCode(
  t: TestApp,
  phone: string,
  purpose: 'signup' | 'login' | 'reset' | 'change_phone' = 'signup',
  opts: { ip?: string; headers?: Record<string, string> } = {},
) {
  return t.app.inject({
    method: 'POST',
    url: '/v1/auth/phone/send-code',
    payload: { phone, purpose },
    ...(opts.headers ? { headers: opts.headers } : {}),
    ...(opts.ip ? { remoteAddress: opts.ip } : {}),
  });
}
