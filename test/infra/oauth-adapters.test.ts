import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createOAuthProviders } from '../../src/infra/oauth/create-providers.js';
import { providerJson } from '../../src/infra/oauth/http.js';
import { OAuthError } from '../../src/infra/oauth/oauth.js';
import {
  codeChallengeS256,
  generateCodeVerifier,
  generateNonce,
  generateState,
} from '../../src/infra/oauth/pkce.js';
import { closeServer, listenLoopback } from '../fakes/oauth-browser.js';
import { startFakeGoogle } from '../fakes/google-server.js';
import { startFakeKakao } from '../fakes/kakao-server.js';
import { startFakeNaver } from '../fakes/naver-server.js';

describe('createOAuthProviders', () => {
  it('offers exactly the providers whose client id is configured', async () => {
    expect([...createOAuthProviders(loadConfig({})).keys()]).toEqual([]);
    const [kakao, naver, google] = await Promise.all([startFakeKakao(), startFakeNaver(), startFakeGoogle()]);
    try {
      expect([...createOAuthProviders(loadConfig({ ...naver.env })).keys()]).toEqual(['naver']);
      const all = createOAuthProviders(loadConfig({ ...kakao.env, ...naver.env, ...google.env }));
      expect([...all.entries()].map(([name, p]) => [name, p.name])).toEqual([
        ['kakao', 'kakao'],
        ['naver', 'naver'],
        ['google', 'google'],
      ]);
    } finally {
      await Promise.all([kakao.close(), naver.close(), google.close()]);
    }
  });
});

describe('PKCE, state and nonce', () => {
  it('derives the S256 challenge of RFC 7636 appendix B', () => {
    expect(codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('makes 256-bit base64url values that do not repeat', () => {
    for (const make of [generateCodeVerifier, generateState, generateNonce]) {
      const values = new Set(Array.from({ length: 200 }, make));
      expect(values.size).toBe(200);
      for (const v of values) {
        expect(v).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(Buffer.from(v, 'base64url')).toHaveLength(32);
      }
    }
  });
});

describe('provider calls', () => {
  let base: string;
  let server: http.Server;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/redirect') {
        res.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' });
        return res.end();
      }
      if (path === '/html') {
        res.writeHead(502, { 'content-type': 'text/html' });
        return res.end('<html>Bad gateway</html>');
      }
      if (path === '/huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ padding: 'x'.repeat(2 * 1024 * 1024) }));
      }
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_grant' }));
    });
    base = await listenLoopback(server);
  });
  afterAll(() => closeServer(server));

  it('returns the JSON body whatever the status', async () => {
    expect(await providerJson(`${base}/error`)).toEqual({ status: 400, body: { error: 'invalid_grant' } });
  });

  it.each([
    ['a redirect', '/redirect'],
    ['an HTML error page', '/html'],
    ['an answer over 1 MiB', '/huge'],
  ])('turns %s into provider_error', async (_what, path) => {
    await expect(providerJson(`${base}${path}?code=secret-code-123`)).rejects.toMatchObject({
      reason: 'provider_error',
    });
  });

  it('turns a provider that is down into provider_error, naming only the host', async () => {
    const down = http.createServer();
    const url = await listenLoopback(down);
    await closeServer(down);
    const err = await providerJson(`${url}/oauth/token?code=secret-code-123`, {
      form: { code: 'secret-code-123' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthError);
    expect(err).toMatchObject({ reason: 'provider_error' });
    expect((err as Error).message).toContain(new URL(url).host);
    expect((err as Error).message).not.toContain('secret-code-123');
  });
});
