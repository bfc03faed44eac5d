import http from 'node:http';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createOAuthProviders } from '../../src/infra/oauth/create-providers.js';
import { GoogleProvider } from '../../src/infra/oauth/google.js';
import type { OAuthProvider } from '../../src/infra/oauth/oauth.js';
import {
  codeChallengeS256,
  generateCodeVerifier,
  generateNonce,
  generateState,
} from '../../src/infra/oauth/pkce.js';
import { startFakeGoogle, type FakeGoogle, type FakeGoogleUser } from '../fakes/google-server.js';
import { closeServer, listenLoopback, sendJson } from '../fakes/oauth-browser.js';

const CALLBACK = 'http://127.0.0.1:3000/v1/auth/oauth/google/callback';
/** Kakao and Google do not take the state back at the token endpoint; the caller has checked it. */
const CHECKED_STATE = 'checked-by-the-caller';
const nowS = () => Math.floor(Date.now() / 1000);

/** The production Google (OIDC) adapter against oauth2-mock-server behind the Google-like fake. */
describe('GoogleProvider', () => {
  let fake: FakeGoogle;
  let google: OAuthProvider;
  beforeAll(async () => {
    fake = await startFakeGoogle();
    google = createOAuthProviders(loadConfig(fake.env)).get('google')!;
  });
  afterAll(() => fake.close());

  async function signIn(as?: FakeGoogleUser) {
    const state = generateState();
    const codeVerifier = generateCodeVerifier();
    const nonce = generateNonce();
    const url = await google.authorizationUrl({ state, redirectUri: CALLBACK, codeVerifier, nonce });
    const back = await fake.authorize(url.toString(), as ? { as } : {});
    expect(back.state).toBe(state);
    return { code: back.code!, codeVerifier, nonce };
  }

  it('sends the browser to the discovered endpoint with scope, state, nonce and an S256 challenge', async () => {
    const verifier = generateCodeVerifier();
    const url = await google.authorizationUrl({
      state: 'st-g',
      redirectUri: CALLBACK,
      codeVerifier: verifier,
      nonce: 'n-g',
    });
    expect(url.origin + url.pathname).toBe(`${fake.url}/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: fake.clientId,
      redirect_uri: CALLBACK,
      scope: 'openid email profile',
      state: 'st-g',
      nonce: 'n-g',
      code_challenge: codeChallengeS256(verifier),
      code_challenge_method: 'S256',
    });
  });

  it('redeems a code and reads the profile from the verified ID token', async () => {
    const s = await signIn({
      sub: '110248495921238986420',
      name: 'Hong Gildong',
      email: 'hong@gmail.com',
      picture: 'https://lh3.googleusercontent.com/a/x',
    });
    const profile = await google.exchangeCode({
      state: CHECKED_STATE,
      code: s.code,
      redirectUri: CALLBACK,
      codeVerifier: s.codeVerifier,
      nonce: s.nonce,
    });
    expect(profile).toEqual({
      provider: 'google',
      providerUserId: '110248495921238986420',
      nickname: 'Hong Gildong',
      email: 'hong@gmail.com',
      emailVerified: true,
      avatarUrl: 'https://lh3.googleusercontent.com/a/x',
    });
    const form = fake.tokenRequests.at(-1)!;
    expect(form.get('client_secret')).toBe(fake.clientSecret);
    expect(form.get('code_verifier')).toBe(s.codeVerifier);
  });

  it('keeps an unverified address unverified', async () => {
    const s = await signIn({ sub: 'g-unverified', email: 'x@example.com', emailVerified: false });
    const profile = await google.exchangeCode({
      state: CHECKED_STATE,
      code: s.code,
      redirectUri: CALLBACK,
      codeVerifier: s.codeVerifier,
      nonce: s.nonce,
    });
    expect(profile).toMatchObject({ email: 'x@example.com', emailVerified: false });
  });

  it('refuses a code redeemed twice and a wrong PKCE verifier (invalid_grant)', async () => {
    const s = await signIn();
    const params = {
      code: s.code,
      state: CHECKED_STATE,
      redirectUri: CALLBACK,
      codeVerifier: s.codeVerifier,
      nonce: s.nonce,
    };
    await google.exchangeCode(params);
    await expect(google.exchangeCode(params)).rejects.toMatchObject({ reason: 'invalid_grant' });

    const t = await signIn();
    await expect(
      google.exchangeCode({
        state: CHECKED_STATE,
        code: t.code,
        redirectUri: CALLBACK,
        codeVerifier: generateCodeVerifier(),
        nonce: t.nonce,
      }),
    ).rejects.toMatchObject({ reason: 'invalid_grant' });
  });

  it.each([
    ['an audience of another client', { aud: 'someone-else.apps.googleusercontent.com' }, 'wrong_audience'],
    ['an azp of another client', { azp: 'someone-else.apps.googleusercontent.com' }, 'wrong_audience'],
    ['another nonce', { nonce: 'not-the-nonce' }, 'wrong_nonce'],
    ['no nonce', { nonce: undefined }, 'wrong_nonce'],
    ['an expiry in the past', { exp: nowS() - 120 }, 'invalid_token'],
    ['another issuer', { iss: 'https://accounts.example.com' }, 'invalid_token'],
    ['no subject', { sub: undefined }, 'invalid_token'],
  ] as const)('refuses an ID token with %s (%j) as %s', async (_what, claims, reason) => {
    const s = await signIn();
    fake.tamperNext(claims);
    await expect(
      google.exchangeCode({
        state: CHECKED_STATE,
        code: s.code,
        redirectUri: CALLBACK,
        codeVerifier: s.codeVerifier,
        nonce: s.nonce,
      }),
    ).rejects.toMatchObject({ reason });
  });

  describe('native-app ID tokens', () => {
    it('accepts our web client id and the configured native client ids as audience', async () => {
      const web = await fake.idToken({ sub: 'g-native-1', name: 'Native' }, fake.clientId);
      expect(await google.verifyNativeToken(web)).toMatchObject({
        providerUserId: 'g-native-1',
        nickname: 'Native',
      });
      const ios = await fake.idToken({ sub: 'g-native-2' }, fake.nativeClientId);
      expect((await google.verifyNativeToken(ios)).providerUserId).toBe('g-native-2');
    });

    it('refuses another audience (wrong_audience) and expired tokens (invalid_token)', async () => {
      const foreign = await fake.idToken({ sub: 'g-x' }, 'another-app.apps.googleusercontent.com');
      await expect(google.verifyNativeToken(foreign)).rejects.toMatchObject({ reason: 'wrong_audience' });
      const expired = await fake.idToken({ sub: 'g-x' }, fake.clientId, {
        iat: nowS() - 7200,
        exp: nowS() - 3600,
      });
      await expect(google.verifyNativeToken(expired)).rejects.toMatchObject({ reason: 'invalid_token' });
    });

    it('refuses tampered, unsigned, HMAC-signed and foreign-key tokens (invalid_token)', async () => {
      const good = await fake.idToken({ sub: 'g-victim' }, fake.clientId);
      const [h, p, sig] = good.split('.');
      const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
      const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'g-admin' })).toString('base64url')}.${sig}`;
      const unsigned = new UnsecuredJWT(claims).encode();
      const hmac = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode('a-guessable-shared-secret-32-bytes!!'));
      const other = await startFakeGoogle();
      try {
        // Same claims, signed by another issuer's key that our JWKS does not hold.
        const foreignKey = await other.idToken({ sub: 'g-victim' }, fake.clientId, { iss: fake.url });
        for (const token of [tampered, unsigned, hmac, foreignKey, 'not.a.jwt', '']) {
          await expect(google.verifyNativeToken(token)).rejects.toMatchObject({ reason: 'invalid_token' });
        }
      } finally {
        await other.close();
      }
    });
  });

  describe('discovery', () => {
    /** A discovery server we control: counts fetches, can fail, can name another issuer. */
    async function discoveryServer(doc: (self: string) => Record<string, unknown>, failFirst = false) {
      let hits = 0;
      let self = '';
      const server = http.createServer((req, res) => {
        hits += 1;
        if (failFirst && hits === 1) return sendJson(res, 503, { error: 'unavailable' });
        sendJson(res, 200, doc(self));
      });
      self = await listenLoopback(server);
      return { url: self, hits: () => hits, close: () => closeServer(server) };
    }
    const docFor = (issuer: string) => ({
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      id_token_signing_alg_values_supported: ['RS256'],
    });
    const providerAt = (issuer: string) =>
      new GoogleProvider({ clientId: 'c', clientSecret: 's', nativeClientIds: [], issuer });
    const params = { state: 's', redirectUri: CALLBACK, codeVerifier: null, nonce: null };

    it('is fetched once and kept; a failed fetch is retried on the next sign-in', async () => {
      const d = await discoveryServer(docFor, true);
      try {
        const provider = providerAt(d.url);
        await expect(provider.authorizationUrl(params)).rejects.toMatchObject({ reason: 'provider_error' });
        await provider.authorizationUrl(params);
        await provider.authorizationUrl(params);
        expect(d.hits()).toBe(2);
      } finally {
        await d.close();
      }
    });

    it('is refused when it names another issuer', async () => {
      const d = await discoveryServer(() => docFor('https://accounts.google.com'));
      try {
        await expect(providerAt(d.url).authorizationUrl(params)).rejects.toMatchObject({
          reason: 'provider_error',
        });
      } finally {
        await d.close();
      }
    });

    it('is refused when it lists only symmetric or no signature algorithms', async () => {
      const d = await discoveryServer((self) => ({
        ...docFor(self),
        id_token_signing_alg_values_supported: ['HS256', 'none'],
      }));
      try {
        await expect(providerAt(d.url).authorizationUrl(params)).rejects.toMatchObject({
          reason: 'provider_error',
        });
      } finally {
        await d.close();
      }
    });
  });
});
