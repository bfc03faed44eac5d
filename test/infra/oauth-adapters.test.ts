import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createOAuthProviders } from '../../src/infra/oauth/create-providers.js';
import type { OAuthProvider } from '../../src/infra/oauth/oauth.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google-server.js';
import { startFakeKakao, type FakeKakao } from '../fakes/kakao-server.js';
import { startFakeNaver, type FakeNaver } from '../fakes/naver-server.js';

const CALLBACK = 'http://127.0.0.1:3000/v1/auth/oauth/x/callback';

/** The production adapters against the fakes, below the HTTP layer: what each provider refuses. */
describe('OAuth provider adapters', () => {
  let kakao: FakeKakao;
  let naver: FakeNaver;
  let google: FakeGoogle;
  let providers: Map<string, OAuthProvider>;
  beforeAll(async () => {
    [kakao, naver, google] = await Promise.all([startFakeKakao(), startFakeNaver(), startFakeGoogle()]);
    providers = createOAuthProviders(loadConfig({ ...kakao.env, ...naver.env, ...google.env }));
  });
  afterAll(() => Promise.all([kakao.close(), naver.close(), google.close()]));

  async function codeFor(name: 'kakao' | 'naver' | 'google', verifier: string | null, nonce: string | null) {
    const provider = providers.get(name)!;
    const url = await provider.authorizationUrl({
      state: 's',
      redirectUri: CALLBACK,
      codeVerifier: verifier,
      nonce,
    });
    const back = await { kakao, naver, google }[name].authorize(url.toString());
    expect(back.searchParams.get('state')).toBe('s');
    return back.searchParams.get('code')!;
  }

  for (const name of ['kakao', 'naver', 'google'] as const) {
    it(`${name}: a code redeemed twice is refused (invalid_grant)`, async () => {
      const provider = providers.get(name)!;
      const verifier = provider.supportsPkce ? randomBytes(32).toString('base64url') : null;
      const nonce = provider.supportsNonce ? 'n-1' : null;
      const code = await codeFor(name, verifier, nonce);
      const params = { code, redirectUri: CALLBACK, codeVerifier: verifier, nonce };
      const profile = await provider.exchangeCode(params);
      expect(profile.provider).toBe(name);
      expect(profile.providerUserId).toBeTruthy();
      await expect(provider.exchangeCode(params)).rejects.toMatchObject({ reason: 'invalid_grant' });
    });
  }

  for (const name of ['kakao', 'google'] as const) {
    it(`${name}: a wrong PKCE verifier is refused (invalid_grant)`, async () => {
      const provider = providers.get(name)!;
      const nonce = provider.supportsNonce ? 'n-2' : null;
      const code = await codeFor(name, randomBytes(32).toString('base64url'), nonce);
      await expect(
        provider.exchangeCode({
          code,
          redirectUri: CALLBACK,
          codeVerifier: randomBytes(32).toString('base64url'),
          nonce,
        }),
      ).rejects.toMatchObject({ reason: 'invalid_grant' });
    });
  }

  it('kakao: a native token for another app is wrong_audience; naver native tokens are unsupported', async () => {
    const kakaoProvider = providers.get('kakao')!;
    await expect(
      kakaoProvider.verifyNativeToken(kakao.issueAccessToken({ id: 5 }, '42')),
    ).rejects.toMatchObject({
      reason: 'wrong_audience',
    });
    await expect(kakaoProvider.verifyNativeToken('no-such-token')).rejects.toMatchObject({
      reason: 'invalid_token',
    });
    await expect(providers.get('naver')!.verifyNativeToken('x')).rejects.toMatchObject({
      reason: 'unsupported',
    });
  });

  it('google: expired, foreign-audience and tampered ID tokens are refused', async () => {
    const g = providers.get('google')!;
    const expired = await google.idToken({ sub: 'x' }, google.clientId, {
      exp: Math.floor(Date.now() / 1000) - 10,
    });
    await expect(g.verifyNativeToken(expired)).rejects.toMatchObject({ reason: 'invalid_token' });
    const foreign = await google.idToken({ sub: 'x' }, 'other-client');
    await expect(g.verifyNativeToken(foreign)).rejects.toMatchObject({ reason: 'wrong_audience' });
    const good = await google.idToken({ sub: 'x' }, google.clientId);
    const [h, p, s] = good.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'admin' })).toString('base64url')}.${s}`;
    await expect(g.verifyNativeToken(tampered)).rejects.toMatchObject({ reason: 'invalid_token' });
    expect((await g.verifyNativeToken(good)).providerUserId).toBe('x');
  });
});
