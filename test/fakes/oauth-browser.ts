import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';

/**
 * The browser's part of an authorization code flow, shared by the fake Kakao, Naver and Google servers: request
 * the provider's authorization URL and report where it sends the browser back to, without following it. A
 * `TestBrowser` carries cookies across those steps, as a real browser would: the app binds a started sign-in to
 * the browser that started it with a cookie, so a test that hands a URL to "another browser" uses another one.
 *
 * The result is the callback URL itself (a `URL`, so `callback.pathname + callback.search` can be injected into
 * the app) with the parts a test usually wants already read out.
 */
export class ProviderRedirect extends URL {
  /** The authorization code, or null when the provider sent an error back. */
  readonly code: string | null;
  /** The `state` the provider echoed. */
  readonly state: string | null;
  /** `access_denied` and friends, when the fake was told to refuse. */
  readonly error: string | null;
  /** The Location header as sent. */
  readonly redirectedTo: string;

  constructor(location: string, base: string) {
    super(location, base);
    this.redirectedTo = location;
    this.code = this.searchParams.get('code');
    this.state = this.searchParams.get('state');
    this.error = this.searchParams.get('error');
  }
}

/** Header naming a one-shot login registered with `registerLogin`, so `authorize(url, { as })` is race-free. */
export const FAKE_LOGIN_HEADER = 'x-fake-login';

/**
 * One-shot logins: `authorize(url, { as: user })` registers the user under a random ticket and sends the ticket
 * in a header, so a test can pick who signs in without touching the fake's shared `nextUser`.
 */
export class LoginTickets<U> {
  private readonly tickets = new Map<string, U>();

  register(user: U): string {
    const ticket = randomBytes(12).toString('hex');
    this.tickets.set(ticket, user);
    return ticket;
  }

  /** The user of the ticket in this request, if any (consumed), else undefined. */
  take(req: http.IncomingMessage): U | undefined {
    const ticket = req.headers[FAKE_LOGIN_HEADER];
    if (typeof ticket !== 'string') return undefined;
    const user = this.tickets.get(ticket);
    this.tickets.delete(ticket);
    return user;
  }
}

interface StoredCookie {
  name: string;
  value: string;
  origin: string;
  path: string;
  secure: boolean;
  expiresAt: number;
}

/**
 * A browser's cookies, enough of RFC 6265 for our flows: host-only cookies kept per origin, sent to paths under
 * their `Path`, `Secure` ones only over https, gone after `Max-Age` (0 deletes).
 */
export class CookieJar {
  private cookies: StoredCookie[] = [];

  /** Takes the Set-Cookie headers of a response to `url`. */
  store(url: URL, setCookie: string | string[] | undefined | null): void {
    for (const line of setCookie === undefined || setCookie === null ? [] : [setCookie].flat()) {
      const [pair = '', ...attributes] = line.split(';').map((p) => p.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const cookie: StoredCookie = {
        name: pair.slice(0, eq),
        value: pair.slice(eq + 1),
        origin: url.origin,
        path: defaultPath(url),
        secure: false,
        expiresAt: Infinity,
      };
      for (const attribute of attributes) {
        const [key = '', value = ''] = attribute.split('=');
        if (/^path$/i.test(key)) cookie.path = value || '/';
        if (/^secure$/i.test(key)) cookie.secure = true;
        if (/^max-age$/i.test(key)) cookie.expiresAt = Date.now() + Number(value) * 1000;
      }
      this.cookies = this.cookies.filter(
        (c) => !(c.name === cookie.name && c.origin === cookie.origin && c.path === cookie.path),
      );
      if (cookie.expiresAt > Date.now()) this.cookies.push(cookie);
    }
  }

  /** The Cookie header a request to `url` carries, if any. */
  header(url: URL): string | undefined {
    const now = Date.now();
    const sent = this.cookies.filter(
      (c) =>
        c.origin === url.origin &&
        c.expiresAt > now &&
        (!c.secure || url.protocol === 'https:') &&
        (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)),
    );
    return sent.length > 0 ? sent.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  /** The value of one cookie a request to `url` would carry. */
  get(url: URL, name: string): string | undefined {
    return parseCookieHeader(this.header(url))[name];
  }
}

function defaultPath(url: URL): string {
  const slash = url.pathname.lastIndexOf('/');
  return slash <= 0 ? '/' : url.pathname.slice(0, slash);
}

function parseCookieHeader(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split('; ')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** What `TestBrowser.inject` needs of the app: Fastify's `inject`. */
interface Injectable {
  inject(opts: InjectOptions): Promise<LightMyRequestResponse>;
}

/**
 * One person's browser against the app under test: requests made through it (`inject` into the app, or
 * `authorize` at a fake provider) carry its cookies and keep the ones the responses set. Two instances are two
 * browsers, so a test can hand a URL from one person to another.
 */
export class TestBrowser {
  readonly cookies = new CookieJar();

  /** `origin`: the app's PUBLIC_URL, which the app's cookies belong to (injected requests have no host). */
  constructor(private readonly origin: string) {}

  async inject(
    app: Injectable,
    opts: {
      url: string;
      method?: InjectOptions['method'];
      headers?: Record<string, string>;
      payload?: unknown;
    },
  ): Promise<LightMyRequestResponse> {
    const url = new URL(opts.url, this.origin);
    const cookie = this.cookies.header(url);
    const res = await app.inject({
      method: opts.method ?? 'GET',
      url: url.pathname + url.search,
      headers: { ...opts.headers, ...(cookie ? { cookie } : {}) },
      ...(opts.payload !== undefined ? { payload: opts.payload as InjectOptions['payload'] } : {}),
    });
    this.cookies.store(url, res.headers['set-cookie']);
    return res;
  }
}

/**
 * Requests the authorization URL as a browser would and returns the provider's redirect, unfollowed. With a
 * browser, its cookies for the provider are sent and kept.
 */
export async function followAuthorization(
  authorizationUrl: string,
  headers: Record<string, string> = {},
  browser?: TestBrowser,
): Promise<ProviderRedirect> {
  const url = new URL(authorizationUrl);
  const cookie = browser?.cookies.header(url);
  const res = await fetch(authorizationUrl, {
    redirect: 'manual',
    headers: { ...headers, ...(cookie ? { cookie } : {}) },
  });
  browser?.cookies.store(url, res.headers.getSetCookie());
  const location = res.headers.get('location');
  if (res.status !== 302 || !location) {
    throw new Error(`expected the provider to redirect, got ${res.status}: ${await res.text()}`);
  }
  return new ProviderRedirect(location, authorizationUrl);
}

export function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

export function redirect(res: http.ServerResponse, location: URL): void {
  res.writeHead(302, { location: location.toString() });
  res.end();
}

export function bearer(req: http.IncomingMessage): string | undefined {
  return /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

/** Client credentials from HTTP Basic (client_secret_basic) or the form (client_secret_post). */
export function clientCredentials(
  req: http.IncomingMessage,
  form: URLSearchParams,
): { id: string | null; secret: string | null } {
  const basic = /^Basic (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (basic) {
    const [id, secret] = Buffer.from(basic, 'base64').toString('utf8').split(':');
    return {
      id: id ? decodeURIComponent(id) : null,
      secret: secret !== undefined ? decodeURIComponent(secret) : null,
    };
  }
  return { id: form.get('client_id'), secret: form.get('client_secret') };
}

export async function listenLoopback(server: http.Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${address.port}`;
}

export function closeServer(server: http.Server): Promise<void> {
  // Keep-alive sockets from fetch would hold close() open until they time out.
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
