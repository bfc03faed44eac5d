import { OAuthError } from './oauth.js';

const TIMEOUT_MS = 10_000;

/**
 * One provider call: a timeout, and the JSON body whatever the status (providers put their error codes in it).
 * Network failures and non-JSON answers become `provider_error`, never a message with tokens or secrets.
 */
export async function providerJson(
  url: string,
  init: {
    method?: 'GET' | 'POST';
    headers?: Record<string, string>;
    form?: Record<string, string | undefined>;
  } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  let body: string | undefined;
  if (init.form) {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(init.form)) if (v !== undefined) form.set(k, v);
    body = form.toString();
    headers['content-type'] = 'application/x-www-form-urlencoded;charset=utf-8';
  }
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method ?? 'GET',
      headers,
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    throw new OAuthError('provider_error', `The provider at ${new URL(url).host} did not answer.`);
  }
  let parsed: unknown;
  try {
    parsed = await res.json();
  } catch {
    throw new OAuthError('provider_error', `The provider answered ${res.status} without JSON.`);
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new OAuthError('provider_error', 'The provider answered something unexpected.');
  }
  return { status: res.status, body: parsed as Record<string, unknown> };
}

export function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : null;
}
