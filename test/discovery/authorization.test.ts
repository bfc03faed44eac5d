import ICAL from 'ical.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACTORS,
  active,
  ActorFixture,
  err,
  MATRIX_ENV,
  OK,
  roleOf,
  sees,
  seesGroup,
  type Actor,
  type Outcome,
  type Vis,
  type World,
  type WorldHooks,
} from '../helpers/actors.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { ManualClock } from '../helpers/clock.js';
import { createEvent, times } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';

/**
 * The authorization matrix of discovery, reactions and calendar: every route of those modules, run by every
 * actor of the events matrix (test/helpers/actors.ts: signed out, a stranger, another event's host, someone
 * invited, an applicant, a participant, someone waitlisted, someone who left, someone removed, a declined
 * applicant, the host, and a group's member, admin and owner, someone banned from or removed from the group, and
 * another group's owner), on a public and a private standalone event and on an event inside a public and inside
 * a private group. Each cell states the exact answer, and each 2xx body is checked for what the actor may not
 * see: a private event in search, the map or recommendations; a private group's events or calendar; the waitlist
 * count of someone else's event; another person's feed or its secret; likes on something out of sight.
 *
 * Each world also holds an open event of the same host and visibility (no seat limit), for the lists that show
 * only open events. Some worlds are built with a history: every actor who could see the event or the group at
 * the time liked and bookmarked it, and every member made a calendar feed of the group, before the bans and
 * removals — so the lists of likes and the feed URLs show what happens when sight is lost.
 */

interface MWorld extends World {
  openEventId: string;
  /** The event's local (schedule time zone) month and day. */
  month: string;
  date: string;
  title: string;
  /** Who liked and bookmarked the event, and the group, while the world was built. */
  preLiked: Set<string>;
  preGroupLiked: Set<string>;
  /** Each member's own feed of the group, made while they were a member. */
  groupFeeds: Map<string, { id: string; path: string }>;
}

interface Kind {
  label: string;
  vis: Vis;
  group: boolean;
}
const KINDS: Kind[] = [
  { label: 'public', vis: 'public', group: false },
  { label: 'private', vis: 'private', group: false },
  { label: 'public group', vis: 'public', group: true },
  { label: 'private group', vis: 'private', group: true },
];

interface Route {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: (w: MWorld, a: Actor) => string;
  body?: (w: MWorld, a: Actor) => unknown;
  auth: 'required' | 'optional';
  /** Routes about the world's group run in group worlds only. */
  scope: 'event' | 'group';
  /** `shared`: read-only, on one world per kind; otherwise a fresh world, with or without a history. */
  world: 'shared' | 'fresh' | 'fresh-no-history';
  /** Fetched by a calendar app: no Authorization header, each from its own address. */
  signedOut?: boolean;
  outcome: (a: Actor, w: MWorld) => Outcome;
  check?: (body: Json, a: Actor, w: MWorld, nth: number) => void | Promise<void>;
}

const ids = (items: Json[]) => items.map((i) => i.id as string);
/** Whose calendar holds the event: the host and those holding a place (going, waitlisted, applied). */
const inMyCalendar = (a: Actor) => Boolean(a.host) || active(a);
/** A member of the world's group now: members see all its events. */
const member = (a: Actor, w: World) => roleOf(a, w) !== null;
/** Sees the group's event in group listings: every event for members, public ones for everyone else. */
const seesInGroup = (a: Actor, w: World) => w.vis === 'public' || member(a, w);
/** Everyone who sees it the way the world's history was made: the group before bans, the event at creation. */
const joinedGroup = (a: Actor) =>
  Boolean(a.host || a.enter) || ['owner', 'admin', 'member', 'banned', 'kicked'].includes(a.group ?? '');
const sawGroupThen = (a: Actor, w: World) => a.signedIn && (w.vis === 'public' || joinedGroup(a));
const sawEventThen = (a: Actor, w: World) => a.signedIn && (!w.groupId || w.vis === 'public' || member(a, w));
/**
 * The count after the actor's request, in a run where each actor who `acts` sets (+1) or clears (-1) their
 * reaction, starting from those in `pre`: a reaction set twice counts once, one never set is not taken away.
 */
function countAfter(a: Actor, pre: Set<string>, acts: (x: Actor) => boolean, delta: 1 | -1): number {
  const done = new Set(pre);
  for (const x of ACTORS.slice(0, ACTORS.indexOf(a) + 1).filter(acts)) {
    if (delta === 1) done.add(x.name);
    else done.delete(x.name);
  }
  return done.size;
}
function uidsOf(text: string): string[] {
  const calendar = new ICAL.Component(ICAL.parse(text));
  return calendar
    .getAllSubcomponents('vevent')
    .map((v) => String(v.getFirstPropertyValue('uid')).replace(/@moim$/, ''));
}
const daysItems = (body: Json): Json[] => (body.days as Json[]).flatMap((d) => d.items as Json[]);

describe('discovery, reactions and calendar authorization matrix: every route × every actor × public and private', () => {
  let t: TestApp;
  const clock = new ManualClock();
  let fx: ActorFixture;
  /** Every signed-in actor's own calendar feed (URL path), made once: the secret is the credential. */
  const ownFeeds = new Map<string, { id: string; path: string }>();
  /** Every feed id each actor made, whichever world: their list must hold nothing else. */
  const feedIds = new Map<string, Set<string>>();
  let counter = 0;
  const noteFeed = (name: string, id: string) => {
    if (!feedIds.has(name)) feedIds.set(name, new Set());
    feedIds.get(name)!.add(id);
  };

  beforeAll(async () => {
    t = await buildTestApp({ clock, env: { ...MATRIX_ENV, CALENDAR_FEED_FETCHES_PER_HOUR: '10000' } });
    fx = new ActorFixture(t);
    await fx.setUp();
    for (const a of ACTORS.filter((x) => x.signedIn)) {
      const feed = await fx.must(fx.person(a.name), 'POST', '/v1/me/calendar/feeds', {});
      ownFeeds.set(a.name, { id: feed.id, path: new URL(feed.url).pathname });
      noteFeed(a.name, feed.id);
    }
  }, 600_000);
  afterAll(() => t.close());

  /** A world of that kind, starting `startInMinutes` from now; with a history when asked. */
  async function build(
    kind: Kind,
    history: boolean,
    startInMinutes = 24 * 60,
    duration = 120,
  ): Promise<MWorld> {
    const likedBy = (target: string) => async () => {
      const liked = new Set<string>();
      for (const a of ACTORS.filter((x) => x.signedIn)) {
        const who = fx.person(a.name);
        const [like, bookmark] = [
          await fx.call(who, 'PUT', `${target}/like`),
          await fx.call(who, 'PUT', `${target}/bookmark`),
        ];
        expect(like.status, `${a.name} likes ${target}`).toBe(bookmark.status);
        if (like.status === 200) liked.add(a.name);
      }
      return liked;
    };
    let preLiked = new Set<string>();
    let preGroupLiked = new Set<string>();
    const groupFeeds = new Map<string, { id: string; path: string }>();
    const hooks: WorldHooks = history
      ? {
          onGroup: async (groupId) => {
            preGroupLiked = await likedBy(`/v1/groups/${groupId}`)();
            for (const a of ACTORS.filter(joinedGroup)) {
              const feed = await fx.must(fx.person(a.name), 'POST', '/v1/me/calendar/feeds', { groupId });
              groupFeeds.set(a.name, { id: feed.id, path: new URL(feed.url).pathname });
              noteFeed(a.name, feed.id);
            }
          },
          onEvent: async (eventId) => {
            preLiked = await likedBy(`/v1/events/${eventId}`)();
          },
        }
      : {};
    const start = new Date(t.infra.clock.now().getTime() + startInMinutes * 60_000);
    const w = kind.group
      ? await fx.buildGroupWorld(kind.vis, startInMinutes, duration, hooks)
      : await fx.buildWorld(kind.vis, startInMinutes, duration, {}, hooks);
    const open = await createEvent(
      t,
      {
        title: `Open run ${++counter}`,
        ...times(t, startInMinutes + 60, 60),
        visibility: kind.vis,
        ...(w.groupId ? { groupId: w.groupId } : {}),
      },
      w.host,
    );
    const local = new Date(start.getTime() + 9 * 3_600_000).toISOString(); // KST, the schedule time zone
    const title = (await fx.must(w.host, 'GET', `/v1/events/${w.eventId}`)).title as string;
    const world: MWorld = {
      ...w,
      openEventId: open.id,
      month: local.slice(0, 7),
      date: local.slice(0, 10),
      title,
      preLiked,
      preGroupLiked,
      groupFeeds,
    };
    if (history) {
      // The history is what the actors' traits say it is (a like on something out of sight would be a hole).
      const names = (f: (a: Actor) => boolean) => ACTORS.filter(f).map((a) => a.name);
      expect([...preLiked].sort()).toEqual(names((a) => sawEventThen(a, world)).sort());
      if (world.groupId)
        expect([...preGroupLiked].sort()).toEqual(names((a) => sawGroupThen(a, world)).sort());
    }
    return world;
  }

  const ROUTES: Route[] = [
    // discovery
    {
      name: 'GET /events?q (search)',
      method: 'GET',
      url: (w) => `/v1/events?q=${encodeURIComponent(w.title)}&limit=100`,
      auth: 'optional',
      scope: 'event',
      world: 'shared',
      outcome: () => OK,
      check: (body, _a, w) => {
        // Without a group filter only public events are listed, whoever asks.
        expect(ids(body.items).includes(w.eventId)).toBe(w.vis === 'public');
        for (const item of body.items as Json[]) expect(item.visibility).toBe('public');
        expect(body.nextCursor).toBeNull();
      },
    },
    {
      name: 'GET /events?groupId',
      method: 'GET',
      url: (w) => `/v1/events?groupId=${w.groupId}&limit=100`,
      auth: 'optional',
      scope: 'group',
      world: 'shared',
      outcome: (a, w) => (seesGroup(a, w) ? OK : err('NOT_FOUND')),
      check: (body, a, w) => {
        const listed = ids(body.items);
        expect(listed.includes(w.eventId)).toBe(seesInGroup(a, w));
        expect(listed.includes(w.openEventId)).toBe(seesInGroup(a, w));
        if (!member(a, w)) for (const item of body.items as Json[]) expect(item.visibility).toBe('public');
      },
    },
    {
      name: 'GET /events/map',
      method: 'GET',
      url: () => '/v1/events/map?lat=37.5283&lng=126.9326&radiusKm=1&limit=5000',
      auth: 'optional',
      scope: 'event',
      world: 'shared',
      outcome: () => OK,
      check: (body, _a, w) => {
        expect(body.truncated).toBe(false);
        const pins = ids(body.items);
        expect(pins.includes(w.eventId)).toBe(w.vis === 'public');
        expect(pins.includes(w.openEventId)).toBe(w.vis === 'public');
      },
    },
    ...(
      [
        ['hosting', (a: Actor) => Boolean(a.host)],
        ['going', (a: Actor) => a.status === 'going'],
        ['waitlisted', (a: Actor) => a.status === 'waitlisted' || a.status === 'pending'],
        ['invited', (a: Actor) => Boolean(a.invited)],
      ] as const
    ).map(([view, listed]): Route => ({
      name: `GET /me/events?view=${view}`,
      method: 'GET',
      url: () => `/v1/me/events?view=${view}&limit=100`,
      auth: 'required',
      scope: 'event',
      world: 'shared',
      outcome: () => OK,
      check: (body, a, w) => {
        expect(ids(body.items).includes(w.eventId)).toBe(listed(a));
        expect(body.nextCursor).toBeNull();
      },
    })),
    {
      name: 'GET /me/events/recommended',
      method: 'GET',
      url: () => '/v1/me/events/recommended?limit=100',
      auth: 'required',
      scope: 'event',
      world: 'shared',
      outcome: () => OK,
      check: (body, a, w) => {
        const picked = ids(body.items);
        // Open public events, not one's own, never a group's that banned the person.
        const banned = Boolean(w.groupId) && a.group === 'banned';
        expect(picked.includes(w.openEventId)).toBe(w.vis === 'public' && !a.host && !banned);
        expect(picked.includes(w.eventId)).toBe(false); // full
        for (const item of body.items as Json[]) expect(item.visibility).toBe('public');
      },
    },

    // reactions: set and cleared, on the event and on its group
    ...(['like', 'bookmark'] as const).flatMap((kind) =>
      (['events', 'groups'] as const).flatMap((target) =>
        (['PUT', 'DELETE'] as const).map((method): Route => {
          const on = method === 'PUT';
          const visible = (a: Actor, w: World) => (target === 'events' ? sees(a, w) : seesGroup(a, w));
          return {
            name: `${method} /${target}/:id/${kind}`,
            method,
            url: (w) => `/v1/${target}/${target === 'events' ? w.eventId : w.groupId}/${kind}`,
            auth: 'required',
            scope: target === 'events' ? 'event' : 'group',
            world: 'fresh',
            outcome: (a, w) => (visible(a, w) ? OK : err('NOT_FOUND')),
            // Exact counts: the history, plus each new one once, minus each one taken back. Those who lost
            // sight of the thing cannot take theirs back (404): it still counts.
            check: (body, a, w) => {
              expect(body[kind === 'like' ? 'liked' : 'bookmarked']).toBe(on);
              const pre = target === 'events' ? w.preLiked : w.preGroupLiked;
              const count = countAfter(a, pre, (x) => x.signedIn && visible(x, w), on ? 1 : -1);
              expect(body[kind === 'like' ? 'likeCount' : 'bookmarkCount']).toBe(count);
            },
          };
        }),
      ),
    ),
    ...(['likes', 'bookmarks'] as const).flatMap((list) =>
      (['event', 'group'] as const).map((type): Route => ({
        name: `GET /me/${list}?type=${type}`,
        method: 'GET',
        url: () => `/v1/me/${list}?type=${type}&limit=100`,
        auth: 'required',
        scope: type,
        world: 'shared',
        outcome: () => OK,
        // What I liked and can still see; never what I lost sight of.
        check: (body, a, w) => {
          const listed = ids(body.items);
          if (type === 'event') {
            expect(listed.includes(w.eventId)).toBe(w.preLiked.has(a.name) && sees(a, w));
          } else {
            expect(listed.includes(w.groupId!)).toBe(w.preGroupLiked.has(a.name) && seesGroup(a, w));
          }
        },
      })),
    ),

    // calendar: views
    {
      name: 'GET /me/calendar/months/:month',
      method: 'GET',
      url: (w) => `/v1/me/calendar/months/${w.month}`,
      auth: 'required',
      scope: 'event',
      world: 'shared',
      outcome: () => OK,
      check: (body, a, w) => expect(ids(daysItems(body)).includes(w.eventId)).toBe(inMyCalendar(a)),
    },
    {
      name: 'GET /me/calendar/days/:date',
      method: 'GET',
      url: (w) => `/v1/me/calendar/days/${w.date}`,
      auth: 'required',
      scope: 'event',
      world: 'shared',
      outcome: () => OK,
      check: (body, a, w) => {
        const item = (body.items as Json[]).find((i) => i.id === w.eventId);
        expect(Boolean(item)).toBe(inMyCalendar(a));
        if (item) expect(item.waitlistCount).toBe(a.host ? 1 : 0);
      },
    },
    {
      name: 'GET /groups/:id/calendar/months/:month',
      method: 'GET',
      url: (w) => `/v1/groups/${w.groupId}/calendar/months/${w.month}`,
      auth: 'optional',
      scope: 'group',
      world: 'shared',
      outcome: (a, w) => (seesGroup(a, w) ? OK : err('NOT_FOUND')),
      check: (body, a, w) => expect(ids(daysItems(body)).includes(w.eventId)).toBe(seesInGroup(a, w)),
    },
    {
      name: 'GET /groups/:id/calendar/days/:date',
      method: 'GET',
      url: (w) => `/v1/groups/${w.groupId}/calendar/days/${w.date}`,
      auth: 'optional',
      scope: 'group',
      world: 'shared',
      outcome: (a, w) => (seesGroup(a, w) ? OK : err('NOT_FOUND')),
      check: (body, a, w) => {
        const item = (body.items as Json[]).find((i) => i.id === w.eventId);
        expect(Boolean(item)).toBe(seesInGroup(a, w));
        // Who queues is the host's business, in a group calendar too.
        for (const i of body.items as Json[])
          expect(i.waitlistCount).toBe(a.host && i.id === w.eventId ? 1 : 0);
      },
    },
    ...(['PUT', 'DELETE'] as const).map((method): Route => ({
      name: `${method} /me/calendar/events/:id/color`,
      method,
      url: (w) => `/v1/me/calendar/events/${w.eventId}/color`,
      ...(method === 'PUT' ? { body: () => ({ color: '#FF8800' }) } : {}),
      auth: 'required',
      scope: 'event',
      world: 'shared',
      outcome: (a, w) => (sees(a, w) ? OK : err('NOT_FOUND')),
      check: (body, _a, w) => {
        expect(body.eventId).toBe(w.eventId);
        expect(body.myColor).toBe(method === 'PUT' ? '#ff8800' : null);
      },
    })),

    // calendar: feeds
    {
      name: 'GET /me/calendar/feeds',
      method: 'GET',
      url: () => '/v1/me/calendar/feeds',
      auth: 'required',
      scope: 'event',
      world: 'shared',
      outcome: () => OK,
      // My feeds only, and never a URL or a secret: those are shown once, on creation and rotation.
      check: (body, a) => {
        expect(JSON.stringify(body)).not.toMatch(/\.ics|url/i);
        const mine = feedIds.get(a.name)!;
        for (const f of body.items as Json[]) expect(mine.has(f.id), f.id).toBe(true);
        expect(ids(body.items)).toContain(ownFeeds.get(a.name)!.id);
      },
    },
    {
      name: 'GET my own feed URL',
      method: 'GET',
      url: (_w, a) => ownFeeds.get(a.name)?.path ?? `/v1/calendar/feeds/${'x'.repeat(43)}.ics`,
      auth: 'optional',
      scope: 'event',
      world: 'shared',
      signedOut: true,
      outcome: (a) => (a.signedIn ? OK : err('NOT_FOUND')),
      check: (text, a, w) => expect(uidsOf(text).includes(w.eventId)).toBe(inMyCalendar(a)),
    },
    {
      name: 'GET a group feed URL made while a member',
      method: 'GET',
      url: (w, a) => w.groupFeeds.get(a.name)?.path ?? `/v1/calendar/feeds/${'y'.repeat(43)}.ics`,
      auth: 'optional',
      scope: 'group',
      world: 'shared',
      signedOut: true,
      // Banned or removed: the URL died with the membership.
      outcome: (a, w) => (w.groupFeeds.has(a.name) && member(a, w) ? OK : err('NOT_FOUND')),
      check: (text, _a, w) => expect(uidsOf(text).sort()).toEqual([w.eventId, w.openEventId].sort()),
    },
    {
      name: 'POST /me/calendar/feeds (a group’s)',
      method: 'POST',
      url: () => '/v1/me/calendar/feeds',
      body: (w) => ({ groupId: w.groupId }),
      auth: 'required',
      scope: 'group',
      world: 'fresh-no-history',
      outcome: (a, w) => (!seesGroup(a, w) ? err('NOT_FOUND') : member(a, w) ? OK : err('NOT_A_MEMBER')),
      check: async (body, a, w) => {
        noteFeed(a.name, body.id);
        const res = await fx.call(null, 'GET', new URL(body.url).pathname, undefined, { fresh: true });
        expect(res.status).toBe(200);
        expect(uidsOf(res.text).sort()).toEqual([w.eventId, w.openEventId].sort());
      },
    },
    {
      name: 'POST /me/calendar/feeds/:id/rotate (the host’s group feed)',
      method: 'POST',
      url: (w) => `/v1/me/calendar/feeds/${w.groupFeeds.get('host')!.id}/rotate`,
      auth: 'required',
      scope: 'group',
      world: 'fresh',
      // Somebody else's feed does not exist, whoever asks.
      outcome: (a) => (a.host ? OK : err('NOT_FOUND')),
      check: async (body, _a, w) => {
        const old = await fx.call(null, 'GET', w.groupFeeds.get('host')!.path, undefined, { fresh: true });
        expect(old.status).toBe(404);
        const now = await fx.call(null, 'GET', new URL(body.url).pathname, undefined, { fresh: true });
        expect(now.status).toBe(200);
      },
    },
    {
      name: 'DELETE /me/calendar/feeds/:id (the host’s group feed)',
      method: 'DELETE',
      url: (w) => `/v1/me/calendar/feeds/${w.groupFeeds.get('host')!.id}`,
      auth: 'required',
      scope: 'group',
      world: 'fresh',
      outcome: (a) => (a.host ? OK : err('NOT_FOUND')),
    },
  ];

  async function runRoute(route: Route, w: MWorld): Promise<void> {
    const failures = await fx.runCells({
      method: route.method,
      url: (a) => route.url(w, a),
      ...(route.body ? { body: (a: Actor) => route.body!(w, a) } : {}),
      auth: route.auth,
      ...(route.signedOut ? { signedOut: true } : {}),
      outcome: (a) => route.outcome(a, w),
      ...(route.check ? { check: (body: Json, a: Actor, nth: number) => route.check!(body, a, w, nth) } : {}),
    });
    // Whoever may touch it: a rotated URL is dead for everyone but its owner's new one.
    expect(failures, `${route.name} on a ${w.vis}${w.groupId ? ' group' : ''} event`).toEqual([]);
  }

  const shared = new Map<string, MWorld>();
  beforeAll(async () => {
    for (const k of KINDS) shared.set(k.label, await build(k, true));
  }, 600_000);

  for (const route of ROUTES) {
    for (const k of KINDS.filter((x) => route.scope === 'event' || x.group)) {
      it(`${route.name} — ${k.label}`, async () => {
        const w = route.world === 'shared' ? shared.get(k.label)! : await build(k, route.world === 'fresh');
        await runRoute(route, w);
      }, 300_000);
    }
  }

  describe('after the end', () => {
    const past = new Map<string, MWorld>();
    beforeAll(async () => {
      // Short and soon: the clock moves as little as it can, since the access tokens live an hour.
      for (const k of KINDS) past.set(k.label, await build(k, false, 5, 5));
      clock.advance(12 * 60_000);
    }, 600_000);
    for (const k of KINDS) {
      it(`GET /me/events?view=past — ${k.label}`, async () => {
        const w = past.get(k.label)!;
        await runRoute(
          {
            name: 'GET /me/events?view=past',
            method: 'GET',
            url: () => '/v1/me/events?view=past&limit=100',
            auth: 'required',
            scope: 'event',
            world: 'shared',
            outcome: () => OK,
            check: (body, a) => expect(ids(body.items).includes(w.eventId)).toBe(a.status === 'going'),
          },
          w,
        );
      });
    }
  });
});
