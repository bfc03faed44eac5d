import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createOAuthProviders } from '../../src/infra/oauth/create-providers.js';
import { KakaoProvider } from '../../src/infra/oauth/kakao.js';
import { OAuthError, type OAuthProvider } from '../../src/infra/oauth/oauth.js';
import { codeChallengeS256, generateCodeVerifier, generateState } from '../../src/infra/oauth/pkce.js';
import { startFakeKakao, type FakeKakao } from '../fakes/kakao-server.js';

const CALLBACK = 'http://127.0.0.1:3000/v1/auth/oauth/kakao/callback';
/** Kakao and Google do not take the state back at the token endpoint; the caller has checked it. */
const CHECKED_STATE = 'checked-by-the-caller';

/** The production Kakao adapter against the local fake speaking Kakao's REST protocol. */
describe('KakaoProvider', () => {
  let fake: FakeKakao;
  let kakao: OAuthProvider;
  beforeAll(async () => {
    fake = await startFakeKakao();
    kakao = createOAuthProviders(loadConfig(fake.env)).get('kakao')!;
  });
  afterAll(() => fake.close());

  /** Our authorization URL → the fake's consent → the code and state sent back to our callback. */
  async function signIn(provider = kakao, f = fake, user?: Parameters<FakeKakao['authorize']>[1]) {
    const state = generateState();
    const codeVerifier = generateCodeVerifier();
    const url = await provider.authorizationUrl({ state, redirectUri: CALLBACK, codeVerifier, nonce: null });
    const back = await f.authorize(url.toString(), user);
    expect(back.state).toBe(state);
    expect(back.code).toBeTruthy();
    return { code: back.code!, codeVerifier, url };
  }

  const redeem = (code: string, codeVerifier: string, provider = kakao) =>
    provider.exchangeCode({ state: CHECKED_STATE, code, redirectUri: CALLBACK, codeVerifier, nonce: null });

  it('sends the browser to /oauth/authorize with state and an S256 PKCE challenge, and no nonce', async () => {
    const verifier = generateCodeVerifier();
    const url = await kakao.authorizationUrl({
      state: 'st-1',
      redirectUri: CALLBACK,
      codeVerifier: verifier,
      nonce: null,
    });
    expect(url.origin + url.pathname).toBe(`${fake.url}/oauth/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: fake.clientId,
      redirect_uri: CALLBACK,
      state: 'st-1',
      code_challenge: codeChallengeS256(verifier),
      code_challenge_method: 'S256',
    });
    expect(kakao.supportsPkce).toBe(true);
    expect(kakao.supportsNonce).toBe(false);
  });

  it('redeems a code for the profile, sending the secret, the redirect URI and the verifier', async () => {
    const { code, codeVerifier } = await signIn(kakao, fake, {
      as: {
        id: 4_200_000_001,
        nickname: '라이언',
        email: 'ryan@example.com',
        avatarUrl: 'https://k.kakaocdn.net/r.jpg',
      },
    });
    const profile = await redeem(code, codeVerifier);
    expect(profile).toEqual({
      provider: 'kakao',
      providerUserId: '4200000001',
      nickname: '라이언',
      email: 'ryan@example.com',
      emailVerified: true,
      avatarUrl: 'https://k.kakaocdn.net/r.jpg',
    });
    const form = fake.tokenRequests.at(-1)!;
    expect(form.get('grant_type')).toBe('authorization_code');
    expect(form.get('client_id')).toBe(fake.clientId);
    expect(form.get('client_secret')).toBe(fake.clientSecret);
    expect(form.get('redirect_uri')).toBe(CALLBACK);
    expect(form.get('code_verifier')).toBe(codeVerifier);
  });

  it('treats an unverified e-mail as unverified and Kakao’s default image as no avatar', async () => {
    const { code, codeVerifier } = await signIn(kakao, fake, {
      as: { id: 77, nickname: 'n', email: 'maybe@example.com', emailVerified: false },
    });
    const profile = await redeem(code, codeVerifier);
    expect(profile).toMatchObject({ email: 'maybe@example.com', emailVerified: false, avatarUrl: null });
  });

  it('refuses a code redeemed twice (invalid_grant), without echoing the code', async () => {
    const { code, codeVerifier } = await signIn();
    await redeem(code, codeVerifier);
    const err = await redeem(code, codeVerifier).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthError);
    expect(err).toMatchObject({ reason: 'invalid_grant' });
    expect((err as Error).message).toContain('KOE320');
    expect((err as Error).message).not.toContain(code);
  });

  it('refuses a wrong PKCE verifier (invalid_grant)', async () => {
    const { code } = await signIn();
    await expect(
      kakao.exchangeCode({
        state: CHECKED_STATE,
        code,
        redirectUri: CALLBACK,
        codeVerifier: generateCodeVerifier(),
        nonce: null,
      }),
    ).rejects.toMatchObject({ reason: 'invalid_grant' });
  });

  it('refuses a code older than 10 minutes (invalid_grant)', async () => {
    const { code, codeVerifier } = await signIn();
    fake.advanceTime(10 * 60_000 + 1);
    await expect(redeem(code, codeVerifier)).rejects.toMatchObject({ reason: 'invalid_grant' });
  });

  it('reports a redirect URI mismatch and bad client credentials as provider errors, not bad codes', async () => {
    const first = await signIn();
    await expect(
      kakao.exchangeCode({
        state: CHECKED_STATE,
        code: first.code,
        redirectUri: `${CALLBACK}/other`,
        codeVerifier: first.codeVerifier,
        nonce: null,
      }),
    ).rejects.toMatchObject({ reason: 'provider_error' });
    const wrongSecret: OAuthProvider = new KakaoProvider({
      ...loadConfig(fake.env).oauth.kakao!,
      clientSecret: 'wrong',
    });
    const second = await signIn();
    const err = await wrongSecret
      .exchangeCode({
        state: CHECKED_STATE,
        code: second.code,
        redirectUri: CALLBACK,
        codeVerifier: second.codeVerifier,
        nonce: null,
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'provider_error' });
    expect((err as Error).message).not.toContain('wrong');
  });

  it('works without a client secret when the app has none', async () => {
    const open = await startFakeKakao({ clientSecret: null });
    try {
      const provider = createOAuthProviders(loadConfig(open.env)).get('kakao')!;
      const { code, codeVerifier } = await signIn(provider, open);
      expect((await redeem(code, codeVerifier, provider)).provider).toBe('kakao');
      expect(open.tokenRequests.at(-1)!.has('client_secret')).toBe(false);
    } finally {
      await open.close();
    }
  });

  describe('native-app tokens', () => {
    it('accepts a token issued to our app and returns its profile', async () => {
      const token = fake.issueAccessToken({ id: 9001, nickname: '앱유저' });
      expect(kakao.supportsNativeToken).toBe(true);
      expect(await kakao.verifyNativeToken(token)).toMatchObject({
        provider: 'kakao',
        providerUserId: '9001',
        nickname: '앱유저',
        email: null,
        emailVerified: false,
      });
    });

    it('refuses a token issued to another Kakao app (wrong_audience)', async () => {
      const token = fake.issueAccessToken({ id: 9002, nickname: 'x' }, { appId: '999999' });
      await expect(kakao.verifyNativeToken(token)).rejects.toMatchObject({ reason: 'wrong_audience' });
    });

    it('refuses unknown and expired tokens (invalid_token)', async () => {
      await expect(kakao.verifyNativeToken('not-a-kakao-token')).rejects.toMatchObject({
        reason: 'invalid_token',
      });
      const expired = fake.issueAccessToken({ id: 9003 }, { expiresIn: 0 });
      await expect(kakao.verifyNativeToken(expired)).rejects.toMatchObject({ reason: 'invalid_token' });
    });

    it('refuses every native token when KAKAO_APP_ID is not configured (unsupported)', async () => {
      const { KAKAO_APP_ID: _appId, ...env } = fake.env;
      const provider = createOAuthProviders(loadConfig(env)).get('kakao')!;
      expect(provider.supportsNativeToken).toBe(false);
      await expect(provider.verifyNativeToken(fake.issueAccessToken({ id: 1 }))).rejects.toMatchObject({
        reason: 'unsupported',
      });
    });
  });
});
