import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { createEvent, getEvent, join, outboxEvents, outboxTopics } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';

describe('participation: seats, waitlist, approval, kicks, invitations, roster lock', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { EVENT_CREATE_INTERVAL_SECONDS: '0' } });
  });
  afterAll(() => t.close());

  const users = (n: number) => Promise.all(Array.from({ length: n }, () => signUpWithEmail(t)));
  const leave = (eventId: string, who: SignedUp) =>
    t.app.inject({ method: 'POST', url: `/v1/events/${eventId}/leave`, headers: who.headers });
  const participants = async (eventId: string, who?: SignedUp) =>
    (
      (
        await t.app.inject({
          url: `/v1/events/${eventId}/participants`,
          ...(who ? { headers: who.headers } : {}),
        })
      ).json() as Json
    ).items as Json[];

  it('50 simultaneous applies to a 10-seat event give exactly 10 going and the rest waitlisted', async () => {
    const event = await createEvent(t, { capacity: 10 });
    const people = await users(50);
    const results = await Promise.all(people.map((p) => join(t, event.id, p)));
    expect(results.every((r) => r.statusCode === 200)).toBe(true);
    const statuses = results.map((r) => (r.json() as Json).status as string);
    // The host holds one of the ten seats.
    expect(statuses.filter((s) => s === 'going')).toHaveLength(9);
    expect(statuses.filter((s) => s === 'waitlisted')).toHaveLength(41);
    const body = (await getEvent(t, event.id, event.host)).json() as Json;
    expect(body).toMatchObject({ goingCount: 10, waitlistCount: 41, open: false });

    // A cancellation promotes exactly one: the first in the queue.
    const going = people.filter((_, i) => statuses[i] === 'going');
    const roster = await participants(event.id, event.host);
    const firstQueued = roster.find((p) => p.status === 'waitlisted');
    expect((await leave(event.id, going[0]!)).statusCode).toBe(204);
    const after = await participants(event.id, event.host);
    expect(after.filter((p) => p.status === 'going')).toHaveLength(10);
    expect(after.filter((p) => p.status === 'waitlisted')).toHaveLength(40);
    expect(after.find((p) => p.user.id === firstQueued.user.id).status).toBe('going');
    const topics = await outboxTopics(t, event.id);
    expect(topics.filter((x) => x === 'event.promoted')).toHaveLength(1);
  });

  it('with the waitlist off, 50 simultaneous applies give 10 going and 41 refusals with EVENT_FULL', async () => {
    const event = await createEvent(t, { capacity: 10, waitlistEnabled: false });
    const people = await users(50);
    const results = await Promise.all(people.map((p) => join(t, event.id, p)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(9);
    const refused = results.filter((r) => r.statusCode === 409);
    expect(refused).toHaveLength(41);
    expect(refused.every((r) => (r.json() as Json).code === 'EVENT_FULL')).toBe(true);
    expect(((await getEvent(t, event.id)).json() as Json).goingCount).toBe(10);
    // A refused join wrote nothing to the outbox: only the 9 joins and the creation are there.
    const topics = await outboxTopics(t, event.id);
    expect(topics.filter((x) => x === 'event.joined')).toHaveLength(9);
  });

  it('join and cancel are explicit: joining twice is refused, cancelling twice too, and the host cannot leave', async () => {
    const event = await createEvent(t);
    const [a] = await users(1);
    expect((await join(t, event.id, a!)).statusCode).toBe(200);
    const again = await join(t, event.id, a!);
    expect(again.statusCode).toBe(409);
    expect((again.json() as Json).code).toBe('ALREADY_PARTICIPATING');
    expect((await leave(event.id, a!)).statusCode).toBe(204);
    const twice = await leave(event.id, a!);
    expect((twice.json() as Json).code).toBe('NOT_PARTICIPATING');
    // Coming back after cancelling is allowed.
    expect((await join(t, event.id, a!)).statusCode).toBe(200);
    const host = await leave(event.id, event.host);
    expect(host.statusCode).toBe(409);
    expect((host.json() as Json).code).toBe('HOST_CANNOT_LEAVE');
    expect(await outboxTopics(t, event.id)).toEqual([
      'event.created',
      'event.joined',
      'event.left',
      'event.joined',
    ]);
  });

  it('with host approval, people apply; the host accepts or declines, and a declined person cannot reapply', async () => {
    const event = await createEvent(t, { capacity: 3, requiresApproval: true });
    const [a, b, c, outsider] = await users(4);
    for (const p of [a, b, c]) expect(((await join(t, event.id, p!)).json() as Json).status).toBe('pending');
    // Applications are the host's business only.
    expect((await participants(event.id, outsider)).map((p) => p.status)).toEqual(['going']);
    expect(((await getEvent(t, event.id, outsider)).json() as Json).pendingCount).toBe(0);
    expect(((await getEvent(t, event.id, event.host)).json() as Json).pendingCount).toBe(3);

    const decide = (who: SignedUp, userId: string, d: 'approve' | 'reject') =>
      t.app.inject({
        method: 'POST',
        url: `/v1/events/${event.id}/applications/${userId}/${d}`,
        headers: who.headers,
      });
    expect((await decide(outsider!, a!.userId, 'approve')).statusCode).toBe(403);
    expect((await decide(a!, a!.userId, 'approve')).statusCode).toBe(403);
    expect(((await decide(event.host, a!.userId, 'approve')).json() as Json).status).toBe('going');
    expect(((await decide(event.host, b!.userId, 'approve')).json() as Json).status).toBe('going');
    // Full: the next accepted application joins the waitlist.
    expect(((await decide(event.host, c!.userId, 'approve')).json() as Json).status).toBe('waitlisted');
    expect(((await decide(event.host, c!.userId, 'approve')).json() as Json).code).toBe(
      'APPLICATION_NOT_PENDING',
    );

    const d = (await users(1))[0]!;
    await join(t, event.id, d);
    expect(((await decide(event.host, d.userId, 'reject')).json() as Json).status).toBe('rejected');
    const retry = await join(t, event.id, d);
    expect(retry.statusCode).toBe(403);
    expect((retry.json() as Json).code).toBe('APPLICATION_REJECTED');
  });

  it('the host removes a participant, who cannot come back unless invited again', async () => {
    const event = await createEvent(t, { capacity: 2 });
    const [a, b, stranger] = await users(3);
    await join(t, event.id, a!);
    expect(((await join(t, event.id, b!)).json() as Json).status).toBe('waitlisted');
    const kick = (who: SignedUp, userId: string) =>
      t.app.inject({
        method: 'DELETE',
        url: `/v1/events/${event.id}/participants/${userId}`,
        headers: who.headers,
      });
    expect((await kick(stranger!, a!.userId)).statusCode).toBe(403);
    expect((await kick(b!, a!.userId)).statusCode).toBe(403);
    expect(((await kick(event.host, event.host.userId)).json() as Json).code).toBe('HOST_CANNOT_LEAVE');
    expect((await kick(event.host, a!.userId)).statusCode).toBe(204);
    // The freed seat went to the waitlist.
    expect(((await getEvent(t, event.id, b)).json() as Json).viewer.status).toBe('going');
    const back = await join(t, event.id, a!);
    expect(back.statusCode).toBe(403);
    expect((back.json() as Json).code).toBe('KICKED_FROM_EVENT');
    expect(((await kick(event.host, stranger!.userId)).json() as Json).code).toBe('NOT_PARTICIPATING');
    expect(await outboxTopics(t, event.id)).toContain('event.kicked');
  });

  it('invitations: one pending per person, accepted or declined by the invitee, seats re-checked on acceptance', async () => {
    const event = await createEvent(t, { capacity: 2, waitlistEnabled: false, visibility: 'private' });
    const [a, b, stranger] = await users(3);
    const invite = (who: SignedUp, userId: string) =>
      t.app.inject({
        method: 'POST',
        url: `/v1/events/${event.id}/invitations`,
        headers: who.headers,
        payload: { userId },
      });
    // A private event does not exist for outsiders, and they cannot join it.
    expect((await getEvent(t, event.id, stranger)).statusCode).toBe(404);
    expect((await join(t, event.id, stranger!)).statusCode).toBe(404);
    expect((await invite(stranger!, a!.userId)).statusCode).toBe(404);

    const first = await invite(event.host, a!.userId);
    expect(first.statusCode).toBe(201);
    expect(((await invite(event.host, a!.userId)).json() as Json).code).toBe('ALREADY_INVITED');
    expect(((await invite(event.host, event.host.userId)).json() as Json).code).toBe('ALREADY_PARTICIPATING');
    expect((await invite(event.host, '00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    expect((await invite(event.host, b!.userId)).statusCode).toBe(201);

    // The invitee now sees the event and the invitation.
    const seen = (await getEvent(t, event.id, a)).json() as Json;
    expect(seen.viewer.invitationId).toBe((first.json() as Json).id);
    const mine = (
      await t.app.inject({ url: '/v1/me/event-invitations', headers: a!.headers })
    ).json() as Json;
    expect(mine.items).toHaveLength(1);
    expect(mine.items[0].event.id).toBe(event.id);

    const answer = (who: SignedUp, id: string, a2: 'accept' | 'reject') =>
      t.app.inject({ method: 'POST', url: `/v1/event-invitations/${id}/${a2}`, headers: who.headers });
    const invitationId = (first.json() as Json).id as string;
    // Nobody else can answer someone's invitation.
    expect((await answer(b!, invitationId, 'accept')).statusCode).toBe(404);
    expect((await answer(a!, invitationId, 'accept')).statusCode).toBe(204);
    expect((await answer(a!, invitationId, 'accept')).statusCode).toBe(409);
    expect(((await getEvent(t, event.id, a)).json() as Json).viewer.status).toBe('going');

    // Full now (host + a): b's acceptance is refused and the invitation stays open.
    const bInvitation = (
      (await t.app.inject({ url: '/v1/me/event-invitations', headers: b!.headers })).json() as Json
    ).items[0].id as string;
    const full = await answer(b!, bInvitation, 'accept');
    expect(full.statusCode).toBe(409);
    expect((full.json() as Json).code).toBe('EVENT_FULL');
    expect((await answer(b!, bInvitation, 'reject')).statusCode).toBe(204);
    expect(await outboxTopics(t, event.id)).toEqual([
      'event.created',
      'event.invited',
      'event.invited',
      'event.joined',
      'event.invitation_answered',
      'event.invitation_answered',
    ]);
  });

  it('the host withdraws an invitation; a kicked person invited again can accept', async () => {
    const event = await createEvent(t);
    const [a] = await users(1);
    await join(t, event.id, a!);
    await t.app.inject({
      method: 'DELETE',
      url: `/v1/events/${event.id}/participants/${a!.userId}`,
      headers: event.host.headers,
    });
    const inv = (
      await t.app.inject({
        method: 'POST',
        url: `/v1/events/${event.id}/invitations`,
        headers: event.host.headers,
        payload: { userId: a!.userId },
      })
    ).json() as Json;
    const list = (
      await t.app.inject({ url: `/v1/events/${event.id}/invitations`, headers: event.host.headers })
    ).json() as Json;
    expect(list.items.map((i: Json) => i.id)).toEqual([inv.id]);
    expect(
      (await t.app.inject({ url: `/v1/events/${event.id}/invitations`, headers: a!.headers })).statusCode,
    ).toBe(403);
    // Joining with a pending invitation accepts it.
    expect(((await join(t, event.id, a!)).json() as Json).status).toBe('going');

    const [b] = await users(1);
    const invB = (
      await t.app.inject({
        method: 'POST',
        url: `/v1/events/${event.id}/invitations`,
        headers: event.host.headers,
        payload: { userId: b!.userId },
      })
    ).json() as Json;
    const withdraw = await t.app.inject({
      method: 'DELETE',
      url: `/v1/events/${event.id}/invitations/${invB.id}`,
      headers: event.host.headers,
    });
    expect(withdraw.statusCode).toBe(204);
    const accept = await t.app.inject({
      method: 'POST',
      url: `/v1/event-invitations/${invB.id}/accept`,
      headers: b!.headers,
    });
    expect((accept.json() as Json).code).toBe('INVITATION_NOT_PENDING');
    // The invitee is told, once: withdrawing again changes nothing and says nothing.
    const again = await t.app.inject({
      method: 'DELETE',
      url: `/v1/events/${event.id}/invitations/${invB.id}`,
      headers: event.host.headers,
    });
    expect((again.json() as Json).code).toBe('INVITATION_NOT_PENDING');
    const withdrawn = (await outboxEvents(t, event.id)).filter(
      (e) => e.topic === 'event.invitation_cancelled',
    );
    expect(withdrawn.map((e) => e.payload)).toEqual([
      { eventId: event.id, invitationId: invB.id, inviteeId: b!.userId, reason: 'host' },
    ]);
  });

  it('an invitation has one outcome under races: a withdrawal against an acceptance, or three acceptances at once', async () => {
    const event = await createEvent(t, { visibility: 'private' });
    let accepted = 0;
    for (let round = 0; round < 5; round++) {
      const [p] = await users(1);
      const inv = (
        await t.app.inject({
          method: 'POST',
          url: `/v1/events/${event.id}/invitations`,
          headers: event.host.headers,
          payload: { userId: p!.userId },
        })
      ).json() as Json;
      const [withdraw, accept] = await Promise.all([
        t.app.inject({
          method: 'DELETE',
          url: `/v1/events/${event.id}/invitations/${inv.id}`,
          headers: event.host.headers,
        }),
        t.app.inject({ method: 'POST', url: `/v1/event-invitations/${inv.id}/accept`, headers: p!.headers }),
      ]);
      const wins = [withdraw, accept].filter((r) => r.statusCode < 300);
      expect(wins, `round ${round}: ${withdraw.statusCode} ${accept.statusCode}`).toHaveLength(1);
      if (accept.statusCode < 300) accepted++;
      const seen = await t.app.inject({ url: `/v1/events/${event.id}`, headers: p!.headers });
      // Withdrawn: the private event is out of sight again. Accepted: they are going.
      expect(seen.statusCode).toBe(accept.statusCode < 300 ? 200 : 404);
    }

    const [q] = await users(1);
    const inv = (
      await t.app.inject({
        method: 'POST',
        url: `/v1/events/${event.id}/invitations`,
        headers: event.host.headers,
        payload: { userId: q!.userId },
      })
    ).json() as Json;
    const answers = await Promise.all(
      [1, 2, 3].map(() =>
        t.app.inject({ method: 'POST', url: `/v1/event-invitations/${inv.id}/accept`, headers: q!.headers }),
      ),
    );
    expect(answers.filter((r) => r.statusCode < 300)).toHaveLength(1);
    for (const r of answers.filter((x) => x.statusCode >= 300)) {
      expect((r.json() as Json).code).toBe('INVITATION_NOT_PENDING');
    }
    const topics = await outboxTopics(t, event.id);
    // One answer recorded per invitation that was accepted: none twice, none for a withdrawn one; and one
    // withdrawal per round the withdrawal won (the losing transaction rolled back with nothing published).
    expect(topics.filter((topic) => topic === 'event.invitation_answered')).toHaveLength(accepted + 1);
    expect(topics.filter((topic) => topic === 'event.invitation_cancelled')).toHaveLength(5 - accepted);
  });

  it('roster confirmation: everyone confirms, the host last, and the event locks against every change', async () => {
    const event = await createEvent(t, { capacity: 5 });
    const [a, b, c] = await users(3);
    await join(t, event.id, a!);
    await join(t, event.id, b!);
    const confirm = (who: SignedUp) =>
      t.app.inject({ method: 'POST', url: `/v1/events/${event.id}/confirm`, headers: who.headers });
    expect(((await confirm(c!)).json() as Json).code).toBe('NOT_PARTICIPATING');
    expect((await confirm(a!)).json()).toEqual({ locked: false, unconfirmed: 1 });
    const early = await confirm(event.host);
    expect(early.statusCode).toBe(409);
    expect(early.json() as Json).toMatchObject({ code: 'ROSTER_NOT_CONFIRMED', details: { unconfirmed: 1 } });
    expect((await confirm(b!)).json()).toEqual({ locked: false, unconfirmed: 0 });
    expect((await confirm(event.host)).json()).toEqual({ locked: true, unconfirmed: 0 });
    expect((await getEvent(t, event.id)).json() as Json).toMatchObject({ locked: true, open: false });

    const locked = [
      await t.app.inject({
        method: 'PATCH',
        url: `/v1/events/${event.id}`,
        headers: event.host.headers,
        payload: { title: 'New title' },
      }),
      await join(t, event.id, c!),
      await leave(event.id, a!),
      await t.app.inject({
        method: 'DELETE',
        url: `/v1/events/${event.id}/participants/${a!.userId}`,
        headers: event.host.headers,
      }),
      await t.app.inject({
        method: 'POST',
        url: `/v1/events/${event.id}/invitations`,
        headers: event.host.headers,
        payload: { userId: c!.userId },
      }),
    ];
    for (const res of locked) {
      expect(res.statusCode).toBe(409);
      expect((res.json() as Json).code).toBe('EVENT_LOCKED');
    }
    expect(await outboxTopics(t, event.id)).toContain('event.locked');
  });

  it('the roster lock settles everyone still waiting: applications declined, the waitlist cleared, invitations withdrawn, each told why', async () => {
    const event = await createEvent(t, { capacity: 2, requiresApproval: true });
    const [going, queued, applicant, invitee] = await users(4);
    const host = event.host;
    const call = (who: SignedUp, method: 'POST' | 'GET', url: string, payload?: Record<string, unknown>) =>
      t.app.inject({
        method,
        url: `/v1/events/${event.id}${url}`,
        headers: who.headers,
        ...(payload ? { payload } : {}),
      });
    for (const p of [going!, queued!, applicant!]) await join(t, event.id, p);
    for (const p of [going!, queued!]) await call(host, 'POST', `/applications/${p.userId}/approve`);
    const inv = (await call(host, 'POST', '/invitations', { userId: invitee!.userId })).json() as Json;
    expect((await participants(event.id, host)).map((p) => p.status).sort()).toEqual([
      'going',
      'going',
      'pending',
      'waitlisted',
    ]);

    expect((await call(going!, 'POST', '/confirm')).statusCode).toBe(200);
    expect((await call(host, 'POST', '/confirm')).json()).toEqual({ locked: true, unconfirmed: 0 });

    // Nobody can join a locked event: nobody is left waiting for it.
    const status = async (p: SignedUp) => ((await getEvent(t, event.id, p)).json() as Json).viewer.status;
    expect(await status(queued!)).toBe('cancelled');
    expect(await status(applicant!)).toBe('rejected');
    expect((await participants(event.id, host)).map((p) => p.status)).toEqual(['going', 'going']);
    expect((await getEvent(t, event.id, host)).json() as Json).toMatchObject({
      goingCount: 2,
      waitlistCount: 0,
      pendingCount: 0,
    });
    const accept = await t.app.inject({
      method: 'POST',
      url: `/v1/event-invitations/${inv.id}/accept`,
      headers: invitee!.headers,
    });
    expect((accept.json() as Json).code).toBe('INVITATION_NOT_PENDING');
    expect(((await join(t, event.id, queued!)).json() as Json).code).toBe('EVENT_LOCKED');

    const told = (await outboxEvents(t, event.id)).slice(-4);
    expect(told).toEqual([
      {
        topic: 'event.application_decided',
        payload: {
          eventId: event.id,
          userId: applicant!.userId,
          approved: false,
          status: 'rejected',
          reason: 'roster_locked',
        },
      },
      {
        topic: 'event.left',
        payload: { eventId: event.id, userId: queued!.userId, reason: 'roster_locked' },
      },
      {
        topic: 'event.invitation_cancelled',
        payload: {
          eventId: event.id,
          invitationId: inv.id,
          inviteeId: invitee!.userId,
          reason: 'roster_locked',
        },
      },
      { topic: 'event.locked', payload: { eventId: event.id } },
    ]);
  });
});
