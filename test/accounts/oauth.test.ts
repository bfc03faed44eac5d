import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { bearer, signUpWithEmail, trackTokens } from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import type { Json } from '../helpers/http.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google-server.js';
import { startFakeKakao, type FakeKakao } from '../fakes/kakao-server.js';
import { startFakeNaver, type FakeNaver } from '../fakes/naver-server.js';
import { TestBrowser } from '../fakes/oauth-browser.js';

const APP = 'https://app.example.com/auth/done';

interface FlowOptions {
  codeChallenge?: string;
  headers?: Record<string, string>;
  intent?: 'login' | 'link';
  /** The browser the flow runs in (a fresh one by default). */
  browser?: TestBrowser;
}

/**
 * Social login through the production adapters against local fakes speaking each provider's protocol
 * (security.md B4): the whole browser flow, and every way it must fail.
 */
describe('social login', () => {
  let t: TestApp;
  let kakao: FakeKakao;
  let naver: FakeNaver;
  let google: FakeGoogle;
  const clock = new ManualClock();
  beforeAll(async () => {
    [kakao, naver, google] = await Promise.all([startFakeKakao(), startFakeNaver(), startFakeGoogle()]);
    t = await buildTestApp({
      clock,
      env: { ...kakao.env, ...naver.env, ...google.env, OAUTH_REDIRECT_ALLOWLIST: `${APP},myapp://auth` },
    });
  });
  afterAll(async () => {
    await t.close();
    await Promise.all([kakao.close(), naver.close(), google.close()]);
  });

  const fakes = () => ({ kakao, naver, google });

  const newBrowser = () => new TestBrowser(t.config.http.publicUrl);

  /** Our start URL → the provider → our callback, in one browser: returns where we send it back to the app. */
  async function browserFlow(provider: 'kakao' | 'naver' | 'google', opts: FlowOptions = {}) {
    const { authorizationUrl, callback, browser } = await startFlow(provider, opts);
    const res = await browser.inject(t.app, { url: callback.pathname + callback.search });
    return { res, authorizationUrl, callback, browser };
  }

  /** The flow up to the provider's redirect back to our callback, not followed. */
  async function startFlow(provider: 'kakao' | 'naver' | 'google', opts: FlowOptions = {}) {
    const browser = opts.browser ?? newBrowser();
    const start = await browser.inject(t.app, {
      method: 'POST',
      url: `/v1/auth/oauth/${provider}/authorize`,
      headers: opts.headers ?? {},
      payload: {
        intent: opts.intent ?? 'login',
        redirectUri: APP,
        ...(opts.codeChallenge ? { codeChallenge: opts.codeChallenge } : {}),
      },
    });
    expect(start.statusCode, start.body).toBe(200);
    const authorizationUrl = (start.json() as Json).authorizationUrl as string;
    const callback = await fakes()[provider].authorize(authorizationUrl, { browser });
    expect(callback.pathname).toBe(`/v1/auth/oauth/${provider}/callback`);
    return { authorizationUrl, callback, browser };
  }

  async function exchange(appUrl: string, extra: Record<string, string> = {}) {
    const code = new URL(appUrl).searchParams.get('code');
    if (!code) throw new Error(`no code in ${appUrl}`);
    t.secrets.add(code);
    return t.app.inject({ method: 'POST', url: '/v1/auth/exchange', payload: { code, ...extra } });
  }

  it('lists the enabled providers', async () => {
    const res = await t.app.inject({ url: '/v1/auth/oauth/providers' });
    expect((res.json() as Json).items).toEqual([
      { name: 'kakao', nativeToken: true },
      { name: 'naver', nativeToken: false },
      { name: 'google', nativeToken: true },
    ]);
  });

  for (const provider of ['kakao', 'naver', 'google'] as const) {
    it(`${provider}: the first sign-in creates an account for onboarding; the next one finds it`, async () => {
      const id = randomBytes(4).toString('hex');
      if (provider === 'kakao')
        kakao.nextUser = { id: Number.parseInt(id, 16), nickname: '달리는곰', email: `k${id}@example.com` };
      if (provider === 'naver')
        naver.nextUser = { id: `nv-${id}`, nickname: '달리는곰', email: `n${id}@example.com` };
      if (provider === 'google')
        google.nextUser = { sub: `g-${id}`, name: '달리는곰', email: `g${id}@example.com` };
      const { res, authorizationUrl } = await browserFlow(provider);
      const auth = new URL(authorizationUrl);
      expect(auth.searchParams.get('state')).toMatch(/^[\w-]{43}$/);
      if (provider !== 'naver') expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
      if (provider === 'google') expect(auth.searchParams.get('nonce')).toBeTruthy();

      expect(res.statusCode).toBe(302);
      const location = res.headers.location as string;
      expect(location.startsWith(`${APP}?code=`)).toBe(true);
      expect(location).not.toMatch(/token/i);
      const first = await exchange(location);
      expect(first.statusCode).toBe(200);
      const body = first.json() as Json;
      trackTokens(t, body.tokens);
      expect(body.isNewUser).toBe(true);
      expect(body.user.needsOnboarding).toBe(true);
      expect(body.user.nickname).toMatch(/^달리는곰/);
      expect(body.user.email).toBeNull();

      const again = await browserFlow(provider);
      const second = await exchange(again.res.headers.location as string);
      trackTokens(t, (second.json() as Json).tokens);
      expect((second.json() as Json).isNewUser).toBe(false);
      expect((second.json() as Json).user.id).toBe(body.user.id);
      // Same provider nickname again, different person: made unique.
    });
  }

  it('makes a provider nickname unique', async () => {
    kakao.nextUser = { id: 777_001, nickname: '중복닉네임' };
    const a = await exchange((await browserFlow('kakao')).res.headers.location as string);
    kakao.nextUser = { id: 777_002, nickname: '중복닉네임' };
    const b = await exchange((await browserFlow('kakao')).res.headers.location as string);
    trackTokens(t, (a.json() as Json).tokens);
    trackTokens(t, (b.json() as Json).tokens);
    expect((a.json() as Json).user.nickname).not.toBe((b.json() as Json).user.nickname);
  });

  it('never links to an existing account by email', async () => {
    const existing = await signUpWithEmail(t);
    kakao.nextUser = { id: 888_001, nickname: 'samemail', email: existing.email };
    const res = await exchange((await browserFlow('kakao')).res.headers.location as string);
    const body = res.json() as Json;
    trackTokens(t, body.tokens);
    expect(body.isNewUser).toBe(true);
    expect(body.user.id).not.toBe(existing.userId);
  });

  it('refuses a missing, reused, foreign or expired state', async () => {
    const missing = await t.app.inject({ url: '/v1/auth/oauth/kakao/callback?code=abc' });
    expect(missing.statusCode).toBe(400);
    expect((missing.json() as Json).code).toBe('OAUTH_STATE_INVALID');

    const { callback } = await browserFlow('kakao');
    const reused = await t.app.inject({ url: callback.pathname + callback.search });
    expect((reused.json() as Json).code).toBe('OAUTH_STATE_INVALID');

    // A state issued for Kakao, arriving at Naver's callback (mix-up).
    const start = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/oauth/kakao/authorize',
      payload: { intent: 'login', redirectUri: APP },
    });
    const kakaoState = new URL((start.json() as Json).authorizationUrl).searchParams.get('state')!;
    const foreign = await t.app.inject({ url: `/v1/auth/oauth/naver/callback?code=x&state=${kakaoState}` });
    expect((foreign.json() as Json).code).toBe('OAUTH_STATE_INVALID');

    const late = await startFlow('naver');
    clock.advance(11 * 60_000);
    const expired = await late.browser.inject(t.app, {
      url: late.callback.pathname + late.callback.search,
    });
    expect((expired.json() as Json).code).toBe('OAUTH_STATE_INVALID');
    expect(t.logs.entries().some((e) => e.event === 'auth.oauth.failure' && e.reason === 'state')).toBe(true);
  });

  it('refuses a Google ID token with the wrong audience or nonce, and sends the browser back with an error', async () => {
    for (const [claims, reason] of [
      [{ aud: 'someone-else.apps.googleusercontent.com' }, 'wrong_audience'],
      [{ nonce: 'not-the-nonce' }, 'wrong_nonce'],
      [{ exp: Math.floor(Date.now() / 1000) - 3600 }, 'invalid_token'],
    ] as const) {
      google.tamperNext(claims);
      const { res } = await browserFlow('google');
      expect(res.statusCode).toBe(302);
      expect(res.headers.location).toBe(`${APP}?error=oauth_failed`);
      expect(t.logs.entries().some((e) => e.event === 'auth.oauth.failure' && e.reason === reason)).toBe(
        true,
      );
    }
  });

  it('the one-time code works once, within 60 s, and only with the app verifier when the app sent a challenge', async () => {
    const { res } = await browserFlow('naver');
    const location = res.headers.location as string;
    expect((await exchange(location)).statusCode).toBe(200);
    expect((await exchange(location)).statusCode).toBe(401);

    const late = await browserFlow('naver');
    clock.advance(61_000);
    expect((await exchange(late.res.headers.location as string)).statusCode).toBe(401);

    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const pkce = await browserFlow('google', { codeChallenge: challenge });
    const loc = pkce.res.headers.location as string;
    expect((await exchange(loc, { codeVerifier: randomBytes(32).toString('base64url') })).statusCode).toBe(
      401,
    );
    // One wrong verifier spends the code: no second guess, even with the right one.
    expect((await exchange(loc, { codeVerifier: verifier })).statusCode).toBe(401);
    const missing = await browserFlow('kakao', { codeChallenge: challenge });
    expect((await exchange(missing.res.headers.location as string)).statusCode).toBe(401);
    expect(
      t.logs.entries().some((e) => e.event === 'auth.oauth.failure' && e.reason === 'app_code_verifier'),
    ).toBe(true);
    const pkce2 = await browserFlow('google', { codeChallenge: challenge });
    const ok = await exchange(pkce2.res.headers.location as string, { codeVerifier: verifier });
    expect(ok.statusCode).toBe(200);
    trackTokens(t, (ok.json() as Json).tokens);
  });

  it('returns the browser only to allow-listed app URLs', async () => {
    for (const redirectUri of [
      'https://evil.example/cb',
      'https://app.example.com/auth/done.evil.com',
      'https://app.example.com/other',
      'javascript:alert(1)',
    ]) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/auth/oauth/kakao/authorize',
        payload: { intent: 'login', redirectUri },
      });
      expect(res.statusCode, redirectUri).toBe(400);
      expect((res.json() as Json).code).toBe('REDIRECT_NOT_ALLOWED');
    }
    const custom = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/oauth/kakao/authorize',
      payload: { intent: 'login', redirectUri: 'myapp://auth/kakao' },
    });
    expect(custom.statusCode).toBe(200);
    const disabled = await t.app.inject({
      url: `/v1/auth/oauth/facebook/start?redirectUri=${encodeURIComponent(APP)}`,
    });
    expect(disabled.statusCode).toBe(400);
  });

  it('native apps: a Kakao token issued to our app signs in; one from another app does not; Naver tokens are refused', async () => {
    const user = { id: 999_001, nickname: '네이티브' };
    const ours = kakao.issueAccessToken(user);
    const theirs = kakao.issueAccessToken(user, '999999');
    t.secrets.add(ours);
    t.secrets.add(theirs);
    const good = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/oauth/kakao/native',
      payload: { token: ours },
    });
    expect(good.statusCode).toBe(200);
    trackTokens(t, (good.json() as Json).tokens);
    const bad = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/oauth/kakao/native',
      payload: { token: theirs },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json() as Json).toMatchObject({ code: 'OAUTH_FAILED', details: { reason: 'wrong_audience' } });
    const naverNative = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/oauth/naver/native',
      payload: { token: 'some-naver-token' },
    });
    expect(naverNative.statusCode).toBe(400);

    const idToken = await google.idToken({ sub: 'g-native-1', name: 'Native G' }, google.clientId);
    const wrongAud = await google.idToken({ sub: 'g-native-1' }, 'another-client');
    t.secrets.add(idToken);
    t.secrets.add(wrongAud);
    const g = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/oauth/google/native',
      payload: { token: idToken },
    });
    expect(g.statusCode).toBe(200);
    trackTokens(t, (g.json() as Json).tokens);
    const gBad = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/oauth/google/native',
      payload: { token: wrongAud },
    });
    expect((gBad.json() as Json).details.reason).toBe('wrong_audience');
  });

  it('links and unlinks providers, never unlinking the last way to sign in', async () => {
    const a = await signUpWithEmail(t);
    kakao.nextUser = { id: 123_123, nickname: 'linker' };
    const linked = await browserFlow('kakao', { intent: 'link', headers: a.headers });
    expect(linked.res.headers.location).toBe(`${APP}?linked=kakao`);
    const me = (await t.app.inject({ url: '/v1/me', headers: a.headers })).json() as Json;
    expect(me.providers).toEqual(['kakao']);

    // The same Kakao account cannot be linked to a second Moim account.
    const b = await signUpWithEmail(t);
    const taken = await browserFlow('kakao', { intent: 'link', headers: b.headers });
    expect(taken.res.headers.location).toBe(`${APP}?error=identity_in_use`);

    const anonymousLink = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/oauth/kakao/authorize',
      payload: { intent: 'link', redirectUri: APP },
    });
    expect(anonymousLink.statusCode).toBe(401);

    expect(
      (await t.app.inject({ method: 'DELETE', url: '/v1/me/identities/kakao', headers: a.headers }))
        .statusCode,
    ).toBe(204);

    naver.nextUser = { id: 'only-naver-1', nickname: 'naveronly' };
    const socialOnly = await exchange((await browserFlow('naver')).res.headers.location as string);
    const tokens = trackTokens(t, (socialOnly.json() as Json).tokens);
    const last = await t.app.inject({
      method: 'DELETE',
      url: '/v1/me/identities/naver',
      headers: bearer(tokens.accessToken),
    });
    expect(last.statusCode).toBe(409);
    expect((last.json() as Json).code).toBe('LAST_SIGN_IN_METHOD');
  });
  it('binds a started sign-in to its browser: without the cookie, or with another, the callback is refused', async () => {
    const callbackPath = '/v1/auth/oauth/kakao/callback';
    // Sign-in started in the attacker's browser, with their own Kakao account; the finished callback URL handed
    // to a victim (login CSRF) does nothing in the victim's browser, with or without a flow of its own.
    const attacker = await startFlow('kakao');
    const cookie = attacker.browser.cookies.get(
      new URL(`${t.config.http.publicUrl}${callbackPath}`),
      'moim_oauth',
    );
    expect(cookie).toMatch(/^[\w-]{43}$/);
    const victim = newBrowser();
    const bare = await victim.inject(t.app, { url: attacker.callback.pathname + attacker.callback.search });
    expect(bare.statusCode).toBe(400);
    expect((bare.json() as Json).code).toBe('OAUTH_STATE_INVALID');

    const attacker2 = await startFlow('kakao');
    const victim2 = (await startFlow('kakao')).browser;
    const foreign = await victim2.inject(t.app, {
      url: attacker2.callback.pathname + attacker2.callback.search,
    });
    expect((foreign.json() as Json).code).toBe('OAUTH_STATE_INVALID');
    expect(String(foreign.headers['set-cookie'])).toMatch(
      /^moim_oauth=; Path=\/v1\/auth\/oauth\/kakao\/callback; Max-Age=0/,
    );
    expect(t.logs.entries().some((e) => e.event === 'auth.oauth.failure' && e.reason === 'browser')).toBe(
      true,
    );

    // The browser that started it finishes it, from the JSON endpoint and from the redirecting one.
    const own = await browserFlow('kakao');
    expect(own.res.statusCode).toBe(302);
    expect(own.res.headers.location).toMatch(/^https:\/\/app\.example\.com\/auth\/done\?code=/);
    const exchanged = await exchange(own.res.headers.location as string);
    trackTokens(t, (exchanged.json() as Json).tokens);

    const browser = newBrowser();
    const start = await browser.inject(t.app, {
      url: `/v1/auth/oauth/google/start?redirectUri=${encodeURIComponent(APP)}`,
    });
    expect(start.statusCode).toBe(302);
    expect(start.headers['set-cookie']).toMatch(
      /^moim_oauth=[\w-]{43}; Path=\/v1\/auth\/oauth\/google\/callback; Max-Age=600; HttpOnly; SameSite=Lax$/,
    );
    const back = await google.authorize(start.headers.location as string, { browser });
    const done = await browser.inject(t.app, { url: back.pathname + back.search });
    expect(done.headers.location).toMatch(/\?code=/);
    trackTokens(t, ((await exchange(done.headers.location as string)).json() as Json).tokens);
    // Spent: the browser no longer holds a key.
    expect(
      browser.cookies.get(new URL(`${t.config.http.publicUrl}/v1/auth/oauth/google/callback`), 'moim_oauth'),
    ).toBeUndefined();
  });

  it("a link started by one person cannot be finished in another person's browser (link CSRF)", async () => {
    const attacker = await signUpWithEmail(t);
    const victimKakao = { id: 424_242, nickname: 'victim' };
    // The attacker starts linking Kakao to their account and sends the provider URL to the victim, who signs in
    // at Kakao: the callback in the victim's browser is refused, nothing is linked.
    const start = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/oauth/kakao/authorize',
      headers: attacker.headers,
      payload: { intent: 'link', redirectUri: APP },
    });
    expect(start.headers['set-cookie']).toMatch(/^moim_oauth=/);
    const victim = newBrowser();
    const back = await kakao.authorize((start.json() as Json).authorizationUrl, {
      as: victimKakao,
      browser: victim,
    });
    const res = await victim.inject(t.app, { url: back.pathname + back.search });
    expect((res.json() as Json).code).toBe('OAUTH_STATE_INVALID');
    const me = (await t.app.inject({ url: '/v1/me', headers: attacker.headers })).json() as Json;
    expect(me.providers).toEqual([]);
    expect(
      t.logs
        .entries()
        .some(
          (e) => e.event === 'auth.oauth.failure' && e.reason === 'browser' && e.actor === attacker.userId,
        ),
    ).toBe(true);

    // The victim's Kakao account is still free: signing in with it makes the victim's own account.
    kakao.nextUser = victimKakao;
    const own = await exchange((await browserFlow('kakao')).res.headers.location as string);
    const body = own.json() as Json;
    trackTokens(t, body.tokens);
    expect(body.isNewUser).toBe(true);
    expect(body.user.id).not.toBe(attacker.userId);
  });

  for (const provider of ['kakao', 'google', 'naver'] as const) {
    it(`${provider}: a code injected into another flow is refused by the provider (${provider === 'naver' ? 'state' : 'PKCE'})`, async () => {
      // A code meant for one flow (intercepted on its way back) replayed with a flow of the attacker's own: we
      // redeem it with that flow's PKCE verifier (Kakao, Google) or state (Naver), which the provider refuses.
      const victim = await startFlow(provider);
      const attacker = await startFlow(provider);
      const injected = new URL(attacker.callback);
      injected.searchParams.set('code', victim.callback.code!);
      const requests = fakes()[provider].tokenRequests.length;
      const res = await attacker.browser.inject(t.app, { url: injected.pathname + injected.search });
      expect(res.statusCode).toBe(302);
      expect(res.headers.location).toBe(`${APP}?error=oauth_failed`);
      const sent = fakes()[provider].tokenRequests.slice(requests);
      expect(sent.map((f) => f.get('code'))).toEqual([victim.callback.code]);
      if (provider === 'naver') expect(sent[0]!.get('state')).toBe(attacker.callback.state);
      else expect(sent[0]!.get('code_verifier')).toMatch(/^[\w-]{43}$/);
      expect(
        t.logs
          .entries()
          .some(
            (e) =>
              e.event === 'auth.oauth.failure' && e.provider === provider && e.reason === 'invalid_grant',
          ),
      ).toBe(true);
    });
  }

  it('a provider code redeemed twice is refused: replaying the callback, or the code under a new state', async () => {
    for (const provider of ['kakao', 'naver', 'google'] as const) {
      const first = await browserFlow(provider);
      expect(first.res.headers.location, provider).toMatch(/\?code=/);
      trackTokens(t, ((await exchange(first.res.headers.location as string)).json() as Json).tokens);
      const requests = fakes()[provider].tokenRequests.length;
      // The same URL again, in the same browser: the state is spent, the provider is not even asked.
      const replay = await first.browser.inject(t.app, {
        url: first.callback.pathname + first.callback.search,
      });
      expect((replay.json() as Json).code, provider).toBe('OAUTH_STATE_INVALID');
      expect(fakes()[provider].tokenRequests.length).toBe(requests);
      // The used code under a fresh, valid state: the provider refuses it.
      const second = await startFlow(provider);
      const injected = new URL(second.callback);
      injected.searchParams.set('code', first.callback.code!);
      if (provider === 'naver') injected.searchParams.set('state', second.callback.state!);
      const res = await second.browser.inject(t.app, { url: injected.pathname + injected.search });
      expect(res.headers.location, provider).toBe(`${APP}?error=oauth_failed`);
      expect(fakes()[provider].tokenRequests.at(-1)!.get('code')).toBe(first.callback.code);
    }
  });
});

describe('social login behind https', () => {
  let t: TestApp;
  let kakao: FakeKakao;
  beforeAll(async () => {
    kakao = await startFakeKakao();
    t = await buildTestApp({
      env: { ...kakao.env, PUBLIC_URL: 'https://api.example.com', OAUTH_REDIRECT_ALLOWLIST: APP },
    });
  });
  afterAll(async () => {
    await t.close();
    await kakao.close();
  });

  it('marks the browser-binding cookie Secure, and a browser sends it back only over https', async () => {
    const browser = new TestBrowser(t.config.http.publicUrl);
    const start = await browser.inject(t.app, {
      url: `/v1/auth/oauth/kakao/start?redirectUri=${encodeURIComponent(APP)}`,
    });
    expect(start.headers['set-cookie']).toMatch(
      /^moim_oauth=[\w-]{43}; Path=\/v1\/auth\/oauth\/kakao\/callback; Max-Age=600; HttpOnly; SameSite=Lax; Secure$/,
    );
    const back = await kakao.authorize(start.headers.location as string, { browser });
    expect(back.origin).toBe('https://api.example.com');
    expect(browser.cookies.header(new URL(back.pathname, 'http://api.example.com'))).toBeUndefined();
    const done = await browser.inject(t.app, { url: back.pathname + back.search });
    expect(done.headers.location).toMatch(/\?code=/);
  });
});
