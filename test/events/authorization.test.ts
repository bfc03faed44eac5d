import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACTORS,
  active,
  ActorFixture,
  err,
  MATRIX_ENV,
  moderates,
  OK,
  roleOf,
  sees,
  type Actor,
  type Outcome,
  type Vis,
  type World,
} from '../helpers/actors.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { ManualClock } from '../helpers/clock.js';
import type { Json } from '../helpers/http.js';

/**
 * The authorization matrix of the events module: every route, run by every actor, on a public and a private
 * standalone event and on an event inside a public and inside a private group. Each cell states what the actor must get (a 2xx, or an exact error code), and every 2xx body is checked
 * for fields the actor may not see. The expectations are written from what an actor *is* to the event (their
 * traits), not from the policy code, so a change of policy shows up here as a failing cell.
 *
 * The actors and their worlds are in test/helpers/actors.ts (shared with the discovery, reactions and calendar
 * matrix). `sees` and the outcome functions read `roleOf(actor, world)`: members see a private group's events
 * and join them without an invitation; the group's owner and admins edit and cancel its events; someone banned
 * from the group takes part in none of its events; everything else stays the host's.
 */

interface Route {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: (w: World) => string;
  body?: (w: World, a: Actor) => unknown;
  auth: 'required' | 'optional';
  /** Event-scoped: actors who may not see the event get 404 (signed out: 401 where auth is required). */
  scoped: boolean;
  /** When it runs: long before the start, in the attendance window, or after the end (after attendance). */
  phase: 'before' | 'attendance' | 'after';
  outcome: (a: Actor, w: World) => Outcome;
  /** What a 2xx body may show this actor. */
  check?: (body: Json, a: Actor, w: World) => void;
}

const hostOnly = (a: Actor) => (a.host ? OK : err('FORBIDDEN'));
const ids = (items: Json[]) => items.map((i) => i.user?.id ?? i.id);

const ROUTES: Route[] = [
  {
    name: 'GET /events/:id',
    method: 'GET',
    url: (w) => `/v1/events/${w.eventId}`,
    auth: 'optional',
    scoped: true,
    phase: 'before',
    outcome: () => OK,
    check: (body, a, w) => {
      // Who queues or applies is the host's business.
      expect(body.waitlistCount).toBe(a.host ? 1 : 0);
      expect(body.pendingCount).toBe(a.host ? 1 : 0);
      if (!a.signedIn) return expect(body.viewer).toBeNull();
      expect(body.viewer).toMatchObject({
        status: a.status ?? null,
        isHost: Boolean(a.host),
        groupRole: roleOf(a, w),
      });
      expect(body.viewer.invitationId !== null).toBe(Boolean(a.invited));
    },
  },
  {
    name: 'PATCH /events/:id',
    method: 'PATCH',
    url: (w) => `/v1/events/${w.eventId}`,
    body: () => ({ title: 'Renamed by someone' }),
    auth: 'required',
    scoped: true,
    phase: 'before',
    outcome: (a, w) => (moderates(a, w) ? OK : err('FORBIDDEN')),
  },
  {
    name: 'DELETE /events/:id',
    method: 'DELETE',
    url: (w) => `/v1/events/${w.eventId}`,
    auth: 'required',
    scoped: true,
    phase: 'before',
    // The first who may cancel (in table order) does; those after them find it cancelled.
    outcome: (a, w) =>
      !moderates(a, w)
        ? err('FORBIDDEN')
        : ACTORS.find((x) => moderates(x, w)) === a
          ? OK
          : err('EVENT_CANCELLED'),
  },
  {
    name: 'POST /events/:id/join',
    method: 'POST',
    url: (w) => `/v1/events/${w.eventId}/join`,
    body: () => ({ message: 'Hello' }),
    auth: 'required',
    scoped: true,
    phase: 'before',
    outcome: (a, w) => {
      if (a.invited) return OK; // joining accepts the invitation
      if (a.host || active(a)) return err('ALREADY_PARTICIPATING');
      if (a.status === 'kicked') return err('KICKED_FROM_EVENT');
      if (a.status === 'rejected') return err('APPLICATION_REJECTED');
      // Banned from the group: none of its events, public ones included.
      if (w.groupId && a.group === 'banned') return err('BANNED_FROM_GROUP');
      if (w.vis === 'private' && !roleOf(a, w)) return err('INVITATION_REQUIRED');
      return OK;
    },
    check: (body, a) => expect(body.status).toBe(a.invited ? 'waitlisted' : 'pending'),
  },
  {
    name: 'POST /events/:id/leave',
    method: 'POST',
    url: (w) => `/v1/events/${w.eventId}/leave`,
    auth: 'required',
    scoped: true,
    phase: 'before',
    outcome: (a) => (a.host ? err('HOST_CANNOT_LEAVE') : active(a) ? OK : err('NOT_PARTICIPATING')),
  },
  {
    name: 'GET /events/:id/participants',
    method: 'GET',
    url: (w) => `/v1/events/${w.eventId}/participants`,
    auth: 'optional',
    scoped: true,
    phase: 'before',
    outcome: () => OK,
    check: (body, a, w) => checkRoster(body, a, w),
  },
  {
    name: 'GET /events/:id/participants (marks made)',
    method: 'GET',
    url: (w) => `/v1/events/${w.eventId}/participants`,
    auth: 'optional',
    scoped: true,
    phase: 'after',
    outcome: () => OK,
    check: (body, a, w) => {
      checkRoster(body, a, w);
      const mark = (body.items as Json[]).find((p) => p.user.id === w.participant.userId)?.attendance;
      expect(mark).toBe(a.host ? 'present' : undefined);
    },
  },
  ...(['approve', 'reject'] as const).map((d): Route => ({
    name: `POST /events/:id/applications/:userId/${d}`,
    method: 'POST',
    url: (w) => `/v1/events/${w.eventId}/applications/${w.requested.userId}/${d}`,
    auth: 'required',
    scoped: true,
    phase: 'before',
    outcome: hostOnly,
  })),
  {
    name: 'DELETE /events/:id/participants/:userId',
    method: 'DELETE',
    url: (w) => `/v1/events/${w.eventId}/participants/${w.participant.userId}`,
    auth: 'required',
    scoped: true,
    phase: 'before',
    outcome: hostOnly,
  },
  {
    name: 'POST /events/:id/invitations',
    method: 'POST',
    url: (w) => `/v1/events/${w.eventId}/invitations`,
    body: (w) => ({ userId: w.people.get('stranger')!.userId }),
    auth: 'required',
    scoped: true,
    phase: 'before',
    outcome: hostOnly,
  },
  {
    name: 'GET /events/:id/invitations',
    method: 'GET',
    url: (w) => `/v1/events/${w.eventId}/invitations`,
    auth: 'required',
    scoped: true,
    phase: 'before',
    outcome: hostOnly,
    check: (body, _a, w) => expect(body.items.map((i: Json) => i.id)).toEqual([w.invitationId]),
  },
  {
    name: 'DELETE /events/:id/invitations/:invitationId',
    method: 'DELETE',
    url: (w) => `/v1/events/${w.eventId}/invitations/${w.invitationId}`,
    auth: 'required',
    scoped: true,
    phase: 'before',
    outcome: hostOnly,
  },
  {
    name: 'GET /me/event-invitations',
    method: 'GET',
    url: () => '/v1/me/event-invitations',
    auth: 'required',
    scoped: false,
    phase: 'before',
    outcome: () => OK,
    // The people here are shared by every world: look for this world's event only.
    check: (body, a, w) =>
      expect((body.items as Json[]).some((i) => i.event.id === w.eventId)).toBe(Boolean(a.invited)),
  },
  ...(['accept', 'reject'] as const).map((answer): Route => ({
    name: `POST /event-invitations/:id/${answer}`,
    method: 'POST',
    url: (w) => `/v1/event-invitations/${w.invitationId}/${answer}`,
    auth: 'required',
    scoped: false,
    phase: 'before',
    // Somebody else's invitation does not exist, whoever asks, the host included.
    outcome: (a) => (a.invited ? OK : err('NOT_FOUND')),
  })),
  {
    name: 'POST /events/:id/confirm',
    method: 'POST',
    url: (w) => `/v1/events/${w.eventId}/confirm`,
    auth: 'required',
    scoped: true,
    phase: 'before',
    // The participant (before the host in the table) has confirmed, so the host's confirmation locks.
    outcome: (a) => (a.status === 'going' ? OK : err('NOT_PARTICIPATING')),
    check: (body, a) => expect(body.locked).toBe(Boolean(a.host)),
  },
  {
    name: 'GET /events/:id/attendance',
    method: 'GET',
    url: (w) => `/v1/events/${w.eventId}/attendance`,
    auth: 'required',
    scoped: true,
    phase: 'attendance',
    outcome: hostOnly,
    check: (body, _a, w) => expect(ids(body.participants)).toEqual([w.participant.userId]),
  },
  {
    name: 'PUT /events/:id/attendance',
    method: 'PUT',
    url: (w) => `/v1/events/${w.eventId}/attendance`,
    body: (w) => ({ marks: [{ userId: w.participant.userId, present: true }] }),
    auth: 'required',
    scoped: true,
    phase: 'attendance',
    outcome: hostOnly,
  },
  {
    name: 'POST /events/:id/check-in',
    method: 'POST',
    url: (w) => `/v1/events/${w.eventId}/check-in`,
    body: () => ({ lat: 37.5283, lng: 126.9326 }),
    auth: 'required',
    scoped: true,
    phase: 'attendance',
    outcome: (a) => (a.status === 'going' && !a.host ? OK : err('NOT_PARTICIPATING')),
  },
  {
    name: 'POST /events/:id/ratings',
    method: 'POST',
    url: (w) => `/v1/events/${w.eventId}/ratings`,
    body: (w, a) =>
      a.host
        ? { userId: w.participant.userId, verdict: 'good', reason: 'kept_pace' }
        : { userId: w.host.userId, verdict: 'bad', reason: 'late' },
    auth: 'required',
    scoped: true,
    phase: 'after',
    // Only the participant was marked present.
    outcome: (a) => (a.host || a.status === 'going' ? OK : err('NOT_ATTENDED')),
  },
  {
    name: 'GET /events/:id/ratings/mine',
    method: 'GET',
    url: (w) => `/v1/events/${w.eventId}/ratings/mine`,
    auth: 'required',
    scoped: true,
    phase: 'after',
    outcome: () => OK,
    // The host and the participant rated each other when the world was set up; nobody sees others' ratings.
    check: (body, a, w) => {
      const rated = (body.given as Json[]).map((r) => r.rateeId);
      expect(rated).toEqual(a.host ? [w.participant.userId] : a.status === 'going' ? [w.host.userId] : []);
      expect(body.canRate).toEqual([]);
    },
  },
  {
    name: 'GET /users/:id/reputation',
    method: 'GET',
    url: (w) => `/v1/users/${w.host.userId}/reputation`,
    auth: 'optional',
    scoped: false,
    phase: 'after',
    outcome: () => OK,
    // The hosting history is public: a private event never appears in it.
    check: (body, _a, w) =>
      expect((body.hostingHistory as Json[]).some((h) => h.id === w.eventId)).toBe(w.vis === 'public'),
  },
];

/** The roster: everyone who sees the event sees who is going; the queue, applications and notes are the host's. */
function checkRoster(body: Json, a: Actor, w: World): void {
  const items = body.items as Json[];
  if (a.host) {
    expect(items.map((p) => p.status).sort()).toEqual(['going', 'going', 'pending', 'waitlisted']);
    expect(items.find((p) => p.user.id === w.requested.userId)).toHaveProperty('message');
    return;
  }
  expect(items.map((p) => p.status)).toEqual(['going', 'going']);
  for (const p of items) {
    expect(p).not.toHaveProperty('message');
    expect(p).not.toHaveProperty('waitlistedAt');
    expect(p).not.toHaveProperty('attendance');
  }
}

describe('events authorization matrix: every route × every actor × public and private', () => {
  let t: TestApp;
  const clock = new ManualClock();
  let fx: ActorFixture;

  beforeAll(async () => {
    t = await buildTestApp({ clock, env: MATRIX_ENV });
    fx = new ActorFixture(t);
    await fx.setUp();
  });
  afterAll(() => t.close());

  const call = (...args: Parameters<ActorFixture['call']>) => fx.call(...args);
  const person = (name: string) => fx.person(name);
  const buildWorld = (vis: Vis, start: number, duration: number) => fx.buildWorld(vis, start, duration);
  const buildGroupWorld = (vis: Vis, start: number, duration: number) =>
    fx.buildGroupWorld(vis, start, duration);

  /** Runs one route for every actor in table order, and checks each cell. */
  async function runRoute(route: Route, w: World): Promise<void> {
    const failures = await fx.runCells({
      method: route.method,
      url: route.url(w),
      ...(route.body ? { body: (a: Actor) => route.body!(w, a) } : {}),
      auth: route.auth,
      outcome: (a) => (route.scoped && !sees(a, w) ? err('NOT_FOUND') : route.outcome(a, w)),
      ...(route.check ? { check: (body: Json, a: Actor) => route.check!(body, a, w) } : {}),
    });
    expect(failures, `${route.name} on a ${w.vis}${w.groupId ? ' group' : ''} event`).toEqual([]);
  }

  const VISIBILITIES: Vis[] = ['public', 'private'];
  /** Standalone events, and events inside a public and inside a private group. */
  const KINDS = [
    ...VISIBILITIES.map((vis) => ({ label: vis, build: (s: number, d: number) => buildWorld(vis, s, d) })),
    ...VISIBILITIES.map((vis) => ({
      label: `${vis} group`,
      build: (s: number, d: number) => buildGroupWorld(vis, s, d),
    })),
  ];

  describe('before the start', () => {
    for (const route of ROUTES.filter((r) => r.phase === 'before')) {
      for (const k of KINDS) {
        it(`${route.name} — ${k.label}`, async () => runRoute(route, await k.build(24 * 60, 120)));
      }
    }
  });

  describe('in the attendance window, and after the end', () => {
    // Every timed world is built at once, so the clock moves forward only twice for all of them.
    const worlds = new Map<string, World>();
    const timed = ROUTES.filter((r) => r.phase !== 'before');
    beforeAll(async () => {
      for (const route of timed) {
        for (const k of KINDS) worlds.set(`${route.name} ${k.label}`, await k.build(35, 10));
      }
      clock.advance(10 * 60_000); // 25 minutes before the start: attendance is open
      for (const route of timed.filter((r) => r.phase === 'after')) {
        for (const k of KINDS) {
          const w = worlds.get(`${route.name} ${k.label}`)!;
          const res = await call(w.host, 'PUT', `/v1/events/${w.eventId}/attendance`, {
            marks: [{ userId: w.participant.userId, present: true }],
          });
          expect(res.status).toBe(204);
        }
      }
    }, 600_000);

    for (const route of timed.filter((r) => r.phase === 'attendance')) {
      for (const k of KINDS) {
        it(`${route.name} — ${k.label}`, () => runRoute(route, worlds.get(`${route.name} ${k.label}`)!));
      }
    }

    describe('after the end', () => {
      beforeAll(async () => {
        clock.advance(36 * 60_000); // the event has ended: ratings are open
        for (const k of KINDS) {
          const w = worlds.get(`GET /events/:id/ratings/mine ${k.label}`)!;
          const given = [
            await call(w.participant, 'POST', `/v1/events/${w.eventId}/ratings`, {
              userId: w.host.userId,
              verdict: 'good',
              reason: 'good_leading',
            }),
            await call(w.host, 'POST', `/v1/events/${w.eventId}/ratings`, {
              userId: w.participant.userId,
              verdict: 'good',
              reason: 'friendly',
            }),
          ];
          expect(given.map((r) => r.status)).toEqual([201, 201]);
        }
      });
      for (const route of timed.filter((r) => r.phase === 'after')) {
        for (const k of KINDS) {
          it(`${route.name} — ${k.label}`, () => runRoute(route, worlds.get(`${route.name} ${k.label}`)!));
        }
      }
    });
  });

  /** Runs every changing route of the 'before' phase for every actor; returns the cells that answered 2xx. */
  async function successes(w: World): Promise<string[]> {
    const ok: string[] = [];
    for (const route of ROUTES.filter((r) => r.phase === 'before' && r.method !== 'GET')) {
      for (const a of ACTORS) {
        const who = fx.who(a);
        const res = await call(who, route.method, route.url(w), route.body?.(w, a));
        if (res.status < 300) ok.push(`${route.name}: ${a.name}`);
      }
    }
    return ok;
  }

  it('a locked event refuses every change to everyone; only its host (or its group’s moderators) may still call it off', async () => {
    for (const k of KINDS) {
      const w = await k.build(24 * 60, 120);
      expect((await call(w.participant, 'POST', `/v1/events/${w.eventId}/confirm`)).status).toBe(200);
      expect((await call(w.host, 'POST', `/v1/events/${w.eventId}/confirm`)).body.locked).toBe(true);
      // In a group the admin comes first in the table, so the admin's cancellation is the one that lands.
      expect(await successes(w), k.label).toEqual([
        `DELETE /events/:id: ${w.groupId ? 'groupAdmin' : 'host'}`,
      ]);
    }
  }, 600_000);

  it('a cancelled event refuses every change to everyone', async () => {
    for (const k of KINDS) {
      const w = await k.build(24 * 60, 120);
      expect((await call(w.host, 'DELETE', `/v1/events/${w.eventId}`)).status).toBe(204);
      expect(await successes(w), k.label).toEqual([]);
    }
  }, 600_000);

  it('objects of one event cannot be reached through another: invitations, applications, participants', async () => {
    const w = await buildWorld('public', 24 * 60, 120);
    const other = person('otherHost');
    const via = `/v1/events/${w.otherEventId}`;
    const attempts = [
      await call(other, 'DELETE', `${via}/invitations/${w.invitationId}`),
      await call(other, 'POST', `${via}/applications/${w.requested.userId}/approve`),
      await call(other, 'DELETE', `${via}/participants/${w.participant.userId}`),
    ];
    expect(attempts.map((r) => `${r.status} ${r.body?.code}`)).toEqual([
      '404 NOT_FOUND',
      '409 APPLICATION_NOT_PENDING',
      '409 NOT_PARTICIPATING',
    ]);
    // And nothing moved in the event they point at.
    const roster = await call(w.host, 'GET', `/v1/events/${w.eventId}/participants`);
    expect((roster.body.items as Json[]).map((p) => p.status).sort()).toEqual([
      'going',
      'going',
      'pending',
      'waitlisted',
    ]);
  });
});
