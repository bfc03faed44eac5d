import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { followRedirect } from './kakao-server.js';

export interface FakeNaverUser {
  id: string;
  nickname?: string;
  email?: string;
}

/**
 * A local Naver Login: /oauth2.0/authorize, /oauth2.0/token (which, like Naver, answers failures with HTTP 200
 * and an `error` field), and /v1/nid/me (`{ resultcode: '00', response: {...} }`).
 */
export interface FakeNaver {
  url: string;
  env: Record<string, string>;
  nextUser: FakeNaverUser;
  authorize(authorizationUrl: string): Promise<URL>;
  close(): Promise<void>;
}

export async function startFakeNaver(): Promise<FakeNaver> {
  const clientId = 'fake-naver-client';
  const clientSecret = 'fake-naver-secret';
  const codes = new Map<string, { user: FakeNaverUser; expires: number }>();
  const tokens = new Map<string, FakeNaverUser>();
  const state = {
    nextUser: { id: 'naver-abc-1', nickname: '네이버유저', email: 'naver@example.com' } as FakeNaverUser,
  };
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json;charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      if (url.pathname === '/oauth2.0/authorize') {
        const redirect = url.searchParams.get('redirect_uri');
        if (url.searchParams.get('client_id') !== clientId || !redirect)
          return json(res, 200, { error: 'invalid_request' });
        const code = randomBytes(12).toString('hex');
        codes.set(code, { user: { ...state.nextUser }, expires: Date.now() + 600_000 });
        const back = new URL(redirect);
        back.searchParams.set('code', code);
        back.searchParams.set('state', url.searchParams.get('state') ?? '');
        res.writeHead(302, { location: back.toString() });
        return res.end();
      }
      if (url.pathname === '/oauth2.0/token') {
        const params = req.method === 'POST' ? new URLSearchParams(raw) : url.searchParams;
        if (params.get('client_id') !== clientId || params.get('client_secret') !== clientSecret) {
          return json(res, 200, { error: 'invalid_client', error_description: 'Invalid client' });
        }
        const entry = codes.get(params.get('code') ?? '');
        codes.delete(params.get('code') ?? '');
        if (!entry || entry.expires < Date.now()) {
          return json(res, 200, { error: 'invalid_request', error_description: 'no valid data in session' });
        }
        const token = randomBytes(20).toString('base64url');
        tokens.set(token, entry.user);
        return json(res, 200, {
          access_token: token,
          refresh_token: 'r',
          token_type: 'bearer',
          expires_in: '3600',
        });
      }
      if (url.pathname === '/v1/nid/me') {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const user = token ? tokens.get(token) : undefined;
        if (!user) return json(res, 401, { resultcode: '024', message: 'Authentication failed' });
        return json(res, 200, {
          resultcode: '00',
          message: 'success',
          response: {
            id: user.id,
            nickname: user.nickname,
            email: user.email,
            profile_image: 'https://phinf.pstatic.net/x.png',
          },
        });
      }
      json(res, 404, { error: 'not found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    env: {
      NAVER_CLIENT_ID: clientId,
      NAVER_CLIENT_SECRET: clientSecret,
      NAVER_AUTH_BASE_URL: url,
      NAVER_API_BASE_URL: url,
    },
    get nextUser() {
      return state.nextUser;
    },
    set nextUser(u: FakeNaverUser) {
      state.nextUser = u;
    },
    authorize: (authorizationUrl) => followRedirect(authorizationUrl),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
