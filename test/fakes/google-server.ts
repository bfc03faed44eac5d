import { OAuth2Server } from 'oauth2-mock-server';
import { followRedirect } from './kakao-server.js';

export interface FakeGoogleUser {
  sub: string;
  email?: string;
  name?: string;
  picture?: string;
}

/**
 * Google's OpenID Connect, played by oauth2-mock-server: discovery, /authorize, /token with PKCE and nonce, and
 * RS256 ID tokens from its JWKS. On top of it: who signs in next, single-use codes (the mock would accept a code
 * twice), and switches to mint tokens with a wrong audience or nonce.
 */
export interface FakeGoogle {
  url: string;
  env: Record<string, string>;
  clientId: string;
  nextUser: FakeGoogleUser;
  /** Overrides claims of the next ID token (e.g. `{ aud: 'other' }`, `{ nonce: 'x' }`, `{ exp: 0 }`). */
  tamperNext(claims: Record<string, unknown>): void;
  /** An ID token as a native SDK would get it, for `audience`. */
  idToken(user: FakeGoogleUser, audience: string, claims?: Record<string, unknown>): Promise<string>;
  authorize(authorizationUrl: string): Promise<URL>;
  close(): Promise<void>;
}

export async function startFakeGoogle(): Promise<FakeGoogle> {
  const clientId = 'fake-google-web.apps.googleusercontent.com';
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  await server.start(0, '127.0.0.1');
  // The mock names itself after "localhost", which may resolve to ::1 where nothing listens.
  server.issuer.url = `http://127.0.0.1:${server.address().port}`;
  const state = {
    nextUser: { sub: 'google-sub-1', email: 'g@example.com', name: 'Google User' } as FakeGoogleUser,
  };
  let tamper: Record<string, unknown> = {};
  const usedCodes = new Set<string>();

  server.service.on(
    'beforeResponse',
    (response: { statusCode: number; body: unknown }, req: { body: { code?: string } }) => {
      const code = req.body.code;
      if (!code) return;
      if (usedCodes.has(code)) {
        response.statusCode = 400;
        response.body = { error: 'invalid_grant', error_description: 'Bad Request' };
      }
      usedCodes.add(code);
    },
  );
  server.service.on('beforeTokenSigning', (token: { payload: Record<string, unknown> }) => {
    const u = state.nextUser;
    Object.assign(token.payload, {
      sub: u.sub,
      ...(u.email ? { email: u.email, email_verified: true } : {}),
      ...(u.name ? { name: u.name } : {}),
      ...(u.picture ? { picture: u.picture } : {}),
      ...tamper,
    });
  });
  server.service.on('beforeResponse', () => {
    tamper = {};
  });

  return {
    url: server.issuer.url,
    clientId,
    env: {
      GOOGLE_CLIENT_ID: clientId,
      GOOGLE_CLIENT_SECRET: 'fake-google-secret',
      GOOGLE_ISSUER: server.issuer.url,
    },
    get nextUser() {
      return state.nextUser;
    },
    set nextUser(u: FakeGoogleUser) {
      state.nextUser = u;
    },
    tamperNext(claims) {
      tamper = claims;
    },
    idToken: (user, audience, claims = {}) =>
      server.issuer.buildToken({
        scopesOrTransform: (_header: unknown, payload: Record<string, unknown>) => {
          Object.assign(payload, {
            sub: user.sub,
            aud: audience,
            email: user.email,
            email_verified: true,
            name: user.name,
            ...claims,
          });
        },
      }),
    authorize: (authorizationUrl) => followRedirect(authorizationUrl),
    close: () => server.stop(),
  };
}
