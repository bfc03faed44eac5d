import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { createEvent, getEvent, join, outboxEvents } from '../helpers/events.js';
import { createGroup, joinGroup, withMembers } from '../helpers/groups.js';
import type { Json } from '../helpers/http.js';
import { connectSocket, emitAck, type TestSocket } from '../helpers/sockets.js';

describe('groups with events, chat, presence and account deletion', () => {
  let t: TestApp;
  const sockets: TestSocket[] = [];
  beforeAll(async () => {
    t = await buildTestApp({ listen: true, env: { EVENT_CREATE_INTERVAL_SECONDS: '0' } });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t.close();
  });

  const settle = () => t.infra.outbox.drain();
  const connect = async (who: SignedUp) => {
    const s = await connectSocket(t.url, { token: who.accessToken });
    sockets.push(s);
    return s;
  };
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, who: SignedUp, payload?: unknown) =>
    t.app.inject({ method, url: `/v1${url}`, headers: who.headers, ...(payload ? { payload } : {}) });
  const conversationOf = (groupId: string, who: SignedUp) =>
    call('GET', `/groups/${groupId}/conversation`, who);
  const record = (s: TestSocket, event: string) => {
    const got: Json[] = [];
    s.on(event, (p: Json) => got.push(p));
    return got;
  };

  describe('events', () => {
    it('events of a private group are always private, on creation and on edit', async () => {
      const group = await createGroup(t, { visibility: 'private' });
      const [member] = await Promise.all([signUpWithEmail(t)]);
      const link = (await call('POST', `/groups/${group.id}/invite-links`, group.owner)).json() as Json;
      await call('POST', '/group-invite-links/join', member!, { token: link.token });

      const refused = await call('POST', '/events', member!, {
        groupId: group.id,
        visibility: 'public',
        title: 'Family dinner',
        startsAt: new Date(Date.now() + 86_400_000).toISOString(),
        endsAt: new Date(Date.now() + 90_000_000).toISOString(),
      });
      expect(refused.statusCode).toBe(400);
      expect((refused.json() as Json).code).toBe('VISIBILITY_NOT_ALLOWED');
      const event = await createEvent(t, { groupId: group.id, title: 'Family dinner' }, member);
      expect(event.body.visibility).toBe('private');
      const edit = await call('PATCH', `/events/${event.id}`, member!, { visibility: 'public' });
      expect((edit.json() as Json).code).toBe('VISIBILITY_NOT_ALLOWED');

      const stranger = await signUpWithEmail(t);
      expect((await getEvent(t, event.id, stranger)).statusCode).toBe(404);
      expect((await getEvent(t, event.id, group.owner)).statusCode).toBe(200);
      // Outsiders cannot put events in the group; members of a public group can.
      const outsider = await call('POST', '/events', stranger, {
        groupId: group.id,
        title: 'Crash the party',
        startsAt: new Date(Date.now() + 86_400_000).toISOString(),
        endsAt: new Date(Date.now() + 90_000_000).toISOString(),
      });
      expect(outsider.statusCode).toBe(404);
    });

    it('a group turning private takes its public events private', async () => {
      const group = await createGroup(t);
      const event = await createEvent(t, { groupId: group.id }, group.owner);
      expect(event.body.visibility).toBe('public');
      const stranger = await signUpWithEmail(t);
      expect((await getEvent(t, event.id, stranger)).statusCode).toBe(200);
      await call('PATCH', `/groups/${group.id}`, group.owner, { visibility: 'private' });
      await settle();
      expect((await getEvent(t, event.id, stranger)).statusCode).toBe(404);
      expect(((await getEvent(t, event.id, group.owner)).json() as Json).visibility).toBe('private');
    });

    it('members create events in their group; the group’s owner and admins may edit and cancel them, members not', async () => {
      const group = await createGroup(t);
      const [host, admin, other] = await withMembers(t, group.id, 3);
      await call('PATCH', `/groups/${group.id}/members/${admin!.userId}`, group.owner, { role: 'admin' });
      const nonMember = await signUpWithEmail(t);
      const refused = await call('POST', '/events', nonMember, {
        groupId: group.id,
        title: 'Not mine',
        startsAt: new Date(Date.now() + 86_400_000).toISOString(),
        endsAt: new Date(Date.now() + 90_000_000).toISOString(),
      });
      expect((refused.json() as Json).code).toBe('NOT_A_MEMBER');
      const event = await createEvent(t, { groupId: group.id }, host);
      expect((await call('PATCH', `/events/${event.id}`, other!, { title: 'Hijacked' })).statusCode).toBe(
        403,
      );
      expect(
        (await call('PATCH', `/events/${event.id}`, admin!, { title: 'Moved indoors' })).json(),
      ).toMatchObject({
        title: 'Moved indoors',
      });
      expect((await call('DELETE', `/events/${event.id}`, group.owner)).statusCode).toBe(204);
      // A standalone event stays the host's alone.
      const solo = await createEvent(t, {}, host);
      expect((await call('PATCH', `/events/${solo.id}`, group.owner, { title: 'Nope' })).statusCode).toBe(
        403,
      );
    });

    it('deleting a group cancels its upcoming events', async () => {
      const group = await createGroup(t);
      const [member] = await withMembers(t, group.id, 1);
      const event = await createEvent(t, { groupId: group.id }, member);
      await call('DELETE', `/groups/${group.id}`, group.owner);
      await settle();
      expect(((await getEvent(t, event.id, member)).json() as Json).status).toBe('cancelled');
    });

    it('leaving, kicked or banned: their places in the group’s private events go, their hosted events are cancelled', async () => {
      const group = await createGroup(t, { visibility: 'private', joinPolicy: 'open' });
      const link = (await call('POST', `/groups/${group.id}/invite-links`, group.owner)).json() as Json;
      const people = await Promise.all([signUpWithEmail(t), signUpWithEmail(t), signUpWithEmail(t)]);
      for (const p of people) await call('POST', '/group-invite-links/join', p, { token: link.token });
      const [leaver, kicked, banned] = people;
      const event = await createEvent(t, { groupId: group.id, capacity: 10 }, group.owner);
      for (const p of people) expect((await join(t, event.id, p)).statusCode).toBe(200);
      const hosted = await createEvent(t, { groupId: group.id, title: 'Kicked one hosts' }, kicked);

      await call('POST', `/groups/${group.id}/leave`, leaver!);
      await call('DELETE', `/groups/${group.id}/members/${kicked!.userId}`, group.owner);
      await call('POST', `/groups/${group.id}/bans`, group.owner, { userId: banned!.userId });
      await settle();
      const detail = (await getEvent(t, event.id, group.owner)).json() as Json;
      expect(detail.goingCount).toBe(1);
      for (const p of people) expect((await getEvent(t, event.id, p)).statusCode).toBe(404);
      expect(((await getEvent(t, hosted.id, group.owner)).json() as Json).status).toBe('cancelled');
    });
    it('banned from a public group: out of all its events, public ones included, and kept out until unbanned; a removed member keeps its public events', async () => {
      const group = await createGroup(t, { joinPolicy: 'open' });
      const [member, removed] = await withMembers(t, group.id, 2);
      const [outsider, invitee, queued] = await Promise.all([
        signUpWithEmail(t),
        signUpWithEmail(t),
        signUpWithEmail(t),
      ]);
      const event = await createEvent(t, { groupId: group.id, capacity: 4 }, group.owner);
      expect(((await getEvent(t, event.id)).json() as Json).visibility).toBe('public');
      // The outsider never joined the group: anyone may join a public event.
      for (const p of [member!, removed!, outsider])
        expect((await join(t, event.id, p)).statusCode).toBe(200);
      expect(((await join(t, event.id, queued)).json() as Json).status).toBe('waitlisted');
      const invite = (userId: string) =>
        call('POST', `/events/${event.id}/invitations`, group.owner, { userId });
      expect((await invite(invitee.userId)).statusCode).toBe(201);

      await call('DELETE', `/groups/${group.id}/members/${removed!.userId}`, group.owner);
      for (const p of [member!, outsider, invitee]) {
        expect(
          (await call('POST', `/groups/${group.id}/bans`, group.owner, { userId: p.userId })).statusCode,
        ).toBe(204);
      }
      await settle();

      const status = async (p: SignedUp) => ((await getEvent(t, event.id, p)).json() as Json).viewer.status;
      // The removed member keeps a public event; the banned gave up their places and the waitlist moved up.
      expect(await status(removed!)).toBe('going');
      expect(await status(member!)).toBe('cancelled');
      expect(await status(outsider)).toBe('cancelled');
      expect(await status(queued)).toBe('going');
      const invitations = (await call('GET', '/me/event-invitations', invitee)).json() as Json;
      expect(invitations.items).toEqual([]);
      const told = (await outboxEvents(t, event.id))
        .filter((e) => ['event.left', 'event.invitation_cancelled'].includes(e.topic))
        .map((e) => ({
          topic: e.topic,
          userId: e.payload.userId ?? e.payload.inviteeId,
          reason: e.payload.reason,
        }));
      expect(told).toEqual(
        expect.arrayContaining([
          { topic: 'event.left', userId: member!.userId, reason: 'banned_from_group' },
          { topic: 'event.left', userId: outsider.userId, reason: 'banned_from_group' },
          { topic: 'event.invitation_cancelled', userId: invitee.userId, reason: 'banned_from_group' },
        ]),
      );
      expect(told).toHaveLength(3);

      // Kept out: no joining, applying or invitation while banned; the event itself stays public.
      const refused = [
        await join(t, event.id, member!),
        await join(t, event.id, outsider),
        await invite(outsider.userId),
        await invite(invitee.userId),
      ];
      for (const res of refused) {
        expect(res.statusCode).toBe(403);
        expect((res.json() as Json).code).toBe('BANNED_FROM_GROUP');
      }
      expect((await getEvent(t, event.id, outsider)).statusCode).toBe(200);
      await call('DELETE', `/groups/${group.id}/bans/${outsider.userId}`, group.owner);
      expect(((await join(t, event.id, outsider)).json() as Json).status).toBe('going');
    });
  });

  describe('chat and presence', () => {
    it('the group conversation follows its members, with system messages; admins moderate', async () => {
      const group = await createGroup(t);
      await settle();
      const owned = (await conversationOf(group.id, group.owner)).json() as Json;
      expect(owned).toMatchObject({ kind: 'group', groupId: group.id, role: 'admin' });
      const [a, b] = await withMembers(t, group.id, 2);
      await settle();
      expect(((await conversationOf(group.id, a!)).json() as Json).role).toBe('member');
      const stranger = await signUpWithEmail(t);
      expect((await conversationOf(group.id, stranger)).statusCode).toBe(404);

      await call('PATCH', `/groups/${group.id}/members/${a!.userId}`, group.owner, { role: 'admin' });
      await settle();
      expect(((await conversationOf(group.id, a!)).json() as Json).role).toBe('admin');

      await call('POST', `/groups/${group.id}/leave`, b!);
      await settle();
      expect((await conversationOf(group.id, b!)).statusCode).toBe(404);
      const history = (
        await call('GET', `/conversations/${owned.id}/messages?limit=50`, group.owner)
      ).json() as Json;
      expect(
        history.items
          .filter((m: Json) => m.kind === 'system')
          .map((m: Json) => [m.system.type, m.system.userId]),
      ).toEqual([
        ['joined', a!.userId],
        ['joined', b!.userId],
        ['left', b!.userId],
      ]);
    });

    it('a kicked or banned member is out of the conversation by the answer: not one more message reaches their socket', async () => {
      const group = await createGroup(t);
      const [kicked, banned] = await withMembers(t, group.id, 2);
      const conversationId = ((await conversationOf(group.id, group.owner)).json() as Json).id as string;
      const [k, bn, o] = await Promise.all([connect(kicked!), connect(banned!), connect(group.owner)]);
      const atK = record(k, 'chat:message');
      const atB = record(bn, 'chat:message');
      const atO = record(o, 'chat:message');
      // Held: the membership must end in the kick's and the ban's own transactions, not when the relay runs.
      await t.infra.outbox.stop();
      try {
        expect(
          (await call('DELETE', `/groups/${group.id}/members/${kicked!.userId}`, group.owner)).statusCode,
        ).toBe(204);
        expect(
          (await call('POST', `/groups/${group.id}/bans`, group.owner, { userId: banned!.userId }))
            .statusCode,
        ).toBe(204);
        for (const gone of [kicked!, banned!]) {
          expect((await conversationOf(group.id, gone)).statusCode).toBe(404);
          expect((await call('GET', `/conversations/${conversationId}/messages`, gone)).statusCode).toBe(404);
        }
        const sent = await emitAck<Json>(o, 'chat:send', {
          conversationId,
          clientId: 'after',
          body: 'not for you',
        });
        expect(sent.ok).toBe(true);
        await new Promise((r) => setTimeout(r, 300));
        const kicks = ['removed', kicked!.userId];
        const seen = (got: Json[]) =>
          got.map((m) => (m.kind === 'system' ? [m.system.type, m.system.userId] : m.clientId));
        // Each hears nothing from their own removal on; the banned one still heard the kick before.
        expect(seen(atK)).toEqual([]);
        expect(seen(atB)).toEqual([kicks]);
        expect(seen(atO)).toEqual([kicks, ['removed', banned!.userId], 'after']);
        const refused = await emitAck<Json>(k, 'chat:send', {
          conversationId,
          clientId: 'k',
          body: 'let me back',
        });
        expect(refused).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
      } finally {
        t.infra.outbox.start();
      }
    });

    it('a deleted group’s conversation is archived', async () => {
      const group = await createGroup(t);
      const [a] = await withMembers(t, group.id, 1);
      await settle();
      const conversationId = ((await conversationOf(group.id, a!)).json() as Json).id as string;
      await call('DELETE', `/groups/${group.id}`, group.owner);
      await settle();
      const s = await connect(a!);
      expect(
        await emitAck<Json>(s, 'chat:send', { conversationId, clientId: 'x', body: 'hello?' }),
      ).toMatchObject({
        ok: false,
        error: { code: 'CONVERSATION_ARCHIVED' },
      });
    });

    it('two members of a group see each other’s presence; an outsider does not', async () => {
      const group = await createGroup(t, { visibility: 'private', joinPolicy: 'invite_only' });
      const friend = await signUpWithEmail(t);
      const invitation = (
        await call('POST', `/groups/${group.id}/invitations`, group.owner, { userId: friend.userId })
      ).json() as Json;
      await call('POST', `/group-invitations/${invitation.id}/accept`, friend);
      await settle();
      const stranger = await signUpWithEmail(t);
      await connect(friend);
      await new Promise((r) => setTimeout(r, 200));
      expect((await call('GET', `/users/${friend.userId}/presence`, group.owner)).json()).toMatchObject({
        userId: friend.userId,
        online: true,
      });
      expect((await call('GET', `/users/${group.owner.userId}/presence`, friend)).statusCode).toBe(200);
      expect((await call('GET', `/users/${friend.userId}/presence`, stranger)).statusCode).toBe(404);
      // Once removed from the group they share nothing any more.
      await call('DELETE', `/groups/${group.id}/members/${friend.userId}`, group.owner);
      await settle();
      expect((await call('GET', `/users/${friend.userId}/presence`, group.owner)).statusCode).toBe(404);
    });
  });

  describe('account deletion', () => {
    const deleteAccount = async (who: SignedUp) => {
      const res = await t.app.inject({
        method: 'DELETE',
        url: '/v1/me',
        headers: who.headers,
        payload: { password: who.password },
      });
      expect(res.statusCode).toBe(200);
      await settle();
    };

    it('hands owned groups to the oldest admin, else the oldest member, else deletes them; leaves every group', async () => {
      const owner = await signUpWithEmail(t);
      const withAdmin = await createGroup(t, { name: 'With admin' }, owner);
      const [older, adminLater] = await withMembers(t, withAdmin.id, 2);
      await call('PATCH', `/groups/${withAdmin.id}/members/${adminLater!.userId}`, owner, { role: 'admin' });
      const membersOnly = await createGroup(t, { name: 'Members only' }, owner);
      const [first, second] = await withMembers(t, membersOnly.id, 2);
      const alone = await createGroup(t, { name: 'Alone' }, owner);
      const elsewhere = await createGroup(t);
      await joinGroup(t, elsewhere.id, owner);
      void second;

      await deleteAccount(owner);

      const ownerOf = async (groupId: string, viewer: SignedUp) =>
        ((await call('GET', `/groups/${groupId}`, viewer)).json() as Json).owner?.id;
      expect(await ownerOf(withAdmin.id, older!)).toBe(adminLater!.userId);
      expect(await ownerOf(membersOnly.id, first!)).toBe(first!.userId);
      const roles = ((await call('GET', `/groups/${withAdmin.id}/members`, older!)).json() as Json).items.map(
        (m: Json) => [m.user.id, m.role],
      );
      expect(roles).toEqual([
        [older!.userId, 'member'],
        [adminLater!.userId, 'owner'],
      ]);
      expect((await call('GET', `/groups/${alone.id}`, elsewhere.owner)).statusCode).toBe(404);
      expect(
        ((await call('GET', `/groups/${elsewhere.id}`, elsewhere.owner)).json() as Json).memberCount,
      ).toBe(1);
      // The new owner's conversation role follows.
      expect(((await conversationOf(withAdmin.id, adminLater!)).json() as Json).role).toBe('admin');
    });
  });
});
