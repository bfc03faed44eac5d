import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createOAuthProviders } from '../../src/infra/oauth/create-providers.js';
import { NaverProvider } from '../../src/infra/oauth/naver.js';
import type { OAuthProvider } from '../../src/infra/oauth/oauth.js';
import { generateState } from '../../src/infra/oauth/pkce.js';
import { startFakeNaver, type FakeNaver, type FakeNaverUser } from '../fakes/naver-server.js';

const CALLBACK = 'http://127.0.0.1:3000/v1/auth/oauth/naver/callback';

/** The production Naver adapter against the local fake speaking Naver's protocol. */
describe('NaverProvider', () => {
  let fake: FakeNaver;
  let naver: OAuthProvider;
  beforeAll(async () => {
    fake = await startFakeNaver();
    naver = createOAuthProviders(loadConfig(fake.env)).get('naver')!;
  });
  afterAll(() => fake.close());

  async function signIn(as?: FakeNaverUser) {
    const state = generateState();
    const url = await naver.authorizationUrl({
      state,
      redirectUri: CALLBACK,
      codeVerifier: null,
      nonce: null,
    });
    const back = await fake.authorize(url.toString(), as ? { as } : {});
    expect(back.state).toBe(state);
    return { code: back.code!, state };
  }
  const exchange = ({ code, state }: { code: string; state: string }) =>
    naver.exchangeCode({ code, state, redirectUri: CALLBACK, codeVerifier: null, nonce: null });

  it('sends the browser to /oauth2.0/authorize with state only (Naver has no PKCE and no nonce)', async () => {
    const url = await naver.authorizationUrl({
      state: 'st-n',
      redirectUri: CALLBACK,
      codeVerifier: null,
      nonce: null,
    });
    expect(url.origin + url.pathname).toBe(`${fake.url}/oauth2.0/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: fake.clientId,
      redirect_uri: CALLBACK,
      state: 'st-n',
    });
    expect([naver.supportsPkce, naver.supportsNonce, naver.supportsNativeToken]).toEqual([
      false,
      false,
      false,
    ]);
  });

  it('redeems a code for the profile; the address is never taken as verified', async () => {
    const flow = await signIn({
      id: 'nv-32-abc',
      nickname: '네이버곰',
      name: '김철수',
      email: 'bear@naver.com',
      profileImage: 'https://phinf.pstatic.net/b.png',
    });
    expect(await exchange(flow)).toEqual({
      provider: 'naver',
      providerUserId: 'nv-32-abc',
      nickname: '네이버곰',
      email: 'bear@naver.com',
      emailVerified: false,
      avatarUrl: 'https://phinf.pstatic.net/b.png',
    });
    const sent = fake.tokenRequests.at(-1)!;
    expect(sent.get('client_secret')).toBe(fake.clientSecret);
    expect(sent.get('code')).toBe(flow.code);
    expect(sent.get('state')).toBe(flow.state);
  });

  it('never uses the legal name as a nickname', async () => {
    expect((await exchange(await signIn({ id: 'nv-no-nick', name: '김철수' }))).nickname).toBeNull();
  });

  it('reads Naver’s HTTP 200 error answer: a code redeemed twice or too late is invalid_grant', async () => {
    const flow = await signIn();
    await exchange(flow);
    await expect(exchange(flow)).rejects.toMatchObject({ reason: 'invalid_grant' });
    const late = await signIn();
    fake.advanceTime(10 * 60_000 + 1);
    await expect(exchange(late)).rejects.toMatchObject({ reason: 'invalid_grant' });
  });

  it('reports wrong client credentials as a provider error', async () => {
    const wrong = new NaverProvider({ ...loadConfig(fake.env).oauth.naver!, clientSecret: 'nope' });
    const { code, state } = await signIn();
    await expect(wrong.exchangeCode({ code, state, redirectUri: CALLBACK })).rejects.toMatchObject({
      reason: 'provider_error',
    });
  });

  it('sends the callback state to the token endpoint, which refuses a code without it or with another', async () => {
    const direct = new NaverProvider(loadConfig(fake.env).oauth.naver!);
    const forged = await signIn();
    await expect(
      direct.exchangeCode({ code: forged.code, redirectUri: CALLBACK, state: 'forged' }),
    ).rejects.toMatchObject({ reason: 'invalid_grant' });
    const missing = await signIn();
    await expect(
      direct.exchangeCode({ code: missing.code, redirectUri: CALLBACK, state: '' }),
    ).rejects.toMatchObject({ reason: 'invalid_grant' });
    const again = await signIn();
    expect(
      (await direct.exchangeCode({ code: again.code, redirectUri: CALLBACK, state: again.state })).provider,
    ).toBe('naver');
    expect(fake.tokenRequests.at(-1)!.get('state')).toBe(again.state);
  });

  it('refuses native-app tokens, even a genuine one (unsupported: not bindable to our client id)', async () => {
    const genuine = fake.issueAccessToken({ id: 'nv-app-user' });
    await expect(naver.verifyNativeToken(genuine)).rejects.toMatchObject({ reason: 'unsupported' });
  });
});
