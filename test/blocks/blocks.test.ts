import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { createEvent, join } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';
import { emitAck, nextEvent, socketTestApp } from '../helpers/sockets.js';

describe('blocks: no direct messages and no presence between two people once one blocks the other', () => {
  const suite = socketTestApp({ env: { EVENT_CREATE_INTERVAL_SECONDS: '0' } });
  let t: TestApp;
  beforeAll(() => {
    t = suite.t;
  });
  const connect = (who: SignedUp) => suite.connect(who);
  const block = (by: SignedUp, userId: string, method: 'PUT' | 'DELETE' = 'PUT') =>
    t.app.inject({ method, url: `/v1/me/blocks/${userId}`, headers: by.headers });
  const openDirect = (by: SignedUp, userId: string) =>
    t.app.inject({
      method: 'POST',
      url: '/v1/conversations/direct',
      headers: by.headers,
      payload: { userId },
    });

  it('blocks and unblocks idempotently, lists my blocks, refuses myself and unknown people', async () => {
    const [a, b, c] = await Promise.all([signUpWithEmail(t), signUpWithEmail(t), signUpWithEmail(t)]);
    const first = await block(a, b.userId);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ userId: b.userId, blockedAt: expect.any(String) });
    expect((await block(a, b.userId)).json()).toEqual(first.json());
    await block(a, c.userId);
    const list = (await t.app.inject({ url: '/v1/me/blocks', headers: a.headers })).json() as Json;
    expect(list.items.map((i: Json) => i.userId).sort()).toEqual([b.userId, c.userId].sort());
    expect((await t.app.inject({ url: '/v1/me/blocks', headers: b.headers })).json()).toEqual({ items: [] });

    expect((await block(a, c.userId, 'DELETE')).statusCode).toBe(204);
    expect((await block(a, c.userId, 'DELETE')).statusCode).toBe(204);
    const after = (await t.app.inject({ url: '/v1/me/blocks', headers: a.headers })).json() as Json;
    expect(after.items.map((i: Json) => i.userId)).toEqual([b.userId]);

    expect((await block(a, a.userId)).json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await block(a, '00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'PUT', url: `/v1/me/blocks/${b.userId}` })).statusCode).toBe(401);
  });

  it('a blocked person can neither open a direct conversation nor write into an existing one; unblocking restores it', async () => {
    const [blocker, blocked] = await Promise.all([signUpWithEmail(t), signUpWithEmail(t)]);
    const dm = await openDirect(blocked, blocker.userId);
    expect(dm.statusCode).toBe(200);
    const conversationId = (dm.json() as Json).id as string;
    const s = await connect(blocked);
    const before = (await emitAck<Json>(s, 'chat:send', {
      conversationId,
      clientId: 'b-1',
      body: 'hi',
    })) as Json;
    expect(before.ok).toBe(true);

    await block(blocker, blocked.userId);
    const refused = await openDirect(blocked, blocker.userId);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'USER_BLOCKED' });
    // Either way round: the blocker cannot write to them either until they unblock.
    expect((await openDirect(blocker, blocked.userId)).json()).toMatchObject({ code: 'USER_BLOCKED' });

    const ack = (await emitAck<Json>(s, 'chat:send', {
      conversationId,
      clientId: 'b-2',
      body: 'hello?',
    })) as Json;
    expect(ack).toMatchObject({ ok: false, error: { code: 'USER_BLOCKED' } });
    const rest = await t.app.inject({
      method: 'POST',
      url: `/v1/conversations/${conversationId}/messages`,
      headers: blocked.headers,
      payload: { clientId: 'b-3', body: 'hello??' },
    });
    expect([rest.statusCode, (rest.json() as Json).code]).toEqual([403, 'USER_BLOCKED']);
    // A retry of a message stored before the block still answers with that message.
    const retry = (await emitAck<Json>(s, 'chat:send', {
      conversationId,
      clientId: 'b-1',
      body: 'hi',
    })) as Json;
    expect(retry).toMatchObject({ ok: true, data: { duplicate: true } });
    const history = (
      await t.app.inject({ url: `/v1/conversations/${conversationId}/messages`, headers: blocker.headers })
    ).json() as Json;
    expect(history.items.map((m: Json) => m.body)).toEqual(['hi']);

    await block(blocker, blocked.userId, 'DELETE');
    expect((await openDirect(blocked, blocker.userId)).statusCode).toBe(200);
    const again = (await emitAck<Json>(s, 'chat:send', {
      conversationId,
      clientId: 'b-4',
      body: 'ok now',
    })) as Json;
    expect(again.ok).toBe(true);
  });

  it("in a blocked direct conversation nobody can edit or say they are typing; deleting one's own message still works", async () => {
    const [blocker, blocked] = await Promise.all([signUpWithEmail(t), signUpWithEmail(t)]);
    const conversationId = ((await openDirect(blocked, blocker.userId)).json() as Json).id as string;
    const [s, other] = await Promise.all([connect(blocked), connect(blocker)]);
    const sent = (await emitAck<Json>(s, 'chat:send', {
      conversationId,
      clientId: 'e-1',
      body: 'hi',
    })) as Json;
    const messageId = sent.data.message.id as string;
    const message = (method: 'PATCH' | 'DELETE', payload?: Json) =>
      t.app.inject({
        method,
        url: `/v1/conversations/${conversationId}/messages/${messageId}`,
        headers: blocked.headers,
        ...(payload ? { payload } : {}),
      });

    await block(blocker, blocked.userId);
    const edited = await message('PATCH', { body: 'changed my mind' });
    expect([edited.statusCode, (edited.json() as Json).code]).toEqual([403, 'USER_BLOCKED']);
    const heard: Json[] = [];
    other.on('chat:typing', (p: Json) => heard.push(p));
    expect(await emitAck<Json>(s, 'chat:typing', { conversationId })).toMatchObject({
      ok: false,
      error: { code: 'USER_BLOCKED' },
    });
    // The blocker is held to the same: no message, no edit of their own.
    const theirs = (await emitAck<Json>(other, 'chat:send', {
      conversationId,
      clientId: 'e-2',
      body: 'still there?',
    })) as Json;
    expect(theirs).toMatchObject({ ok: false, error: { code: 'USER_BLOCKED' } });
    const deleted = await message('DELETE');
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toMatchObject({ id: messageId, deleted: true });
    await new Promise((r) => setTimeout(r, 200));
    expect(heard).toEqual([]);
  });

  it("a blocked person does not see the blocker's presence, though they share an event", async () => {
    const event = await createEvent(t, { capacity: 10 });
    const [blocker, blocked, friend] = await Promise.all([
      signUpWithEmail(t),
      signUpWithEmail(t),
      signUpWithEmail(t),
    ]);
    for (const p of [blocker, blocked, friend]) await join(t, event.id, p);
    await t.infra.outbox.drain();
    await block(blocker, blocked.userId);

    const [watchBlocked, watchFriend] = await Promise.all([connect(blocked), connect(friend)]);
    const heardByBlocked: Json[] = [];
    watchBlocked.on('presence:changed', (p: Json) => heardByBlocked.push(p));
    const friendHears = new Promise<Json>((resolve) => {
      const on = (p: Json) => {
        if (p.userId === blocker.userId) resolve(p);
      };
      watchFriend.on('presence:changed', on);
    });
    const blockerSocket = await connect(blocker);
    expect(await friendHears).toMatchObject({ userId: blocker.userId, online: true });
    const offline = nextEvent<Json>(watchFriend, 'presence:changed');
    blockerSocket.close();
    expect(await offline).toMatchObject({ userId: blocker.userId, online: false });
    await new Promise((r) => setTimeout(r, 200));
    expect(heardByBlocked.filter((p) => p.userId === blocker.userId)).toEqual([]);

    const read = (viewer: SignedUp) =>
      t.app.inject({ url: `/v1/users/${blocker.userId}/presence`, headers: viewer.headers });
    expect((await read(blocked)).statusCode).toBe(404);
    expect((await read(friend)).statusCode).toBe(200);
    const query = (await emitAck<Json>(watchBlocked, 'presence:query', {
      userIds: [blocker.userId, friend.userId],
    })) as Json;
    expect(query.data.presence.map((p: Json) => p.userId)).toEqual([friend.userId]);

    await block(blocker, blocked.userId, 'DELETE');
    expect((await read(blocked)).statusCode).toBe(200);
  });
});
