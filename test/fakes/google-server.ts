import { createHash } from 'node:crypto';
import http from 'node:http';
import {
  OAuth2Issuer,
  OAuth2Service,
  type MutableRedirectUri,
  type MutableResponse,
  type MutableToken,
} from 'oauth2-mock-server';
import {
  clientCredentials,
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

export interface FakeGoogleUser {
  sub: string;
  email?: string;
  /** `email_verified` (default true when there is an email). */
  emailVerified?: boolean;
  name?: string;
  picture?: string;
}

/**
 * Google's OpenID Connect, played by oauth2-mock-server 8.2.3 (discovery, JWKS, `/authorize`, `/token` with
 * RS256 ID tokens carrying the `nonce` sent to `/authorize`), with what the mock does not do added in front of
 * it, the way Google behaves:
 *
 * - `/authorize` checks the client id and `scope=openid…`, and picks who signs in (`nextUser`, or
 *   `authorize(url, { as })`); `denyNext()` sends the browser back with `error=access_denied`.
 * - `/token` checks the client id and secret (form or HTTP Basic), that the code exists, is unused (the mock would
 *   take it twice) and younger than 10 minutes, the redirect URI, and PKCE, answering like Google:
 *   `invalid_grant` "Bad Request" for a used or unknown code, `invalid_grant` "Invalid code verifier." for a
 *   wrong verifier (the mock itself says `invalid_request`), `invalid_client`, `redirect_uri_mismatch`.
 * - Claims of the ID token are set in `beforeTokenSigning`, subscribed with `on` (it fires for the access token
 *   and the ID token alike; feasibility.md), and only the ID token is touched.
 *
 * The mock would name its issuer `http://localhost:PORT`, which may resolve to ::1 where nothing listens, so this
 * fake serves the mock's handler on its own 127.0.0.1 listener and sets the issuer to that URL.
 *
 * Test hooks: `nextUser`; `tamperNext({ aud | nonce | exp | iss … })` overrides claims of the next ID token the
 * token endpoint issues (wrong audience, wrong nonce, expired); `idToken(user, audience, claims)` mints an ID token
 * as a native SDK would get it; `denyNext()`; `advanceTime(ms)` (code TTL); `tokenRequests`.
 */
export interface FakeGoogle {
  /** The issuer URL (GOOGLE_ISSUER). */
  url: string;
  /** GOOGLE_* variables pointing the app at this fake. */
  env: Record<string, string>;
  clientId: string;
  clientSecret: string;
  /** An iOS/Android client id listed in `env.GOOGLE_NATIVE_CLIENT_IDS`. */
  nativeClientId: string;
  nextUser: FakeGoogleUser;
  /** Overrides claims of the next ID token from /token, e.g. `{ aud: 'other' }`, `{ nonce: 'x' }`, `{ exp: 0 }`. */
  tamperNext(claims: Record<string, unknown>): void;
  /** An ID token for `audience` as a native SDK would get it (`claims` override anything, e.g. `exp`). */
  idToken(user: FakeGoogleUser, audience: string, claims?: Record<string, unknown>): Promise<string>;
  denyNext(): void;
  advanceTime(ms: number): void;
  /** Forms posted to /token, oldest first. */
  tokenRequests: URLSearchParams[];
  /** `browser`: whose cookies go along (the fake sets none, but a real provider's session would). */
  authorize(
    authorizationUrl: string,
    opts?: { as?: FakeGoogleUser; browser?: TestBrowser },
  ): Promise<ProviderRedirect>;
  close(): Promise<void>;
}

const CODE_TTL_MS = 10 * 60_000;

interface CodeEntry {
  user: FakeGoogleUser;
  redirectUri: string;
  challenge: { value: string; method: string } | null;
  expiresAt: number;
}

export async function startFakeGoogle(
  opts: { clientId?: string; clientSecret?: string; nativeClientId?: string } = {},
): Promise<FakeGoogle> {
  const clientId = opts.clientId ?? 'fake-google-web.apps.googleusercontent.com';
  const clientSecret = opts.clientSecret ?? 'fake-google-client-secret';
  const nativeClientId = opts.nativeClientId ?? 'fake-google-ios.apps.googleusercontent.com';
  issueSecret(clientSecret);
  const issuer = new OAuth2Issuer();
  await issuer.keys.generate('RS256');
  const service = new OAuth2Service(issuer);

  const codes = new Map<string, CodeEntry>();
  const logins = new LoginTickets<FakeGoogleUser>();
  /** Who signs in at an /authorize request, and which code a /token request redeems (same request objects). */
  const loginOf = new WeakMap<http.IncomingMessage, FakeGoogleUser>();
  const redeeming = new WeakMap<http.IncomingMessage, CodeEntry>();
  const tokenRequests: URLSearchParams[] = [];
  let nextUser: FakeGoogleUser = { sub: 'google-sub-1', email: 'g@example.com', name: 'Google User' };
  let tamper: Record<string, unknown> | null = null;
  let deny = false;
  let offset = 0;
  const now = () => Date.now() + offset;

  const userClaims = (u: FakeGoogleUser): Record<string, unknown> => ({
    sub: u.sub,
    ...(u.email !== undefined ? { email: u.email, email_verified: u.emailVerified ?? true } : {}),
    ...(u.name !== undefined ? { name: u.name } : {}),
    ...(u.picture !== undefined ? { picture: u.picture } : {}),
  });

  service.on('beforeAuthorizeRedirect', (target: MutableRedirectUri, req: http.IncomingMessage) => {
    const code = target.url.searchParams.get('code');
    if (!code) return;
    issueSecret(code);
    const q = new URL(req.url ?? '/', 'http://fake').searchParams;
    const challenge = q.get('code_challenge');
    codes.set(code, {
      user: { ...(loginOf.get(req) ?? nextUser) },
      redirectUri: q.get('redirect_uri') ?? '',
      challenge: challenge ? { value: challenge, method: q.get('code_challenge_method') ?? 'plain' } : null,
      expiresAt: now() + CODE_TTL_MS,
    });
  });

  service.on('beforeTokenSigning', (token: MutableToken, req: http.IncomingMessage) => {
    const entry = redeeming.get(req);
    // The mock signs the access token first (it has `scope`), then the ID token (it has `aud`).
    if (!entry || token.payload.scope !== undefined) return;
    const payload: Record<string, unknown> = token.payload;
    delete payload.nbf;
    delete payload.amr;
    Object.assign(payload, { azp: clientId }, userClaims(entry.user), tamper ?? {});
    tamper = null;
  });

  // Every token the mock hands out (access, ID, refresh) must stay out of the app's logs.
  service.on('beforeResponse', (response: MutableResponse) => {
    if (response.body === '') return;
    const { access_token: access, id_token: id, refresh_token: refresh } = response.body;
    for (const token of [access, id, refresh]) if (typeof token === 'string') issueSecret(token);
  });

  async function tokenEndpoint(req: http.IncomingMessage, res: http.ServerResponse) {
    const form = new URLSearchParams(await readBody(req));
    tokenRequests.push(form);
    if (form.get('grant_type') !== 'authorization_code') {
      return sendJson(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' });
    }
    const client = clientCredentials(req, form);
    if (client.id !== clientId || client.secret !== clientSecret) {
      return sendJson(res, 401, { error: 'invalid_client', error_description: 'Unauthorized' });
    }
    const code = form.get('code') ?? '';
    const entry = codes.get(code);
    codes.delete(code);
    if (!entry || entry.expiresAt <= now()) {
      return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Bad Request' });
    }
    if (form.get('redirect_uri') !== entry.redirectUri) {
      return sendJson(res, 400, { error: 'redirect_uri_mismatch', error_description: 'Bad Request' });
    }
    const verifier = form.get('code_verifier');
    if (entry.challenge) {
      if (!verifier) {
        return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Missing code verifier.' });
      }
      const expected =
        entry.challenge.method === 'S256'
          ? createHash('sha256').update(verifier).digest('base64url')
          : verifier;
      if (expected !== entry.challenge.value) {
        return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid code verifier.' });
      }
    } else if (verifier) {
      // What Google says here is not documented; the fake refuses so that a verifier sent without a challenge
      // (an adapter bug) shows up.
      return sendJson(res, 400, {
        error: 'invalid_request',
        error_description: 'No code_challenge was sent.',
      });
    }
    // Checked: let the mock mint the tokens. body-parser leaves a request whose body was already read alone,
    // so the mock's token handler sees this parsed form as `req.body`.
    redeeming.set(req, entry);
    Object.assign(req, { body: Object.fromEntries(form) });
    service.requestHandler(req, res);
  }

  function authorizeEndpoint(req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams) {
    const redirectUri = q.get('redirect_uri');
    if (q.get('client_id') !== clientId) {
      return sendJson(res, 401, {
        error: 'invalid_client',
        error_description: 'The OAuth client was not found.',
      });
    }
    if (
      !redirectUri ||
      q.get('response_type') !== 'code' ||
      !(q.get('scope') ?? '').split(' ').includes('openid')
    ) {
      return sendJson(res, 400, {
        error: 'invalid_request',
        error_description: 'Missing required parameter',
      });
    }
    const login = logins.take(req);
    if (deny) {
      deny = false;
      const back = new URL(redirectUri);
      back.searchParams.set('error', 'access_denied');
      const state = q.get('state');
      if (state !== null) back.searchParams.set('state', state);
      return redirect(res, back);
    }
    if (login) loginOf.set(req, login);
    service.requestHandler(req, res);
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const done = (p: Promise<void> | void) =>
      Promise.resolve(p).catch(() => sendJson(res, 500, { error: 'server_error' }));
    if (req.method === 'POST' && url.pathname === '/token') return done(tokenEndpoint(req, res));
    if (req.method === 'GET' && url.pathname === '/authorize') {
      return done(authorizeEndpoint(req, res, url.searchParams));
    }
    service.requestHandler(req, res);
  });
  const url = await listenLoopback(server);
  issuer.url = url;

  return {
    url,
    clientId,
    clientSecret,
    nativeClientId,
    env: {
      GOOGLE_CLIENT_ID: clientId,
      GOOGLE_CLIENT_SECRET: clientSecret,
      GOOGLE_NATIVE_CLIENT_IDS: nativeClientId,
      GOOGLE_ISSUER: url,
    },
    get nextUser() {
      return nextUser;
    },
    set nextUser(u: FakeGoogleUser) {
      nextUser = u;
    },
    tamperNext(claims) {
      tamper = { ...claims };
    },
    idToken: async (user, audience, claims = {}) =>
      secret(
        await issuer.buildToken({
          scopesOrTransform: (_header, claimsSet: Record<string, unknown>) => {
            delete claimsSet.nbf;
            Object.assign(claimsSet, { aud: audience, azp: audience }, userClaims(user), claims);
          },
        }),
      ),
    denyNext() {
      deny = true;
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
