import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { login, signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import { createEvent, join } from '../helpers/events.js';
import { addInvited, createGroup, withMembers } from '../helpers/groups.js';
import type { Json } from '../helpers/http.js';

const YEOUIDO = { lat: 37.5283, lng: 126.9326 };
const YEOUIDO_PARK = { lat: 37.5219, lng: 126.9245 }; // about 1 km away
const GANGNAM = { lat: 37.4979, lng: 127.0276 }; // about 9 km away
const HAEUNDAE = { lat: 35.1587, lng: 129.1604 }; // Busan

describe('discovery: search, filters, sorts, keyset pages, visibility, map, mine, recommendations', () => {
  let t: TestApp;
  const clock = new ManualClock();
  let host: SignedUp;
  beforeAll(async () => {
    t = await buildTestApp({
      clock,
      env: {
        EVENT_CREATE_INTERVAL_SECONDS: '0',
        EVENT_CREATE_PER_DAY: '10000',
        DISCOVERY_MAX_RADIUS_KM: '30',
      },
    });
  });
  beforeEach(async () => {
    host = await signUpWithEmail(t);
  });
  afterAll(() => t.close());

  /** A word no other test uses, so each test searches its own events only. */
  const word = () => `zq${randomBytes(4).toString('hex')}`;
  /** `hour`:00 in Seoul, `days` days from today (Seoul), as an ISO time. */
  const seoul = (days: number, hour: number, minutes = 0) => {
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Seoul' }).format(clock.now());
    const base = new Date(`${today}T00:00:00+09:00`).getTime() + days * 86_400_000;
    return new Date(base + hour * 3_600_000 + minutes * 60_000);
  };
  const at = (start: Date, hours = 2) => ({
    startsAt: start.toISOString(),
    endsAt: new Date(start.getTime() + hours * 3_600_000).toISOString(),
  });
  const make = (fields: Record<string, unknown>, who: SignedUp = host) =>
    createEvent(t, { ...at(seoul(3, 10)), ...fields }, who);
  const search = async (query: string, who?: SignedUp) => {
    const res = await t.app.inject({ url: `/v1/events?${query}`, ...(who ? { headers: who.headers } : {}) });
    return res;
  };
  const ids = async (query: string, who?: SignedUp): Promise<string[]> => {
    const res = await search(query, who);
    expect(res.statusCode, res.body).toBe(200);
    return ((res.json() as Json).items as Json[]).map((i) => i.id as string);
  };

  it('keyword: title, place and description, any case, Korean too; % and _ are plain characters', async () => {
    const w = word();
    const inTitle = await make({ title: `Evening ${w.toUpperCase()} run` });
    const inPlace = await make({ title: 'Plain title', placeName: `한강공원 ${w} 입구` });
    const inDescription = await make({ title: 'Another', description: `Meet at the ${w} sign` });
    const korean = await make({ title: `${w} 한강 야간 러닝` });
    await make({ title: 'Unrelated' });
    expect(new Set(await ids(`q=${w}`))).toEqual(
      new Set([inTitle.id, inPlace.id, inDescription.id, korean.id]),
    );
    expect(await ids(`q=${encodeURIComponent(`${w} 한강 야간`)}`)).toEqual([korean.id]);
    const percent = await make({ title: `${w} 100% fun` });
    expect(await ids(`q=${encodeURIComponent(`${w} 100%`)}`)).toEqual([percent.id]);
    expect(await ids(`q=${encodeURIComponent(`${w}_`)}`)).toEqual([]);
  });

  it('tags (any of), theme, kind, region and course length buckets', async () => {
    const w = word();
    const a = await make({
      title: `${w} a`,
      kind: 'run',
      theme: 'riverside',
      tags: ['running', 'night'],
      distanceM: 4000,
    });
    const b = await make({
      title: `${w} b`,
      kind: 'run',
      theme: 'mountain',
      tags: ['trail'],
      distanceM: 12_000,
    });
    const c = await make({ title: `${w} c`, kind: 'meetup', tags: ['board-games'], ...HAEUNDAE });
    expect(new Set(await ids(`q=${w}&tags=night&tags=trail`))).toEqual(new Set([a.id, b.id]));
    expect(await ids(`q=${w}&tags=RUNNING`)).toEqual([a.id]);
    expect(await ids(`q=${w}&theme=mountain`)).toEqual([b.id]);
    expect(await ids(`q=${w}&kind=meetup`)).toEqual([c.id]);
    expect(await ids(`q=${w}&region=gyeongnam`)).toEqual([c.id]);
    expect(new Set(await ids(`q=${w}&region=seoul`))).toEqual(new Set([a.id, b.id]));
    expect(await ids(`q=${w}&length=lt5`)).toEqual([a.id]);
    expect(await ids(`q=${w}&length=10to15`)).toEqual([b.id]);
    expect(new Set(await ids(`q=${w}&length=lt5&length=10to15`))).toEqual(new Set([a.id, b.id]));
    expect(await ids(`q=${w}&length=15plus`)).toEqual([]);
    const bad = await search(`theme=volcano`);
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as Json).code).toBe('VALIDATION_FAILED');
  });

  it('date range by calendar day in the configured time zone, and time-of-day bands in that zone', async () => {
    const w = word();
    const morning = await make({ title: `${w} m`, ...at(seoul(4, 7)) });
    const afternoon = await make({ title: `${w} a`, ...at(seoul(4, 13)) });
    const evening = await make({ title: `${w} e`, ...at(seoul(4, 19)) });
    // 01:30 Seoul on day 5 is still 16:30 UTC on day 4: the day filter must read Seoul time.
    const night = await make({ title: `${w} n`, ...at(seoul(5, 1, 30)) });
    const later = await make({ title: `${w} l`, ...at(seoul(6, 9)) });
    const day = (d: number) => seoul(d, 12).toISOString().slice(0, 10);
    expect(await ids(`q=${w}&from=${day(4)}&to=${day(4)}`)).toEqual([morning.id, afternoon.id, evening.id]);
    expect(await ids(`q=${w}&from=${day(5)}&to=${day(5)}`)).toEqual([night.id]);
    expect(await ids(`q=${w}&from=${day(6)}`)).toEqual([later.id]);
    expect(await ids(`q=${w}&timeOfDay=morning`)).toEqual([morning.id, later.id]);
    expect(await ids(`q=${w}&timeOfDay=evening&timeOfDay=night`)).toEqual([evening.id, night.id]);
    expect(await ids(`q=${w}&timeOfDay=afternoon`)).toEqual([afternoon.id]);
    // Exact times work as bounds too.
    expect(await ids(`q=${w}&from=${encodeURIComponent(seoul(4, 12).toISOString())}&to=${day(4)}`)).toEqual([
      afternoon.id,
      evening.id,
    ]);
    const bad = await search(`from=yesterday`);
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as Json).details[0].path).toBe('/query/from');
  });

  it('distance: within a radius of a point, nearest first, with the distance; a box; limits on the radius', async () => {
    const w = word();
    const here = await make({ title: `${w} here`, ...YEOUIDO });
    const park = await make({ title: `${w} park`, ...YEOUIDO_PARK });
    const gangnam = await make({ title: `${w} gangnam`, ...GANGNAM });
    await make({ title: `${w} busan`, ...HAEUNDAE });
    await make({ title: `${w} nowhere`, lat: null, lng: null });
    const near = `q=${w}&lat=${YEOUIDO.lat}&lng=${YEOUIDO.lng}`;
    const res = await search(`${near}&radiusKm=5`);
    const items = (res.json() as Json).items as Json[];
    expect(items.map((i) => i.id)).toEqual([here.id, park.id]);
    expect(items[0].awayM).toBe(0);
    expect(items[1].awayM).toBeGreaterThan(900);
    expect(items[1].awayM).toBeLessThan(1200);
    expect(await ids(`${near}&radiusKm=15`)).toEqual([here.id, park.id, gangnam.id]);
    // Sorted by start instead, on request.
    expect(new Set(await ids(`${near}&radiusKm=15&sort=soonest`))).toEqual(
      new Set([here.id, park.id, gangnam.id]),
    );
    // A box lists nearest to its centre first (the park is nearer the centre of this one).
    expect(await ids(`q=${w}&bbox=37.51,126.90,37.54,126.95`)).toEqual([park.id, here.id]);

    for (const [query, path] of [
      [`${near}&radiusKm=31`, '/query/radiusKm'],
      [`q=${w}&lat=37.5`, '/query/lat'],
      [`q=${w}&sort=nearest`, '/query/sort'],
      [`q=${w}&bbox=37.6,126.9,37.5,127`, '/query/bbox'],
      [`q=${w}&bbox=33,124,38,131`, '/query/bbox'],
      [`${near}&bbox=37.51,126.90,37.54,126.95`, '/query/bbox'],
    ] as const) {
      const bad = await search(query);
      expect(bad.statusCode, query).toBe(400);
      expect((bad.json() as Json).details[0].path, query).toBe(path);
    }
  });

  it('open only: not full, not started, applications open, not locked; cancelled and private events never listed', async () => {
    const w = word();
    const open = await make({ title: `${w} open`, capacity: 5 });
    const full = await make({ title: `${w} full`, capacity: 2 });
    expect((await join(t, full.id, await signUpWithEmail(t))).statusCode).toBe(200);
    const closedApplications = await make({
      title: `${w} deadline`,
      ...at(seoul(3, 10)),
      applyDeadline: new Date(clock.now().getTime() + 60 * 60_000).toISOString(),
    });
    const locked = await make({ title: `${w} locked` });
    expect(
      (await t.app.inject({ method: 'POST', url: `/v1/events/${locked.id}/confirm`, headers: host.headers }))
        .statusCode,
    ).toBe(200);
    const startsSoon = await make({
      title: `${w} soon`,
      ...at(new Date(clock.now().getTime() + 90 * 60_000)),
    });
    const cancelled = await make({ title: `${w} cancelled` });
    await t.app.inject({ method: 'DELETE', url: `/v1/events/${cancelled.id}`, headers: host.headers });
    const hidden = await make({ title: `${w} private`, visibility: 'private' });

    expect(new Set(await ids(`q=${w}`))).toEqual(
      new Set([open.id, full.id, closedApplications.id, locked.id, startsSoon.id]),
    );
    expect(new Set(await ids(`q=${w}&openOnly=true`))).toEqual(
      new Set([open.id, closedApplications.id, startsSoon.id]),
    );
    const cards = ((await search(`q=${w}`)).json() as Json).items as Json[];
    expect(cards.find((c) => c.id === full.id)).toMatchObject({ open: false, goingCount: 2, capacity: 2 });
    expect(cards.find((c) => c.id === locked.id)).toMatchObject({ open: false, locked: true });

    // Two hours later the deadline and the start have passed.
    clock.advance(2 * 60 * 60_000);
    expect(await ids(`q=${w}&openOnly=true`)).toEqual([open.id]);
    // A started event drops out of the default (upcoming) listing; a `from` in the past shows it.
    expect(await ids(`q=${w}`)).not.toContain(startsSoon.id);
    const yesterday = new Date(clock.now().getTime() - 86_400_000).toISOString();
    expect(await ids(`q=${w}&from=${encodeURIComponent(yesterday)}`)).toContain(startsSoon.id);

    // The private event is listed to nobody, its host included; it is in the host's own views.
    const again = { ...host, ...(await login(t, host.email, host.password)) };
    for (const who of [undefined, again, await signUpWithEmail(t)]) {
      expect(await ids(`q=${w}&from=${encodeURIComponent(yesterday)}`, who)).not.toContain(hidden.id);
      expect(await ids(`q=${w}&from=${encodeURIComponent(yesterday)}`, who)).not.toContain(cancelled.id);
    }
    const mine = await t.app.inject({ url: '/v1/me/events?view=hosting&limit=100', headers: again.headers });
    expect(((mine.json() as Json).items as Json[]).map((i) => i.id)).toContain(hidden.id);
  });

  it('keyset pages for every sort: complete, no repeats, stable while events are added; cursors bound to their filters', async () => {
    const w = word();
    const made: string[] = [];
    for (let i = 0; i < 7; i++) {
      const point = { lat: YEOUIDO.lat + i * 0.001, lng: YEOUIDO.lng };
      // Two events share each start time, so the id breaks ties.
      made.push((await make({ title: `${w} ${i}`, ...at(seoul(3, 8 + Math.floor(i / 2))), ...point })).id);
    }
    const walk = async (query: string) => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await search(`${query}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json() as Json;
        seen.push(...(body.items as Json[]).map((i) => i.id as string));
        cursor = body.nextCursor as string | null;
        if (pages === 0) {
          // An event created between pages, before the cursor, does not shift what comes next.
          await make({
            title: `${w} late ${randomBytes(3).toString('hex')}`,
            ...at(seoul(2, 8)),
            ...YEOUIDO,
          });
        }
        pages++;
      } while (cursor);
      return { seen, pages };
    };
    const soonest = await walk(`q=${encodeURIComponent(`${w} `)}&sort=soonest`);
    expect(soonest.pages).toBe(3);
    expect(soonest.seen).toHaveLength(7);
    expect(new Set(soonest.seen)).toEqual(new Set(made));

    const nearest = await walk(
      `q=${encodeURIComponent(`${w} `)}&lat=${YEOUIDO.lat}&lng=${YEOUIDO.lng}&radiusKm=2`,
    );
    expect(nearest.seen.filter((id) => made.includes(id))).toEqual(made);

    // Newest first: the events made during the earlier walks come before the seven, then the seven in reverse.
    const newest = await walk(`q=${encodeURIComponent(`${w} `)}&sort=newest`);
    expect(new Set(newest.seen).size).toBe(newest.seen.length);
    expect(newest.seen.filter((id) => made.includes(id))).toEqual([...made].reverse());
    expect(newest.seen.slice(-7)).toEqual([...made].reverse());

    const liked = await walk(`q=${encodeURIComponent(`${w} `)}&sort=liked`);
    expect(new Set(liked.seen).size).toBe(liked.seen.length);
    expect(new Set(liked.seen.filter((id) => made.includes(id)))).toEqual(new Set(made));

    // A cursor continues only the listing it came from.
    const first = (await search(`q=${w}&limit=2`)).json() as Json;
    expect(first.nextCursor).toEqual(expect.any(String));
    for (const query of [
      `q=${w}x&limit=2&cursor=${first.nextCursor}`,
      `q=${w}&sort=newest&limit=2&cursor=${first.nextCursor}`,
      `q=${w}&limit=2&cursor=not-a-cursor`,
      `q=${w}&limit=2&cursor=${Buffer.from(JSON.stringify(['soonest', "x'; drop table events", made[0], 'abc'])).toString('base64url')}`,
    ]) {
      const res = await search(query);
      expect(res.statusCode, query).toBe(400);
      expect((res.json() as Json).details[0].path).toBe('/query/cursor');
    }
  });

  it('map pins: light, nearest first, in a circle or a box, capped with a flag', async () => {
    const w = word();
    const here = await make({ title: `${w} here`, ...YEOUIDO, capacity: 4 });
    const park = await make({ title: `${w} park`, ...YEOUIDO_PARK });
    await make({ title: `${w} gangnam`, ...GANGNAM });
    // Never on the map: private or cancelled events.
    await make({ title: `${w} private`, ...YEOUIDO, visibility: 'private' });
    const called = await make({ title: `${w} cancelled`, ...YEOUIDO });
    await t.app.inject({ method: 'DELETE', url: `/v1/events/${called.id}`, headers: host.headers });
    const res = await t.app.inject({
      url: `/v1/events/map?q=${w}&lat=${YEOUIDO.lat}&lng=${YEOUIDO.lng}&radiusKm=3`,
      headers: host.headers,
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as Json;
    expect(body.truncated).toBe(false);
    expect(body.items).toEqual([
      {
        id: here.id,
        lat: YEOUIDO.lat,
        lng: YEOUIDO.lng,
        title: `${w} here`,
        startsAt: here.body.startsAt,
        goingCount: 1,
        capacity: 4,
        open: true,
        awayM: 0,
      },
      expect.objectContaining({ id: park.id, open: true }),
    ]);
    const capped = (
      await t.app.inject({
        url: `/v1/events/map?q=${w}&lat=${YEOUIDO.lat}&lng=${YEOUIDO.lng}&radiusKm=20&limit=2`,
      })
    ).json() as Json;
    expect(capped.truncated).toBe(true);
    expect((capped.items as Json[]).map((p) => p.id)).toEqual([here.id, park.id]);
    const box = (
      await t.app.inject({ url: `/v1/events/map?q=${w}&bbox=37.45,126.95,37.55,127.10` })
    ).json() as Json;
    expect((box.items as Json[]).map((p) => p.title)).toEqual([`${w} gangnam`]);
    const noArea = await t.app.inject({ url: `/v1/events/map?q=${w}` });
    expect(noArea.statusCode).toBe(400);
  });

  it('mine: hosting, going, waitlisted (and applications), invited, past', async () => {
    const me = await signUpWithEmail(t);
    const other = await signUpWithEmail(t);
    await make({ title: 'my own', ...at(seoul(3, 12)) }, me);
    const going = await make({ title: 'going' }, other);
    await join(t, going.id, me);
    const full = await make({ title: 'full', capacity: 2 }, other);
    await join(t, full.id, await signUpWithEmail(t));
    await join(t, full.id, me);
    const approval = await make({ title: 'approval', requiresApproval: true }, other);
    await join(t, approval.id, me);
    const invited = await make({ title: 'invited', visibility: 'private' }, other);
    const inv = await t.app.inject({
      method: 'POST',
      url: `/v1/events/${invited.id}/invitations`,
      headers: other.headers,
      payload: { userId: me.userId },
    });
    expect(inv.statusCode).toBe(201);
    const soon = await make(
      { title: 'soon', ...at(new Date(clock.now().getTime() + 30 * 60_000), 1) },
      other,
    );
    await join(t, soon.id, me);

    let headers = me.headers;
    const view = async (v: string) => {
      const res = await t.app.inject({ url: `/v1/me/events?view=${v}`, headers });
      expect(res.statusCode, res.body).toBe(200);
      return ((res.json() as Json).items as Json[]).map((i) => [i.title, i.viewer.status]);
    };
    expect(await view('hosting')).toEqual([['my own', 'host']]);
    expect(await view('going')).toEqual([
      ['soon', 'going'],
      ['going', 'going'],
      ['my own', 'going'],
    ]);
    expect(new Set((await view('waitlisted')).map((v) => v.join(':')))).toEqual(
      new Set(['full:waitlisted', 'approval:pending']),
    );
    expect(await view('invited')).toEqual([['invited', 'invited']]);
    expect(await view('past')).toEqual([]);
    clock.advance(2 * 60 * 60_000);
    // Access tokens last 15 minutes of the moved clock: sign in again.
    headers = (await login(t, me.email, me.password)).headers;
    expect(await view('past')).toEqual([['soon', 'going']]);
    expect((await t.app.inject({ url: '/v1/me/events?view=going' })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/v1/me/events?view=all', headers })).statusCode).toBe(400);
  });

  it('recommendations follow the preferred region, course length and interests, and fall back to the soonest', async () => {
    const me = await signUpWithEmail(t);
    const other = await signUpWithEmail(t);
    const w = word();
    const busanMatch = await make(
      {
        title: `${w} busan`,
        ...HAEUNDAE,
        theme: 'beach',
        tags: ['sunrise'],
        distanceM: 10_000,
        ...at(seoul(9, 6)),
      },
      other,
    );
    const seoulRun = await make(
      {
        title: `${w} seoul`,
        ...YEOUIDO,
        theme: 'riverside',
        tags: ['running'],
        distanceM: 10_000,
        ...at(seoul(9, 7)),
      },
      other,
    );
    const mine = await make({ title: `${w} mine`, ...YEOUIDO, tags: ['running'] }, me);
    const patch = await t.app.inject({
      method: 'PATCH',
      url: '/v1/me',
      headers: me.headers,
      payload: { preferredRegion: 'seoul', preferredDistanceKm: 10, interests: ['running', 'riverside'] },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    const res = await t.app.inject({ url: '/v1/me/events/recommended?limit=100', headers: me.headers });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as Json;
    expect(body.basedOn).toEqual({ region: 'seoul', distanceKm: 10, interests: ['running', 'riverside'] });
    const order = (body.items as Json[]).map((i) => i.id);
    expect(order[0]).toBe(seoulRun.id);
    expect(order).toContain(busanMatch.id);
    expect(order).not.toContain(mine.id);

    // With no preferences: the soonest open events.
    const fresh = await signUpWithEmail(t);
    const plain = (
      await t.app.inject({ url: '/v1/me/events/recommended?limit=5', headers: fresh.headers })
    ).json() as Json;
    const starts = (plain.items as Json[]).map((i) => i.startsAt as string);
    expect(starts).toEqual([...starts].sort());
    expect(plain.items.length).toBeGreaterThan(0);
  });

  it("group filter: members see the group's events, others its public ones; a private group is 404 to outsiders", async () => {
    const outsider = await signUpWithEmail(t);
    const crew = await createGroup(t, { name: 'Yeouido Crew', visibility: 'public', joinPolicy: 'open' });
    const owner = crew.owner;
    const [member] = await withMembers(t, crew.id, 1);
    const family = await createGroup(t, { name: 'Kim family', visibility: 'private' }, owner);
    await addInvited(t, family, [member!]);

    const w = word();
    const open = await make({ title: `${w} open`, groupId: crew.id }, owner);
    const membersOnly = await make(
      { title: `${w} members`, groupId: crew.id, visibility: 'private' },
      member,
    );
    const secret = await make({ title: `${w} secret`, groupId: family.id }, owner);
    expect(secret.body.visibility).toBe('private');

    expect(new Set(await ids(`groupId=${crew.id}`, member))).toEqual(new Set([open.id, membersOnly.id]));
    expect(new Set(await ids(`groupId=${crew.id}`, owner))).toEqual(new Set([open.id, membersOnly.id]));
    expect(await ids(`groupId=${crew.id}`, outsider)).toEqual([open.id]);
    expect(await ids(`groupId=${crew.id}`)).toEqual([open.id]);
    expect(await ids(`groupId=${family.id}`, member)).toEqual([secret.id]);
    for (const who of [outsider, undefined]) {
      const res = await search(`groupId=${family.id}`, who);
      expect(res.statusCode).toBe(404);
      expect((res.json() as Json).code).toBe('NOT_FOUND');
    }
    expect((await search(`groupId=33333333-3333-4333-8333-333333333333`, member)).statusCode).toBe(404);
    // Without the group filter, members-only events are not listed, even to members.
    expect(await ids(`q=${w}`, member)).toEqual([open.id]);
    const pins = await t.app.inject({
      url: `/v1/events/map?groupId=${family.id}&lat=${YEOUIDO.lat}&lng=${YEOUIDO.lng}&radiusKm=1`,
      headers: outsider.headers,
    });
    expect(pins.statusCode).toBe(404);

    // Leaving the private group: it is then 404 to the one who left, and its events with it.
    const left = await t.app.inject({
      method: 'POST',
      url: `/v1/groups/${family.id}/leave`,
      headers: member!.headers,
    });
    expect(left.statusCode).toBe(204);
    expect((await search(`groupId=${family.id}`, member)).statusCode).toBe(404);
    expect(await ids(`groupId=${family.id}`, owner)).toEqual([secret.id]);

    // A deleted group is 404 to everyone, its members included.
    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/v1/groups/${crew.id}`,
      headers: owner.headers,
    });
    expect(deleted.statusCode).toBe(204);
    for (const who of [owner, member, undefined]) {
      expect((await search(`groupId=${crew.id}`, who)).statusCode).toBe(404);
    }
  });
});
