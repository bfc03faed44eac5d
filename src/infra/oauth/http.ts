import { OAuthError } from './oauth.js';

/**
 * The one way the adapters talk to a provider. Plain `fetch` rather than arctic 3.7.0: arctic's providers
 * hard-code the real endpoints, and its generic `OAuth2Client` sends token requests without an AbortSignal (no
 * timeout), reads only `error`/`error_description` (Kakao's `error_code` is lost), takes Naver's HTTP 200 error
 * answers for success, and knows nothing of Kakao's token info or OIDC ID tokens. Each adapter would still have
 * to do those parts by hand, so arctic would add a dependency without removing code.
 */

/** Every provider call gives up after this long (a stuck provider must not hold a sign-in forever). */
export const PROVIDER_TIMEOUT_MS = 10_000;
/** Provider answers are small JSON documents; anything larger is refused rather than buffered. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface ProviderResponse {
  status: number;
  body: Record<string, unknown>;
}

/**
 * One provider call with a timeout, returning the JSON body whatever the status (providers put their error codes
 * in it). Redirects are refused: no provider API answers with one, and following it could carry a bearer token
 * or a code elsewhere. Network failures, timeouts and non-JSON answers become `provider_error`, with a message
 * that names the host only: never the URL's query, a token, a code or a secret.
 */
export async function providerJson(
  url: string,
  init: {
    method?: 'GET' | 'POST';
    /** Sent as `Authorization: Bearer …`. */
    bearer?: string;
    /** Sent as an `application/x-www-form-urlencoded` body; undefined values are left out. */
    form?: Record<string, string | undefined>;
  } = {},
): Promise<ProviderResponse> {
  const host = new URL(url).host;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.bearer !== undefined) headers.authorization = `Bearer ${init.bearer}`;
  let body: string | undefined;
  if (init.form) {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(init.form)) if (v !== undefined) form.set(k, v);
    body = form.toString();
    headers['content-type'] = 'application/x-www-form-urlencoded;charset=utf-8';
  }
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      headers,
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
    });
    text = await readLimited(res);
  } catch {
    throw new OAuthError('provider_error', `The provider at ${host} did not answer in time or at all.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new OAuthError('provider_error', `The provider at ${host} answered ${res.status} without JSON.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new OAuthError('provider_error', `The provider at ${host} answered ${res.status} unexpectedly.`);
  }
  return { status: res.status, body: parsed as Record<string, unknown> };
}

async function readLimited(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new Error('provider answer too large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A non-empty string, or a number as its decimal string (ids); anything else is null. */
export function str(v: unknown): string | null {
  if (typeof v === 'string') return v.length > 0 ? v : null;
  // A JSON number beyond 2^53 has already lost digits: as an id it could name somebody else, so it is refused.
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return null;
}

export function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/**
 * A provider's machine-readable error code, safe to put in a log message (`invalid_grant`, `KOE320`); free text
 * such as `error_description` is never used, because providers echo the code or token in it.
 */
export function errorCode(v: unknown): string | null {
  return typeof v === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(v) ? v : null;
}

export function describeError(body: Record<string, unknown>, ...keys: string[]): string {
  const codes = keys.map((k) => errorCode(body[k])).filter((c): c is string => c !== null);
  return codes.length > 0 ? ` (${codes.join(', ')})` : '';
}
