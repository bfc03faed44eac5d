import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS, type ErrorCode } from '../../src/shared/errors.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { ManualClock } from '../helpers/clock.js';
import { createEvent, times } from '../helpers/events.js';
import { addInvited, createGroup, joinGroup } from '../helpers/groups.js';
import type { Json } from '../helpers/http.js';

/**
 * The authorization matrix of the events module: every route, run by every actor, on a public and a private
 * standalone event and on an event inside a public and inside a private group. Each cell states what the actor must get (a 2xx, or an exact error code), and every 2xx body is checked
 * for fields the actor may not see. The expectations are written from what an actor *is* to the event (their
 * traits), not from the policy code, so a change of policy shows up here as a failing cell.
 *
 * The group actors (a member, an admin, the owner, someone banned from the group, someone removed from it, the
 * owner of another group) have a `group` trait: `buildGroupWorld` puts them in that state in a fresh group, and
 * the host and every actor with an `enter` join that group too, so in a group world they are its members. In a
 * standalone world the group actors are strangers whose groups have nothing to do with the event. `sees` and
 * the outcome functions read `roleOf(actor, world)`: members see a private group's events and join them without
 * an invitation; the group's owner and admins edit and cancel its events; everything else stays the host's.
 */

type Vis = 'public' | 'private';
type GroupRole = 'owner' | 'admin' | 'member';
/** What a group actor is to the event's group (`otherOwner`: owns a different group). */
type GroupTrait = GroupRole | 'banned' | 'kicked' | 'otherOwner';
type Status = 'going' | 'waitlisted' | 'pending' | 'cancelled' | 'rejected' | 'kicked';

interface Actor {
  name: string;
  signedIn: boolean;
  host?: boolean;
  /** Their row in the event, after `enter`. */
  status?: Status;
  invited?: boolean;
  /** For the group actors: their state in the event's group (only in a group world). */
  group?: GroupTrait;
  /** Puts the person in their state; runs in table order (the order matters for seats). */
  enter?: (w: WorldSetup, who: SignedUp) => Promise<void>;
}

interface WorldSetup {
  t: TestApp;
  eventId: string;
  host: SignedUp;
  call: (who: SignedUp | null, method: string, url: string, payload?: unknown) => Promise<Json>;
  invitationId?: string;
}

const apply = async (w: WorldSetup, who: SignedUp) => w.call(who, 'POST', `/v1/events/${w.eventId}/join`, {});
const decide = (w: WorldSetup, who: SignedUp, d: 'approve' | 'reject') =>
  w.call(w.host, 'POST', `/v1/events/${w.eventId}/applications/${who.userId}/${d}`);

/**
 * Table order is setup order. The world is a 2-seat event with host approval: the host holds one seat, `kicked`
 * and `left` held the other before giving it up, `participant` holds it now, `waitlisted` was accepted when full.
 * The host runs last, since several of the host's successes (cancel, kick, lock) change the event.
 */
const ACTORS: Actor[] = [
  {
    name: 'kicked',
    signedIn: true,
    status: 'kicked',
    enter: async (w, who) => {
      await apply(w, who);
      await decide(w, who, 'approve');
      await w.call(w.host, 'DELETE', `/v1/events/${w.eventId}/participants/${who.userId}`);
    },
  },
  {
    name: 'left',
    signedIn: true,
    status: 'cancelled',
    enter: async (w, who) => {
      await apply(w, who);
      await decide(w, who, 'approve');
      await w.call(who, 'POST', `/v1/events/${w.eventId}/leave`);
    },
  },
  {
    name: 'participant',
    signedIn: true,
    status: 'going',
    enter: async (w, who) => {
      await apply(w, who);
      await decide(w, who, 'approve');
    },
  },
  {
    name: 'waitlisted',
    signedIn: true,
    status: 'waitlisted',
    enter: async (w, who) => {
      await apply(w, who);
      await decide(w, who, 'approve');
    },
  },
  { name: 'requested', signedIn: true, status: 'pending', enter: (w, who) => apply(w, who) },
  {
    name: 'rejected',
    signedIn: true,
    status: 'rejected',
    enter: async (w, who) => {
      await apply(w, who);
      await decide(w, who, 'reject');
    },
  },
  {
    name: 'invited',
    signedIn: true,
    invited: true,
    enter: async (w, who) => {
      const inv = await w.call(w.host, 'POST', `/v1/events/${w.eventId}/invitations`, { userId: who.userId });
      w.invitationId = inv.id as string;
    },
  },
  { name: 'stranger', signedIn: true },
  { name: 'otherHost', signedIn: true },
  { name: 'anonymous', signedIn: false },
  // The admin comes before the owner and the host: the first of them to cancel the event wins.
  { name: 'groupMember', signedIn: true, group: 'member' },
  { name: 'groupAdmin', signedIn: true, group: 'admin' },
  { name: 'groupOwner', signedIn: true, group: 'owner' },
  { name: 'groupBanned', signedIn: true, group: 'banned' },
  { name: 'groupKicked', signedIn: true, group: 'kicked' },
  { name: 'otherGroupOwner', signedIn: true, group: 'otherOwner' },
  { name: 'host', signedIn: true, host: true, status: 'going' },
];

/**
 * The actor's role in the event's group: none for a standalone event; in a group world the host and the event's
 * actors (those with an `enter`) are plain members, the group actors what their trait says.
 */
function roleOf(a: Actor, w: World): GroupRole | null {
  if (!w.groupId) return null;
  if (a.group) return a.group === 'owner' || a.group === 'admin' || a.group === 'member' ? a.group : null;
  return a.host || a.enter ? 'member' : null;
}

/** Whether the actor may know the event exists: everyone for a public event; for a private one, those involved. */
function sees(a: Actor, w: World): boolean {
  if (w.vis === 'public') return true;
  if (!a.signedIn) return false;
  // Someone who left a group event sees it only as a member (checked through the role).
  const statuses = w.groupId
    ? ['going', 'waitlisted', 'pending']
    : ['going', 'waitlisted', 'pending', 'cancelled'];
  return Boolean(a.host || roleOf(a, w) || a.invited) || statuses.includes(a.status ?? '');
}
/** Edits and cancels the event: its host, and the owner and admins of its group. */
const moderates = (a: Actor, w: World) => Boolean(a.host) || ['owner', 'admin'].includes(roleOf(a, w) ?? '');
const active = (a: Actor) => ['going', 'waitlisted', 'pending'].includes(a.status ?? '');

type Outcome = { ok: true } | { code: ErrorCode };
const OK: Outcome = { ok: true };
const err = (code: ErrorCode): Outcome => ({ code });

interface World {
  vis: Vis;
  /** The event's group, in a group world. */
  groupId?: string;
  eventId: string;
  invitationId: string;
  people: Map<string, SignedUp>;
  host: SignedUp;
  participant: SignedUp;
  requested: SignedUp;
  otherEventId: string;
}

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

const SENSITIVE_KEY = /email|phone|password|token|secret|hash/i;

/** No body carries anybody's contact details or credentials, under any key or inside any string. */
function checkNoPersonalData(body: unknown, people: SignedUp[]): void {
  const text = JSON.stringify(body);
  for (const p of people) {
    expect(text).not.toContain(p.email);
    expect(text).not.toContain(p.accessToken);
  }
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}/${i}`));
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        expect(SENSITIVE_KEY.test(k), `${path}/${k}`).toBe(false);
        walk(x, `${path}/${k}`);
      }
    }
  };
  walk(body, '');
}

describe('events authorization matrix: every route × every actor × public and private', () => {
  let t: TestApp;
  const clock = new ManualClock();
  const people = new Map<string, SignedUp>();
  let otherEventId: string;
  let counter = 0;

  beforeAll(async () => {
    t = await buildTestApp({
      clock,
      env: {
        EVENT_CREATE_INTERVAL_SECONDS: '0',
        EVENT_CREATE_PER_DAY: '10000',
        ACCESS_TOKEN_TTL_SECONDS: '3600',
        GROUP_CREATE_PER_DAY: '10000',
      },
    });
    for (const a of ACTORS) if (a.signedIn) people.set(a.name, await signUpWithEmail(t));
    otherEventId = (await createEvent(t, { title: 'Another host’s run' }, people.get('otherHost'))).id;
    await createGroup(t, { name: 'Another crew' }, people.get('otherGroupOwner'));
  });
  afterAll(() => t.close());

  const call = async (who: SignedUp | null, method: string, url: string, payload?: unknown) => {
    const res = await t.app.inject({
      method: method as 'GET',
      url,
      ...(who ? { headers: who.headers } : {}),
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });
    return { status: res.statusCode, body: res.body ? (res.json() as Json) : null };
  };

  /** A fresh event with every actor in their state; private events are made private after the setup. */
  async function buildWorld(
    vis: Vis,
    startInMinutes: number,
    durationMinutes: number,
    /** More fields of the event, e.g. `{ groupId }` for the group actors. */
    fields: Record<string, unknown> = {},
  ): Promise<World> {
    const host = people.get('host')!;
    const event = await createEvent(
      t,
      {
        title: `Authz run ${++counter}`,
        ...times(t, startInMinutes, durationMinutes),
        capacity: 2,
        requiresApproval: true,
        ...fields,
      },
      host,
    );
    const setup: WorldSetup = {
      t,
      eventId: event.id,
      host,
      call: async (who, method, url, payload) => {
        const res = await call(who, method, url, payload);
        if (res.status >= 300)
          throw new Error(`setup ${method} ${url}: ${res.status} ${JSON.stringify(res.body)}`);
        return res.body;
      },
    };
    for (const a of ACTORS) if (a.enter) await a.enter(setup, people.get(a.name)!);
    if (vis === 'private')
      await setup.call(host, 'PATCH', `/v1/events/${event.id}`, { visibility: 'private' });
    return {
      vis,
      ...(typeof fields.groupId === 'string' ? { groupId: fields.groupId } : {}),
      eventId: event.id,
      invitationId: setup.invitationId!,
      people,
      host,
      participant: people.get('participant')!,
      requested: people.get('requested')!,
      otherEventId,
    };
  }

  /**
   * A fresh group of that visibility (public: open; private: invite-only) with the host, every actor with an
   * `enter` and the group actors in their states, and a world whose event is inside it (private in a private
   * group).
   */
  async function buildGroupWorld(vis: Vis, startInMinutes: number, durationMinutes: number): Promise<World> {
    const owner = people.get('groupOwner')!;
    const group = await createGroup(
      t,
      {
        name: `Authz crew ${++counter}`,
        ...(vis === 'private'
          ? { visibility: 'private', joinPolicy: 'invite_only' }
          : { joinPolicy: 'open' }),
      },
      owner,
    );
    const joining = ACTORS.filter(
      (a) => a.host || a.enter || ['member', 'admin', 'banned', 'kicked'].includes(a.group ?? ''),
    );
    const members = joining.map((a) => people.get(a.name)!);
    if (vis === 'private') await addInvited(t, group, members);
    else {
      for (const m of members) {
        const res = await joinGroup(t, group.id, m);
        if (res.statusCode !== 200) throw new Error(`join group: ${res.statusCode} ${res.body}`);
      }
    }
    const by = async (method: string, url: string, payload?: unknown) => {
      const res = await call(owner, method, `/v1/groups/${group.id}${url}`, payload);
      if (res.status >= 300)
        throw new Error(`setup ${method} ${url}: ${res.status} ${JSON.stringify(res.body)}`);
    };
    await by('PATCH', `/members/${people.get('groupAdmin')!.userId}`, { role: 'admin' });
    await by('POST', '/bans', { userId: people.get('groupBanned')!.userId });
    await by('DELETE', `/members/${people.get('groupKicked')!.userId}`);
    return buildWorld(vis, startInMinutes, durationMinutes, { groupId: group.id, visibility: vis });
  }

  /** Runs one route for every actor in table order, and checks each cell. */
  async function runRoute(route: Route, w: World): Promise<void> {
    const failures: string[] = [];
    for (const a of ACTORS) {
      const who = a.signedIn ? people.get(a.name)! : null;
      const expected: Outcome =
        !a.signedIn && route.auth === 'required'
          ? err('UNAUTHENTICATED')
          : route.scoped && !sees(a, w)
            ? err('NOT_FOUND')
            : route.outcome(a, w);
      const res = await call(who, route.method, route.url(w), route.body?.(w, a));
      const got = res.status < 300 ? 'ok' : `${res.status} ${res.body?.code}`;
      const want = 'ok' in expected ? 'ok' : `${ERROR_STATUS[expected.code]} ${expected.code}`;
      if (got !== want) {
        failures.push(`${a.name}: expected ${want}, got ${got}`);
        continue;
      }
      if (res.status < 300 && res.body !== null) {
        try {
          checkNoPersonalData(res.body, [...people.values()]);
          route.check?.(res.body, a, w);
        } catch (e) {
          failures.push(`${a.name}: ${(e as Error).message}`);
        }
      }
    }
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
    });

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
        const who = a.signedIn ? people.get(a.name)! : null;
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
  });

  it('a cancelled event refuses every change to everyone', async () => {
    for (const k of KINDS) {
      const w = await k.build(24 * 60, 120);
      expect((await call(w.host, 'DELETE', `/v1/events/${w.eventId}`)).status).toBe(204);
      expect(await successes(w), k.label).toEqual([]);
    }
  });

  it('objects of one event cannot be reached through another: invitations, applications, participants', async () => {
    const w = await buildWorld('public', 24 * 60, 120);
    const other = people.get('otherHost')!;
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
