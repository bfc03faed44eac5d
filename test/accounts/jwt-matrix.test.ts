import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';
import { sql } from 'drizzle-orm';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_TOKEN_AUDIENCE } from '../../src/modules/accounts/access-tokens.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { bearer, signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import { connectSocket, nextEvent } from '../helpers/sockets.js';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/**
 * RFC 8725 negative matrix (security.md B1): forged and invalid tokens against protected routes and the socket
 * handshake. Every one must be refused.
 */
describe('access token negative matrix', () => {
  let t: TestApp;
  let victim: SignedUp;
  let deleted: SignedUp;
  let jkuHits = 0;
  let jkuServer: http.Server;
  let jkuUrl: string;
  const forged: Record<string, string> = {};

  beforeAll(async () => {
    t = await buildTestApp({ listen: true });
    victim = await signUpWithEmail(t);
    deleted = await signUpWithEmail(t);
    await t.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: deleted.headers,
      payload: { password: deleted.password },
    });

    jkuServer = http.createServer((_req, res) => {
      jkuHits++;
      res.end('{"keys":[]}');
    });
    await new Promise<void>((r) => jkuServer.listen(0, '127.0.0.1', () => r()));
    jkuUrl = `http://127.0.0.1:${(jkuServer.address() as { port: number }).port}/jwks.json`;

    const { jwtPrivateKey, jwtPublicKey, jwtKeyId } = t.infra.keys;
    const iss = t.config.http.publicUrl;
    const now = Math.floor(Date.now() / 1000);
    const good = {
      iss,
      aud: ACCESS_TOKEN_AUDIENCE,
      sub: victim.userId,
      sid: victim.sessionId,
      jti: randomUUID(),
      iat: now,
      exp: now + 600,
    };
    const sign = (claims: object, header: Record<string, unknown> = {}, key = jwtPrivateKey) =>
      new SignJWT(claims as Record<string, unknown>)
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: jwtKeyId, ...header })
        .sign(key);

    const otherKey = generateKeyPairSync('ed25519').privateKey;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicPem = jwtPublicKey.export({ type: 'spki', format: 'pem' }).toString();

    forged['alg none'] = `${b64({ alg: 'none', typ: 'at+jwt', kid: jwtKeyId })}.${b64(good)}.`;
    forged['HS256 with our public key'] = await new SignJWT(good)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: jwtKeyId })
      .sign(new TextEncoder().encode(publicPem));
    forged['another Ed25519 key'] = await sign(good, {}, otherKey);
    forged['RS256 with an embedded jwk'] = await new SignJWT(good)
      .setProtectedHeader({
        alg: 'RS256',
        typ: 'at+jwt',
        kid: jwtKeyId,
        jwk: rsa.publicKey.export({ format: 'jwk' }),
      })
      .sign(rsa.privateKey);
    forged['expired'] = await sign({ ...good, iat: now - 3600, exp: now - 600 });
    forged['not yet valid (nbf)'] = await sign({ ...good, nbf: now + 3600 });
    forged['wrong issuer'] = await sign({ ...good, iss: 'https://evil.example' });
    forged['wrong audience'] = await sign({ ...good, aud: 'moim-admin' });
    forged['wrong typ (plain JWT)'] = await sign(good, { typ: 'JWT' });
    forged['wrong typ (ID token)'] = await sign(good, { typ: 'id_token+jwt' });
    forged['missing sub'] = await sign({ ...good, sub: undefined });
    forged['missing sid'] = await sign({ ...good, sid: undefined });
    forged['sid of another user'] = await sign({ ...good, sid: deleted.sessionId });
    forged['deleted user'] = await sign({ ...good, sub: deleted.userId, sid: deleted.sessionId });
    forged['unknown session'] = await sign({ ...good, sid: randomUUID() });
    forged['issued before tokens-valid-after'] = await sign({ ...good, iat: now - 24 * 3600 });
    forged['kid path traversal'] = await sign(good, { kid: '../../etc/passwd' });
    forged['kid SQL'] = await sign(good, { kid: "x' or '1'='1" });
    forged['jku to a key server'] = await sign(good, { jku: jkuUrl });
    forged['refresh token as access token'] = victim.refreshToken;
    forged['oversized'] = await sign({ ...good, pad: 'x'.repeat(9_000) });
    forged['non-UTF-8 payload'] =
      `${b64({ alg: 'EdDSA', typ: 'at+jwt', kid: jwtKeyId })}.${Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url')}.AAAA`;
    forged['two segments'] = `${b64({ alg: 'EdDSA' })}.${b64(good)}`;
    forged['garbage'] = 'not-a-token';

    // The "issued before tokens-valid-after" case needs the user's cut-off after that iat: as if the victim had
    // changed their password an hour ago (a new account's cut-off is the epoch).
    await t.infra.database.db.execute(
      sql`update users set tokens_valid_after = now() - interval '1 hour' where id = ${victim.userId}`,
    );
    for (const v of Object.values(forged)) t.secrets.add(v);
  });
  afterAll(async () => {
    await new Promise<void>((r) => jkuServer.close(() => r()));
    await t.close();
  });

  const routes = [
    { method: 'GET', url: '/v1/me' },
    { method: 'PATCH', url: '/v1/me', payload: { bio: 'owned' } },
    { method: 'GET', url: '/v1/me/sessions' },
    { method: 'POST', url: '/v1/me/sessions/revoke-others' },
    { method: 'POST', url: '/v1/auth/logout' },
  ] as const;

  it('has at least 15 forged variants, and the genuine token works', async () => {
    expect(Object.keys(forged).length).toBeGreaterThanOrEqual(15);
    const ok = await t.app.inject({ url: '/v1/me', headers: victim.headers });
    expect(ok.statusCode).toBe(200);
  });

  it('refuses every forged token on every protected route with 401', async () => {
    const accepted: string[] = [];
    for (const [name, token] of Object.entries(forged)) {
      for (const route of routes) {
        const res = await t.app.inject({ ...route, headers: bearer(token) });
        if (res.statusCode !== 401)
          accepted.push(`${name} -> ${route.method} ${route.url}: ${res.statusCode}`);
        else expect(res.json().code).toBe('UNAUTHENTICATED');
      }
    }
    expect(accepted).toEqual([]);
    // The victim's real session survived the attempts (no forged logout or revoke went through).
    expect((await t.app.inject({ url: '/v1/me', headers: victim.headers })).statusCode).toBe(200);
  });

  it('refuses every forged token at the socket handshake', async () => {
    const accepted: string[] = [];
    for (const [name, token] of Object.entries(forged)) {
      try {
        const s = await connectSocket(t.url, { token });
        accepted.push(name);
        s.close();
      } catch (err) {
        expect((err as { data?: { code?: string } }).data?.code).toBe('UNAUTHENTICATED');
      }
    }
    expect(accepted).toEqual([]);
    await expect(connectSocket(t.url)).rejects.toMatchObject({ data: { code: 'UNAUTHENTICATED' } });
    const good = await connectSocket(t.url, { token: victim.accessToken });
    good.close();
  });

  it('never fetched the jku URL', () => {
    expect(jkuHits).toBe(0);
  });

  it('malformed Authorization headers answer 401', async () => {
    for (const header of [
      'Basic abc',
      'Bearer',
      `Bearer ${victim.accessToken} extra`,
      `Token ${victim.accessToken}`,
    ]) {
      const res = await t.app.inject({ url: '/v1/me', headers: { authorization: header } });
      expect(res.statusCode, header).toBe(401);
    }
  });
});

describe('socket lifetime follows the access token', () => {
  it('closes a socket whose token expires without renewal', async () => {
    const clock = new ManualClock();
    const t = await buildTestApp({ listen: true, clock, env: { ACCESS_TOKEN_TTL_SECONDS: '60' } });
    try {
      const a = await signUpWithEmail(t);
      // 3 s left when the socket connects: enough for the handshake on a busy machine, before the timer fires.
      clock.advance(57_000);
      const socket = await connectSocket(t.url, { token: a.accessToken });
      const expired = nextEvent<{ reason: string }>(socket, 'auth:expired', 5_000);
      expect(await expired).toEqual({ reason: 'token_expired' });
      socket.close();
    } finally {
      await t.close();
    }
  });
});
