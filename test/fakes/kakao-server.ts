import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeKakaoUser {
  id: number;
  nickname?: string;
  email?: string;
  avatarUrl?: string;
}

/**
 * A local Kakao Login: /oauth/authorize (302 back with code and state), /oauth/token (client id and secret,
 * redirect URI, single-use codes with a 10-minute life, PKCE S256; Kakao's error JSON), /v2/user/me and
 * /v1/user/access_token_info (with the `app_id` a token was issued to).
 */
export interface FakeKakao {
  url: string;
  env: Record<string, string>;
  clientId: string;
  appId: string;
  /** Who signs in at the next /oauth/authorize. */
  nextUser: FakeKakaoUser;
  /** Mints an access token as if Kakao had issued it to `appId` (another app's, to test the audience check). */
  issueAccessToken(user: FakeKakaoUser, appId?: string): string;
  /** Follows the browser step: requests the authorization URL and returns where Kakao redirects. */
  authorize(authorizationUrl: string): Promise<URL>;
  close(): Promise<void>;
}

export async function startFakeKakao(
  opts: { clientSecret?: string; appId?: string } = {},
): Promise<FakeKakao> {
  const clientId = 'fake-kakao-rest-key';
  const clientSecret = opts.clientSecret ?? 'fake-kakao-secret';
  const appId = opts.appId ?? '123456';
  const codes = new Map<
    string,
    { user: FakeKakaoUser; redirectUri: string; challenge?: string; expires: number }
  >();
  const tokens = new Map<string, { user: FakeKakaoUser; appId: string }>();
  const state = {
    nextUser: { id: 1001, nickname: '카카오유저', email: 'kakao@example.com' } as FakeKakaoUser,
  };

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' });
    res.end(JSON.stringify(body));
  };
  const bearer = (req: http.IncomingMessage) => /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      if (url.pathname === '/oauth/authorize') {
        const redirect = url.searchParams.get('redirect_uri');
        if (url.searchParams.get('client_id') !== clientId || !redirect)
          return json(res, 400, { error: 'invalid_client' });
        const code = randomBytes(16).toString('hex');
        const challenge = url.searchParams.get('code_challenge') ?? undefined;
        if (challenge && url.searchParams.get('code_challenge_method') !== 'S256')
          return json(res, 400, { error: 'invalid_request' });
        codes.set(code, {
          user: { ...state.nextUser },
          redirectUri: redirect,
          challenge,
          expires: Date.now() + 600_000,
        });
        const back = new URL(redirect);
        back.searchParams.set('code', code);
        const s = url.searchParams.get('state');
        if (s) back.searchParams.set('state', s);
        res.writeHead(302, { location: back.toString() });
        return res.end();
      }
      if (url.pathname === '/oauth/token' && req.method === 'POST') {
        const form = new URLSearchParams(raw);
        const fail = (code: string) =>
          json(res, 400, {
            error: 'invalid_grant',
            error_description: 'authorization code not found for code',
            error_code: code,
          });
        if (form.get('client_id') !== clientId)
          return json(res, 401, { error: 'invalid_client', error_code: 'KOE101' });
        if (form.get('client_secret') !== clientSecret)
          return json(res, 401, { error: 'invalid_client', error_code: 'KOE010' });
        const entry = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        if (!entry || entry.expires < Date.now()) return fail('KOE320');
        if (entry.redirectUri !== form.get('redirect_uri')) return fail('KOE303');
        if (entry.challenge) {
          const verifier = form.get('code_verifier') ?? '';
          if (createHash('sha256').update(verifier).digest('base64url') !== entry.challenge)
            return fail('KOE322');
        }
        const accessToken = issue(entry.user, appId);
        return json(res, 200, {
          token_type: 'bearer',
          access_token: accessToken,
          expires_in: 21599,
          refresh_token: 'r',
          refresh_token_expires_in: 5183999,
        });
      }
      const token = bearer(req);
      const holder = token ? tokens.get(token) : undefined;
      if (url.pathname === '/v2/user/me' || url.pathname === '/v1/user/access_token_info') {
        if (!holder) return json(res, 401, { msg: 'this access token does not exist', code: -401 });
        if (url.pathname === '/v1/user/access_token_info') {
          return json(res, 200, { id: holder.user.id, expires_in: 21000, app_id: Number(holder.appId) });
        }
        const u = holder.user;
        return json(res, 200, {
          id: u.id,
          connected_at: new Date().toISOString(),
          kakao_account: {
            profile_nickname_needs_agreement: false,
            profile: {
              nickname: u.nickname,
              profile_image_url: u.avatarUrl ?? 'http://k.kakaocdn.net/img.jpg',
              is_default_image: false,
            },
            ...(u.email ? { email: u.email, is_email_valid: true, is_email_verified: true } : {}),
          },
        });
      }
      json(res, 404, { msg: 'not found', code: -404 });
    });
  });
  function issue(user: FakeKakaoUser, forApp: string): string {
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, { user, appId: forApp });
    return token;
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    clientId,
    appId,
    env: {
      KAKAO_CLIENT_ID: clientId,
      KAKAO_CLIENT_SECRET: clientSecret,
      KAKAO_APP_ID: appId,
      KAKAO_AUTH_BASE_URL: url,
      KAKAO_API_BASE_URL: url,
    },
    get nextUser() {
      return state.nextUser;
    },
    set nextUser(u: FakeKakaoUser) {
      state.nextUser = u;
    },
    issueAccessToken: (user, forApp = appId) => issue(user, forApp),
    authorize: (authorizationUrl) => followRedirect(authorizationUrl),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The browser's part: request the provider's authorization URL and return the Location it redirects to. */
export async function followRedirect(url: string): Promise<URL> {
  const res = await fetch(url, { redirect: 'manual' });
  const location = res.headers.get('location');
  if (res.status !== 302 || !location) throw new Error(`expected a redirect, got ${res.status}`);
  return new URL(location, url);
}
