/** Response bodies in tests are asserted field by field, so they are typed loosely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export async function json(res: Response): Promise<Json> {
  return res.json();
}

/** A JSON request to a server running in another process; throws on a non-2xx answer. */
export async function requestJson(
  base: string,
  method: string,
  url: string,
  body?: unknown,
  token?: string,
): Promise<Json> {
  const res = await fetch(base + url, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
