import { randomBytes } from 'node:crypto';
import type http from 'node:http';

/**
 * The browser's part of an authorization code flow, shared by the fake Kakao, Naver and Google servers: request
 * the provider's authorization URL and report where it sends the browser back to, without following it.
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

/** Requests the authorization URL as a browser would and returns the provider's redirect, unfollowed. */
export async function followAuthorization(
  authorizationUrl: string,
  headers: Record<string, string> = {},
): Promise<ProviderRedirect> {
  const res = await fetch(authorizationUrl, { redirect: 'manual', headers });
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
