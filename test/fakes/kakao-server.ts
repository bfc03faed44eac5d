import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import {
  closeServer,
  FAKE_LOGIN_HEADER,
  followAuthorization,
  listenLoopback,
  LoginTickets,
  readBody,
  redirect,
  sendJson,
  bearer,
  type ProviderRedirect,
  type TestBrowser,
} from './oauth-browser.js';
import { issueSecret, secret } from '../helpers/secrets.js';

export { ProviderRedirect } from './oauth-browser.js';

export interface FakeKakaoUser {
  /** Kakao's membership number (회원번호). */
  id: number;
  nickname?: string;
  email?: string;
  /** `is_email_verified` and `is_email_valid` (default true when there is an email). */
  emailVerified?: boolean;
  /** `profile_image_url`; without it Kakao's default image is returned with `is_default_image: true`. */
  avatarUrl?: string;
}

export interface FakeKakaoOptions {
  clientId?: string;
  /** The client secret the token endpoint requires; `null`: client secret disabled (Kakao's default). */
  clientSecret?: string | null;
  /** Numeric app id that access_token_info reports for tokens issued through this fake. */
  appId?: string;
}

/**
 * A local Kakao Login speaking Kakao's REST protocol, for the production `KakaoProvider`:
 *
 * - `GET /oauth/authorize`: 302 back to `redirect_uri` with `code` and `state` (or `error=access_denied` after
 *   `denyNext()`); remembers the redirect URI and the PKCE S256 challenge.
 * - `POST /oauth/token`: checks client id, client secret (when configured), that the code exists, is unused and
 *   younger than 10 minutes, the redirect URI, and the PKCE verifier when a challenge was sent. Every code is
 *   burnt on its first redemption, successful or not. Errors are Kakao's: `{ error, error_description,
 *   error_code: 'KOE…' }` (KOE320 bad code, KOE303 redirect URI, KOE010/KOE101 client), and like Kakao the
 *   description echoes the code, so a leak into logs would show.
 * - `GET /v2/user/me` and `GET /v1/user/access_token_info` (with the `app_id` the token was issued to); an unknown
 *   or expired token gets 401 `{ msg, code: -401 }`.
 *
 * Test hooks: `nextUser` (who signs in next), `authorize(url, { as })` (who signs in this once),
 * `issueAccessToken(user, { appId })` (an SDK token, possibly of another app), `denyNext()`, `advanceTime(ms)`,
 * and `tokenRequests` (the forms our adapter posted).
 */
export interface FakeKakao {
  url: string;
  /** KAKAO_* variables pointing the app at this fake. */
  env: Record<string, string>;
  clientId: string;
  clientSecret: string | null;
  appId: string;
  /** Who signs in at the next /oauth/authorize (copied then, so later changes do not affect issued codes). */
  nextUser: FakeKakaoUser;
  /** The next /oauth/authorize sends the browser back with `error=access_denied` (the user cancelled). */
  denyNext(): void;
  /**
   * Mints an access token as Kakao's SDK would get it. `appId` other than ours plays a token issued to another
   * Kakao app; `expiresIn` (seconds, default 21599) at 0 or below gives an already expired token.
   */
  issueAccessToken(user: FakeKakaoUser, opts?: string | { appId?: string; expiresIn?: number }): string;
  /** Moves the fake's clock (code TTL, token expiry). */
  advanceTime(ms: number): void;
  /** Forms posted to /oauth/token, oldest first. */
  tokenRequests: URLSearchParams[];
  /** The browser step: requests the authorization URL and returns the redirect back to us, unfollowed. */
  /** `browser`: whose cookies go along (the fake sets none, but a real provider's session would). */
  authorize(
    authorizationUrl: string,
    opts?: { as?: FakeKakaoUser; browser?: TestBrowser },
  ): Promise<ProviderRedirect>;
  close(): Promise<void>;
}

const CODE_TTL_MS = 10 * 60_000;
const DEFAULT_IMAGE =
  'http://img1.kakaocdn.net/thumb/R640x640.q70/?fname=http://t1.kakaocdn.net/account_images/default_profile.jpeg';

interface CodeEntry {
  user: FakeKakaoUser;
  redirectUri: string;
  challenge: string | null;
  expiresAt: number;
}

export async function startFakeKakao(opts: FakeKakaoOptions = {}): Promise<FakeKakao> {
  const clientId = opts.clientId ?? 'fake-kakao-rest-api-key';
  const clientSecret = opts.clientSecret === undefined ? 'fake-kakao-client-secret' : opts.clientSecret;
  const appId = opts.appId ?? '123456';
  issueSecret(clientSecret);
  const codes = new Map<string, CodeEntry>();
  const tokens = new Map<string, { user: FakeKakaoUser; appId: string; expiresAt: number }>();
  const logins = new LoginTickets<FakeKakaoUser>();
  const tokenRequests: URLSearchParams[] = [];
  let nextUser: FakeKakaoUser = { id: 1001, nickname: '카카오유저', email: 'kakao@example.com' };
  let deny = false;
  let offset = 0;
  const now = () => Date.now() + offset;

  function issue(user: FakeKakaoUser, forApp: string, expiresIn = 21599): string {
    const token = randomBytes(40).toString('base64url');
    issueSecret(token);
    tokens.set(token, { user: { ...user }, appId: forApp, expiresAt: now() + expiresIn * 1000 });
    return token;
  }

  function authorizeEndpoint(req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
    const q = url.searchParams;
    if (q.get('client_id') !== clientId) {
      return sendJson(res, 401, { error: 'invalid_client', error_code: 'KOE101' });
    }
    const redirectUri = q.get('redirect_uri');
    if (!redirectUri || q.get('response_type') !== 'code') {
      return sendJson(res, 400, { error: 'invalid_request', error_code: 'KOE201' });
    }
    const challenge = q.get('code_challenge');
    if (challenge && q.get('code_challenge_method') !== 'S256') {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'unsupported method' });
    }
    const back = new URL(redirectUri);
    const state = q.get('state');
    const user = logins.take(req) ?? nextUser;
    if (deny) {
      deny = false;
      back.searchParams.set('error', 'access_denied');
      back.searchParams.set('error_description', 'User denied access');
    } else {
      const code = randomBytes(30).toString('base64url');
      issueSecret(code);
      codes.set(code, { user: { ...user }, redirectUri, challenge, expiresAt: now() + CODE_TTL_MS });
      back.searchParams.set('code', code);
    }
    if (state !== null) back.searchParams.set('state', state);
    redirect(res, back);
  }

  function tokenEndpoint(res: http.ServerResponse, form: URLSearchParams) {
    tokenRequests.push(form);
    if (form.get('grant_type') !== 'authorization_code') {
      return sendJson(res, 400, { error: 'unsupported_grant_type', error_code: 'KOE001' });
    }
    if (form.get('client_id') !== clientId) {
      return sendJson(res, 401, {
        error: 'invalid_client',
        error_description: `Not exist client_id [${form.get('client_id')}]`,
        error_code: 'KOE101',
      });
    }
    if (clientSecret !== null && form.get('client_secret') !== clientSecret) {
      return sendJson(res, 401, {
        error: 'invalid_client',
        error_description: 'Bad client credentials',
        error_code: 'KOE010',
      });
    }
    const code = form.get('code') ?? '';
    const entry = codes.get(code);
    codes.delete(code);
    if (!entry || entry.expiresAt <= now()) {
      return sendJson(res, 400, {
        error: 'invalid_grant',
        error_description: `authorization code not found for code=${code}`,
        error_code: 'KOE320',
      });
    }
    if (form.get('redirect_uri') !== entry.redirectUri) {
      return sendJson(res, 400, {
        error: 'invalid_grant',
        error_description: 'Redirect URI mismatch.',
        error_code: 'KOE303',
      });
    }
    if (entry.challenge !== null) {
      const verifier = form.get('code_verifier') ?? '';
      if (createHash('sha256').update(verifier).digest('base64url') !== entry.challenge) {
        // Kakao's exact answer to a wrong verifier is not in the documents we found; this is RFC 7636 §4.6's.
        return sendJson(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
      }
    }
    sendJson(res, 200, {
      token_type: 'bearer',
      access_token: issue(entry.user, appId),
      expires_in: 21599,
      refresh_token: secret(randomBytes(40).toString('base64url')),
      refresh_token_expires_in: 5183999,
      scope: 'profile_image profile_nickname account_email',
    });
  }

  function apiEndpoint(req: http.IncomingMessage, res: http.ServerResponse, path: string) {
    const token = bearer(req);
    const holder = token ? tokens.get(token) : undefined;
    if (!holder) return sendJson(res, 401, { msg: 'this access token does not exist', code: -401 });
    if (holder.expiresAt <= now()) {
      return sendJson(res, 401, { msg: 'this access token is already expired', code: -401 });
    }
    const u = holder.user;
    if (path === '/v1/user/access_token_info') {
      return sendJson(res, 200, {
        id: u.id,
        expires_in: Math.floor((holder.expiresAt - now()) / 1000),
        app_id: Number(holder.appId),
      });
    }
    const verified = u.emailVerified ?? true;
    sendJson(res, 200, {
      id: u.id,
      connected_at: new Date(now()).toISOString().replace(/\.\d+Z$/, 'Z'),
      kakao_account: {
        profile_nickname_needs_agreement: false,
        profile_image_needs_agreement: false,
        profile: {
          ...(u.nickname !== undefined ? { nickname: u.nickname } : {}),
          thumbnail_image_url: u.avatarUrl ?? DEFAULT_IMAGE,
          profile_image_url: u.avatarUrl ?? DEFAULT_IMAGE,
          is_default_image: u.avatarUrl === undefined,
        },
        has_email: u.email !== undefined,
        ...(u.email !== undefined
          ? {
              email_needs_agreement: false,
              is_email_valid: verified,
              is_email_verified: verified,
              email: u.email,
            }
          : {}),
      },
    });
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    readBody(req)
      .then((raw) => {
        if (req.method === 'GET' && url.pathname === '/oauth/authorize')
          return authorizeEndpoint(req, res, url);
        if (req.method === 'POST' && url.pathname === '/oauth/token') {
          return tokenEndpoint(res, new URLSearchParams(raw));
        }
        if (url.pathname === '/v2/user/me' || url.pathname === '/v1/user/access_token_info') {
          return apiEndpoint(req, res, url.pathname);
        }
        sendJson(res, 404, { msg: 'not found', code: -404 });
      })
      .catch(() => sendJson(res, 500, { msg: 'fake failed', code: -1 }));
  });
  const url = await listenLoopback(server);

  return {
    url,
    clientId,
    clientSecret,
    appId,
    env: {
      KAKAO_CLIENT_ID: clientId,
      ...(clientSecret !== null ? { KAKAO_CLIENT_SECRET: clientSecret } : {}),
      KAKAO_APP_ID: appId,
      KAKAO_AUTH_BASE_URL: url,
      KAKAO_API_BASE_URL: url,
    },
    get nextUser() {
      return nextUser;
    },
    set nextUser(u: FakeKakaoUser) {
      nextUser = u;
    },
    denyNext() {
      deny = true;
    },
    issueAccessToken(user, o) {
      const options = typeof o === 'string' ? { appId: o } : (o ?? {});
      return issue(user, options.appId ?? appId, options.expiresIn);
    },
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
