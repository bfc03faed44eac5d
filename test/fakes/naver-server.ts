import { randomBytes } from 'node:crypto';
import http from 'node:http';
import {
  bearer,
  closeServer,
  FAKE_LOGIN_HEADER,
  followAuthorization,
  listenLoopback,
  LoginTickets,
  readBody,
  redirect,
  sendJson,
  type ProviderRedirect,
  type TestBrowser,
} from './oauth-browser.js';
import { issueSecret, secret } from '../helpers/secrets.js';

export { ProviderRedirect } from './oauth-browser.js';

export interface FakeNaverUser {
  /** Naver's per-application user id. */
  id: string;
  nickname?: string;
  name?: string;
  email?: string;
  profileImage?: string;
}

/**
 * A local Naver Login speaking Naver's protocol, for the production `NaverProvider`:
 *
 * - `GET /oauth2.0/authorize`: 302 back to `redirect_uri` with `code` and `state` (or `error=access_denied` after
 *   `denyNext()`).
 * - `/oauth2.0/token` (GET query string as in Naver's guide, or POST form): checks client id and secret, that the
 *   code exists, is unused and younger than 10 minutes, and the `state`, which Naver's guide lists as required
 *   and which must be the one the code was issued with. Like Naver it answers
 *   failures with HTTP 200 and `{ error, error_description }` (a used code: `invalid_request` / "no valid data
 *   in session").
 * - `GET /v1/nid/me`: `{ resultcode: '00', message: 'success', response: { id, nickname, … } }`; a bad token gets
 *   401 `{ resultcode: '024', message: 'Authentication failed' }`.
 *
 * Test hooks: `nextUser`, `authorize(url, { as })`, `issueAccessToken(user)` (a token as Naver's app SDK would
 * get it, to show that even a genuine one is refused from apps), `denyNext()`, `advanceTime(ms)`, `tokenRequests`.
 */
export interface FakeNaver {
  url: string;
  /** NAVER_* variables pointing the app at this fake. */
  env: Record<string, string>;
  clientId: string;
  clientSecret: string;
  nextUser: FakeNaverUser;
  denyNext(): void;
  issueAccessToken(user: FakeNaverUser): string;
  advanceTime(ms: number): void;
  /** Parameters received by /oauth2.0/token (query or form), oldest first. */
  tokenRequests: URLSearchParams[];
  /** `browser`: whose cookies go along (the fake sets none, but a real provider's session would). */
  authorize(
    authorizationUrl: string,
    opts?: { as?: FakeNaverUser; browser?: TestBrowser },
  ): Promise<ProviderRedirect>;
  close(): Promise<void>;
}

const CODE_TTL_MS = 10 * 60_000;

export async function startFakeNaver(
  opts: { clientId?: string; clientSecret?: string } = {},
): Promise<FakeNaver> {
  const clientId = opts.clientId ?? 'fake-naver-client-id';
  const clientSecret = opts.clientSecret ?? 'fake-naver-client-secret';
  issueSecret(clientSecret);
  const codes = new Map<string, { user: FakeNaverUser; state: string | null; expiresAt: number }>();
  const tokens = new Map<string, { user: FakeNaverUser; expiresAt: number }>();
  const logins = new LoginTickets<FakeNaverUser>();
  const tokenRequests: URLSearchParams[] = [];
  let nextUser: FakeNaverUser = { id: 'naver-user-1', nickname: '네이버유저', email: 'naver@example.com' };
  let deny = false;
  let offset = 0;
  const now = () => Date.now() + offset;

  function issue(user: FakeNaverUser): string {
    const token = randomBytes(48).toString('base64');
    issueSecret(token);
    tokens.set(token, { user: { ...user }, expiresAt: now() + 3600_000 });
    return token;
  }

  function authorizeEndpoint(req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams) {
    const redirectUri = q.get('redirect_uri');
    if (q.get('client_id') !== clientId || !redirectUri || q.get('response_type') !== 'code') {
      // Naver shows an error page here rather than redirecting anywhere.
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'bad authorization request' });
    }
    const back = new URL(redirectUri);
    const state = q.get('state');
    const user = logins.take(req) ?? nextUser;
    if (state !== null) back.searchParams.set('state', state);
    if (deny) {
      deny = false;
      back.searchParams.set('error', 'access_denied');
      back.searchParams.set('error_description', 'Canceled By User');
    } else {
      const code = randomBytes(12).toString('base64url');
      issueSecret(code);
      codes.set(code, { user: { ...user }, state, expiresAt: now() + CODE_TTL_MS });
      back.searchParams.set('code', code);
    }
    redirect(res, back);
  }

  function tokenEndpoint(res: http.ServerResponse, params: URLSearchParams) {
    tokenRequests.push(params);
    if (params.get('client_id') !== clientId || params.get('client_secret') !== clientSecret) {
      return sendJson(res, 200, { error: 'invalid_client', error_description: 'Invalid client' });
    }
    if (params.get('grant_type') !== 'authorization_code') {
      return sendJson(res, 200, { error: 'unsupported_grant_type', error_description: 'unsupported grant' });
    }
    const code = params.get('code') ?? '';
    const entry = codes.get(code);
    codes.delete(code);
    const sentState = params.get('state');
    if (!entry || entry.expiresAt <= now() || !sentState || sentState !== entry.state) {
      return sendJson(res, 200, { error: 'invalid_request', error_description: 'no valid data in session' });
    }
    sendJson(res, 200, {
      access_token: issue(entry.user),
      refresh_token: secret(randomBytes(24).toString('base64url')),
      token_type: 'bearer',
      // Naver sends this one as a string.
      expires_in: '3600',
    });
  }

  function profileEndpoint(req: http.IncomingMessage, res: http.ServerResponse) {
    const token = bearer(req);
    const holder = token ? tokens.get(token) : undefined;
    if (!holder || holder.expiresAt <= now()) {
      return sendJson(res, 401, { resultcode: '024', message: 'Authentication failed' });
    }
    const u = holder.user;
    sendJson(res, 200, {
      resultcode: '00',
      message: 'success',
      response: {
        id: u.id,
        ...(u.nickname !== undefined ? { nickname: u.nickname } : {}),
        ...(u.name !== undefined ? { name: u.name } : {}),
        ...(u.email !== undefined ? { email: u.email } : {}),
        ...(u.profileImage !== undefined ? { profile_image: u.profileImage } : {}),
      },
    });
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    readBody(req)
      .then((raw) => {
        if (url.pathname === '/oauth2.0/authorize') return authorizeEndpoint(req, res, url.searchParams);
        if (url.pathname === '/oauth2.0/token') {
          return tokenEndpoint(res, req.method === 'POST' ? new URLSearchParams(raw) : url.searchParams);
        }
        if (req.method === 'GET' && url.pathname === '/v1/nid/me') return profileEndpoint(req, res);
        sendJson(res, 404, { resultcode: '404', message: 'Not Found' });
      })
      .catch(() => sendJson(res, 500, { resultcode: '500', message: 'fake failed' }));
  });
  const url = await listenLoopback(server);

  return {
    url,
    clientId,
    clientSecret,
    env: {
      NAVER_CLIENT_ID: clientId,
      NAVER_CLIENT_SECRET: clientSecret,
      NAVER_AUTH_BASE_URL: url,
      NAVER_API_BASE_URL: url,
    },
    get nextUser() {
      return nextUser;
    },
    set nextUser(u: FakeNaverUser) {
      nextUser = u;
    },
    denyNext() {
      deny = true;
    },
    issueAccessToken: (user) => issue(user),
    advanceTime(ms) {
      offset += ms;
    },
    tokenRequests,
    authorize: (authorizationUrl, o) =>
      followAuthorization(
        authorizationUrl,
        o?.as ? { [FAKE_LOGIN_HEADER]: logins.register(o.as) } : {},
        o?.browser,
      ),
    close: () => closeServer(server),
  };
}
