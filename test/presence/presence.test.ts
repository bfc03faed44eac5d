import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userPresence } from '../../src/modules/presence/presence.schema.js';
import { buildTestApp, servicesMode, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { createEvent, join } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';
import { connectSocket, emitAck, type TestSocket } from '../helpers/sockets.js';

describe('presence: online, last seen, only for people who share a group or event', () => {
  let t: TestApp;
  const open: TestSocket[] = [];
  beforeAll(async () => {
    t = await buildTestApp({ listen: true, env: { EVENT_CREATE_INTERVAL_SECONDS: '0' } });
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await t.close();
  });

  const connect = async (who: SignedUp, app = t) => {
    const s = await connectSocket(app.url, { token: who.accessToken });
    open.push(s);
    return s;
  };
  const presenceOf = (viewer: SignedUp, userId: string, app = t) =>
    app.app.inject({ url: `/v1/users/${userId}/presence`, headers: viewer.headers });
  /** The next presence change about `userId` (a socket may also hear about its own person). */
  const changeAbout = (s: TestSocket, userId: string) =>
    new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no presence change about ${userId}`)), 5_000);
      const on = (p: Json) => {
        if (p.userId !== userId) return;
        clearTimeout(timer);
        s.off('presence:changed', on);
        resolve(p);
      };
      s.on('presence:changed', on);
    });
  const closed = (s: TestSocket) =>
    new Promise<void>((resolve) => {
      s.once('disconnect', () => resolve());
      s.close();
    });

  async function pair() {
    const event = await createEvent(t, { capacity: 10 });
    const friend = await signUpWithEmail(t);
    await join(t, event.id, friend);
    await t.infra.outbox.drain();
    return { host: event.host, friend, eventId: event.id };
  }

  it('announces coming online and going offline to people sharing an event, across several devices', async () => {
    const { host, friend } = await pair();
    const watcher = await connect(host);
    const online = changeAbout(watcher, friend.userId);
    const phone = await connect(friend);
    expect(await online).toMatchObject({ userId: friend.userId, online: true });
    expect((await presenceOf(host, friend.userId)).json()).toMatchObject({
      userId: friend.userId,
      online: true,
    });

    // A second device, then the first closes: still online.
    const laptop = await connect(friend);
    await closed(phone);
    await new Promise((r) => setTimeout(r, 200));
    expect(((await presenceOf(host, friend.userId)).json() as Json).online).toBe(true);

    const offline = changeAbout(watcher, friend.userId);
    await closed(laptop);
    const change = await offline;
    expect(change).toMatchObject({ userId: friend.userId, online: false, lastSeenAt: expect.any(String) });
    const after = (await presenceOf(host, friend.userId)).json() as Json;
    expect(after).toMatchObject({ online: false, lastSeenAt: change.lastSeenAt });
  });

  it('shows nothing to people who share nothing', async () => {
    const { friend } = await pair();
    const stranger = await signUpWithEmail(t);
    const strangerSocket = await connect(stranger);
    const heard: Json[] = [];
    strangerSocket.on('presence:changed', (p: Json) => heard.push(p));
    await connect(friend);
    expect((await presenceOf(stranger, friend.userId)).statusCode).toBe(404);
    const query = (await emitAck<Json>(strangerSocket, 'presence:query', {
      userIds: [friend.userId],
    })) as Json;
    expect(query).toEqual({ ok: true, data: { presence: [] } });
    await new Promise((r) => setTimeout(r, 200));
    expect(heard).toEqual([]);
  });

  it("lists a conversation's members with who is online", async () => {
    const { host, friend, eventId } = await pair();
    await connect(friend);
    const conversationId = (
      (
        await t.app.inject({ url: `/v1/events/${eventId}/conversation`, headers: host.headers })
      ).json() as Json
    ).id as string;
    const list = (
      await t.app.inject({ url: `/v1/conversations/${conversationId}/presence`, headers: host.headers })
    ).json() as Json;
    const byUser = Object.fromEntries((list.items as Json[]).map((p) => [p.userId, p.online]));
    expect(byUser).toEqual({ [host.userId]: false, [friend.userId]: true });
  });

  it("a heartbeat refreshes every socket of the node in one pass and moves each person's last seen forward", async () => {
    const { host, friend } = await pair();
    await connect(host);
    await connect(friend);
    await connect(friend);
    const lastSeen = async () => {
      const rows = await t.infra.database.db
        .select()
        .from(userPresence)
        .where(inArray(userPresence.userId, [host.userId, friend.userId]));
      return Object.fromEntries(rows.map((r) => [r.userId, r.lastSeenAt.getTime()]));
    };
    // Each connect writes a last-seen time shortly after the client sees `connect`.
    await expect.poll(async () => Object.keys(await lastSeen()).length).toBe(2);
    const before = await lastSeen();
    await new Promise((r) => setTimeout(r, 20));
    await t.app.modules.presence.service.heartbeat();
    const after = await lastSeen();
    for (const who of [host, friend]) {
      expect(after[who.userId]).toBeGreaterThan(before[who.userId]!);
      expect(((await presenceOf(host, who.userId)).json() as Json).online).toBe(true);
    }
  });

  it.runIf(servicesMode)('is the same on every node (Redis)', async () => {
    const other = await buildTestApp({ listen: true, sameDeploymentAs: t });
    try {
      const { host, friend } = await pair();
      await connect(friend, other);
      expect(((await presenceOf(host, friend.userId)).json() as Json).online).toBe(true);
    } finally {
      await other.close();
    }
  });
});
