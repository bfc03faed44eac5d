import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/database.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { bearer, login, signUpWithEmail, trackTokens } from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import type { Json } from '../helpers/http.js';
import { connectSocket, expectSessionEnded, nextEvent } from '../helpers/sockets.js';

describe('refresh tokens and sessions', () => {
  let t: TestApp;
  const clock = new ManualClock();
  beforeAll(async () => {
    t = await buildTestApp({ clock, listen: true });
  });
  afterAll(() => t.close());

  const refresh = async (refreshToken: string) => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });
    if (res.statusCode === 200) trackTokens(t, res.json());
    return res;
  };
  const me = (accessToken: string) => t.app.inject({ url: '/v1/me', headers: bearer(accessToken) });

  it('rotates on every use: a new refresh token each time, and the old one is spent', async () => {
    const a = await signUpWithEmail(t);
    const first = await refresh(a.refreshToken);
    expect(first.statusCode).toBe(200);
    const r1 = first.json() as Json;
    expect(r1.refreshToken).not.toBe(a.refreshToken);
    expect(r1.sessionId).toBe(a.sessionId);
    expect((await me(r1.accessToken)).statusCode).toBe(200);
    const second = await refresh(r1.refreshToken);
    expect(second.statusCode).toBe(200);
    expect((second.json() as Json).refreshToken).not.toBe(r1.refreshToken);
  });

  it('replaying the immediate parent within 10 s returns the same child, without a new branch', async () => {
    const a = await signUpWithEmail(t);
    const child = (await refresh(a.refreshToken)).json() as Json;
    clock.advance(5_000);
    const replay = await refresh(a.refreshToken);
    expect(replay.statusCode).toBe(200);
    expect((replay.json() as Json).refreshToken).toBe(child.refreshToken);
    const [count] = await queryRows<{ n: number }>(
      t.infra.database.db,
      sql`select count(*)::int as n from refresh_tokens where session_id = ${a.sessionId}`,
    );
    expect(count?.n).toBe(2);
    // The child still works, once.
    expect((await refresh(child.refreshToken)).statusCode).toBe(200);
  });

  it('20 concurrent refreshes with one token yield at most one new token', async () => {
    const a = await signUpWithEmail(t);
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(a.refreshToken)));
    const issued = new Set(
      results.filter((r) => r.statusCode === 200).map((r) => (r.json() as Json).refreshToken as string),
    );
    expect(issued.size).toBeLessThanOrEqual(1);
    expect(results.every((r) => r.statusCode === 200 || r.statusCode === 401)).toBe(true);
  });

  it('reusing a spent token outside the grace revokes the whole family and its session', async () => {
    const a = await signUpWithEmail(t);
    const r1 = (await refresh(a.refreshToken)).json() as Json;
    const r2 = (await refresh(r1.refreshToken)).json() as Json;
    // The grandparent is not the immediate parent of the current token: reuse.
    const reuse = await refresh(a.refreshToken);
    expect(reuse.statusCode).toBe(401);
    expect((reuse.json() as Json).code).toBe('TOKEN_REUSED');
    expect((await refresh(r2.refreshToken)).statusCode).toBe(401);
    expect((await me(r2.accessToken)).statusCode).toBe(401);
    expect(
      t.logs.entries().some((e) => e.event === 'auth.refresh.reuse_detected' && e.actor === a.userId),
    ).toBe(true);
  });

  it('the parent replayed after the grace window also counts as reuse', async () => {
    const a = await signUpWithEmail(t);
    const child = (await refresh(a.refreshToken)).json() as Json;
    clock.advance(11_000);
    expect(((await refresh(a.refreshToken)).json() as Json).code).toBe('TOKEN_REUSED');
    expect((await refresh(child.refreshToken)).statusCode).toBe(401);
  });

  it('expires a session unused for 30 days, and any session 90 days after sign-in', async () => {
    const idle = await signUpWithEmail(t);
    clock.advance(31 * 86_400_000);
    const res = await refresh(idle.refreshToken);
    expect(res.statusCode).toBe(401);
    expect((res.json() as Json).code).toBe('SESSION_EXPIRED');

    const active = await signUpWithEmail(t);
    let token = active.refreshToken;
    for (let day = 0; day < 80; day += 20) {
      clock.advance(20 * 86_400_000);
      const r = await refresh(token);
      expect(r.statusCode, `day ${day + 20}`).toBe(200);
      token = (r.json() as Json).refreshToken;
    }
    clock.advance(11 * 86_400_000);
    expect(((await refresh(token)).json() as Json).code).toBe('SESSION_EXPIRED');
  });

  it('lists my sessions, revokes one, revokes the others, and logs out; each takes effect on the next request', async () => {
    const a = await signUpWithEmail(t);
    const b = await login(t, a.email, a.password);
    const c = await login(t, a.email, a.password);
    const list = await t.app.inject({ url: '/v1/me/sessions', headers: a.headers });
    const items = (list.json() as Json).items as Json[];
    expect(items).toHaveLength(3);
    expect(items.filter((s) => s.current).map((s) => s.id)).toEqual([a.sessionId]);

    const revokeB = await t.app.inject({
      method: 'DELETE',
      url: `/v1/me/sessions/${b.sessionId}`,
      headers: a.headers,
    });
    expect(revokeB.statusCode).toBe(204);
    expect((await me(b.accessToken)).statusCode).toBe(401);
    expect((await refresh(b.refreshToken)).statusCode).toBe(401);

    const others = await t.app.inject({
      method: 'POST',
      url: '/v1/me/sessions/revoke-others',
      headers: a.headers,
    });
    expect(others.json()).toEqual({ revoked: 1 });
    expect((await me(c.accessToken)).statusCode).toBe(401);
    expect((await me(a.accessToken)).statusCode).toBe(200);

    const out = await t.app.inject({ method: 'POST', url: '/v1/auth/logout', headers: a.headers });
    expect(out.statusCode).toBe(204);
    expect((await me(a.accessToken)).statusCode).toBe(401);
  });

  it("cannot revoke someone else's session (it is not found)", async () => {
    const a = await signUpWithEmail(t);
    const b = await signUpWithEmail(t);
    const res = await t.app.inject({
      method: 'DELETE',
      url: `/v1/me/sessions/${b.sessionId}`,
      headers: a.headers,
    });
    expect(res.statusCode).toBe(404);
    expect((await me(b.accessToken)).statusCode).toBe(200);
  });

  it('disconnects the sockets of a revoked session within 5 s', async () => {
    const a = await signUpWithEmail(t);
    const other = await login(t, a.email, a.password);
    const socket = await connectSocket(t.url, { token: other.accessToken });
    const expired = nextEvent<{ reason: string }>(socket, 'auth:expired', 5_000);
    const gone = new Promise<number>((resolve) => socket.once('disconnect', () => resolve(Date.now())));
    const started = Date.now();
    await t.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${other.sessionId}`, headers: a.headers });
    expect(await expired).toEqual({ reason: 'session_ended' });
    expect((await gone) - started).toBeLessThan(5_000);
    socket.close();
  });

  it('disconnects the sockets of a session whose refresh token is reused, within 5 s', async () => {
    const a = await signUpWithEmail(t);
    const socket = await connectSocket(t.url, { token: a.accessToken });
    const r1 = (await refresh(a.refreshToken)).json() as Json;
    await refresh(r1.refreshToken);
    const ended = await expectSessionEnded(socket, async () => {
      expect(((await refresh(a.refreshToken)).json() as Json).code).toBe('TOKEN_REUSED');
    });
    expect(ended).toEqual({ reason: 'session_ended' });
    socket.close();
  });

  it('closes a socket when its access token expires unrenewed; renewing takes a token of its own session only', async () => {
    const a = await signUpWithEmail(t);
    // The token has 3 s left when the socket connects: the socket goes when it runs out.
    clock.advance(t.config.auth.accessTokenTtlSeconds * 1000 - 3_000);
    const expiring = await connectSocket(t.url, { token: a.accessToken });
    const closed = new Promise<void>((resolve) => expiring.once('disconnect', () => resolve()));
    expect(await nextEvent(expiring, 'auth:expired', 5_000)).toEqual({ reason: 'token_expired' });
    await closed;
    expiring.close();

    const b = await signUpWithEmail(t);
    const socket = await connectSocket(t.url, { token: b.accessToken });
    const fresh = await refresh(b.refreshToken);
    const renewed = await socket
      .timeout(5_000)
      .emitWithAck('auth:renew', { token: (fresh.json() as Json).accessToken });
    expect(renewed).toMatchObject({ ok: true, data: { expiresAt: expect.any(String) } });
    const foreign = await signUpWithEmail(t);
    const wrong = await socket.timeout(5_000).emitWithAck('auth:renew', { token: foreign.accessToken });
    expect(wrong).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    socket.close();
  });

  it('lists only live sessions: not those idle for 30 days', async () => {
    const a = await signUpWithEmail(t);
    const idle = await login(t, a.email, a.password);
    clock.advance(29 * 86_400_000);
    const renewed = (await refresh(a.refreshToken)).json() as Json;
    clock.advance(2 * 86_400_000);
    // Access tokens last minutes: a fresh one to ask with.
    const kept = (await refresh(renewed.refreshToken)).json() as Json;
    const list = await t.app.inject({ url: '/v1/me/sessions', headers: bearer(kept.accessToken) });
    const ids = ((list.json() as Json).items as Json[]).map((s) => s.id as string);
    expect(ids).toEqual([a.sessionId]);
    expect(ids).not.toContain(idle.sessionId);
    // And it cannot be "revoked" any more: it is already gone.
    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/v1/me/sessions/${idle.sessionId}`,
      headers: bearer(kept.accessToken),
    });
    expect(revoke.statusCode).toBe(404);
  });
});

describe('a node whose clock runs behind the database', () => {
  it("accepts the tokens it issues at sign-up: a new account's tokens are valid from the epoch, not from the database's now()", async () => {
    const behind = new ManualClock();
    behind.advance(-5_000);
    const t = await buildTestApp({ clock: behind });
    try {
      const who = await signUpWithEmail(t);
      const me = await t.app.inject({ url: '/v1/me', headers: who.headers });
      expect(me.statusCode).toBe(200);
      const [row] = await queryRows<{ at: string }>(
        t.infra.database.db,
        sql`select extract(epoch from tokens_valid_after)::text as at from users where id = ${who.userId}`,
      );
      expect(Number(row!.at)).toBe(0);
    } finally {
      await t.close();
    }
  });
});
