/**
 * Secrets issued outside a test app: by the fake providers (codes, tokens, client secrets, the codes they
 * deliver). One set per test file (each file runs in its own process); every test app of the file checks its
 * logs for these as well as for its own `secrets` when it closes.
 */
export const issuedSecrets = new Set<string>();

/** Registers values a fake issued or received; empty and absent ones are ignored. */
export function issueSecret(...values: (string | null | undefined)[]): void {
  for (const v of values) if (v) issuedSecrets.add(v);
}

/** Registers one value a fake issues and returns it, for use inline. */
export function secret(value: string): string {
  issuedSecrets.add(value);
  return value;
}

/** The 6-digit codes in a message text (SMS, mail) that a test will read back. */
export function codesIn(text: string | undefined): string[] {
  return [...(text ?? '').matchAll(/(?<!\d)\d{6}(?!\d)/g)].map((m) => m[0]);
}

/** Keys of JSON bodies and query parameters whose values are secrets (bearer credentials, one-time codes). */
const SECRET_KEYS = new Set([
  'accessToken',
  'refreshToken',
  'restoreToken',
  'verificationId',
  'code',
  'codeVerifier',
  'token',
  'idToken',
  'state',
]);
/** Error codes (`RATE_LIMITED`) share the `code` key with one-time codes, and are no secret. */
const ERROR_CODE = /^[A-Z][A-Z0-9_]+$/;

/** Collects the secret values in a parsed JSON body, at any depth (URLs: their secret query parameters). */
export function secretsInJson(value: unknown, into: Set<string>, key?: string): void {
  if (typeof value === 'string') {
    if (key && SECRET_KEYS.has(key) && !ERROR_CODE.test(value)) into.add(value);
    else if (/^https?:\/\/|^[a-z][a-z0-9+.-]*:\/\//i.test(value)) secretsInUrl(value, into);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) secretsInJson(v, into, key);
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) secretsInJson(v, into, k);
  }
}

export function secretsInUrl(url: string, into: Set<string>): void {
  let parsed: URL;
  try {
    parsed = new URL(url, 'http://relative');
  } catch {
    return;
  }
  for (const [k, v] of parsed.searchParams) if (SECRET_KEYS.has(k) && v) into.add(v);
  // A calendar feed's secret is its file name.
  const feed = /\/v1\/calendar\/feeds\/([^/]+?)(?:\.ics)?$/.exec(parsed.pathname)?.[1];
  if (feed) into.add(feed);
}

/**
 * Whether a secret occurs in the text. A purely numeric one (an OTP) only counts as a word of its own: six
 * digits inside a longer run (a duration like 0.123456789) or inside a hex id (a request id's `4a123456`) are
 * chance, and with hundreds of codes and ids per file chance would strike.
 */
export function containsSecret(text: string, secret: string): boolean {
  if (!/^\d+$/.test(secret)) return text.includes(secret);
  return new RegExp(`(?<![0-9A-Za-z.])${secret}(?![0-9A-Za-z])`).test(text);
}
