import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapToPrecision } from '../../src/modules/locations/locations.policy.js';
import { distanceMeters } from '../../src/shared/geo.js';
import { login, signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { buildTestApp, servicesMode, type TestApp } from '../helpers/app.js';
import { ManualClock } from '../helpers/clock.js';
import { createEvent, join, times } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';
import { connectSocket, emitAck, nextEvent, type TestSocket } from '../helpers/sockets.js';

const PUSH_MS = 200;
const CITY_HALL = { lat: 37.5665, lng: 126.978 };
/** A point `dx`, `dy` metres east and north of City Hall. */
const near = (dx: number, dy: number) => ({
  lat: CITY_HALL.lat + dy / 111_320,
  lng: CITY_HALL.lng + dx / (111_320 * Math.cos((CITY_HALL.lat * Math.PI) / 180)),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Live location through real sockets, on both modes (memory grid or Redis GEO): opt-in shares, precision
 * applied before anything is stored or sent, policy-checked audiences, stop means stop, stale positions vanish,
 * rate limits, event pins, and the access log.
 */
describe('live location', () => {
  let t: TestApp;
  const clock = new ManualClock();
  const open: TestSocket[] = [];

  beforeAll(async () => {
    t = await buildTestApp({
      listen: true,
      clock,
      env: {
        EVENT_CREATE_INTERVAL_SECONDS: '0',
        LOCATION_PUSH_INTERVAL_MS: String(PUSH_MS),
        LOCATION_WRITE_BATCH_MS: '20',
        LOCATION_ACCESS_LOG_FLUSH_SECONDS: '1',
      },
    });
    await t.app.modules.locations.start();
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await t.app.modules.locations.stop();
    await t.close();
  });

  const connect = async (who: SignedUp, app = t) => {
    const s = await connectSocket(app.url, { token: who.accessToken });
    open.push(s);
    return s;
  };
  const share = (who: SignedUp, body: Json, app = t) =>
    app.app.inject({ method: 'POST', url: '/v1/me/location/shares', headers: who.headers, payload: body });
  const update = (s: TestSocket, p: { lat: number; lng: number }) => emitAck<Json>(s, 'location:update', p);
  const subscribe = async (s: TestSocket, layer: Json) => {
    const res = (await emitAck<Json>(s, 'location:subscribe', { layer })) as Json;
    return res;
  };
  /** Every frame a socket receives from now on. */
  const record = (s: TestSocket) => {
    const frames: Json[] = [];
    s.on('location:frame', (f: Json) => frames.push(f));
    return frames;
  };
  /** Resolves with the first frame (from now on) that satisfies `test`. */
  const frameWhere = (s: TestSocket, test: (f: Json) => boolean, timeoutMs = 5_000) =>
    new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => {
        s.off('location:frame', on);
        reject(new Error('no matching location:frame'));
      }, timeoutMs);
      const on = (f: Json) => {
        if (!test(f)) return;
        clearTimeout(timer);
        s.off('location:frame', on);
        resolve(f);
      };
      s.on('location:frame', on);
    });
  const shows = (userId: string) => (f: Json) => (f.people as Json[]).some((p) => p.userId === userId);
  const showsNot = (userId: string) => (f: Json) => !shows(userId)(f);

  /** An event whose guest shares with it and is seen on the host's map. */
  async function guestOnHostsMap(startInMinutes: number, precision: string) {
    const { eventId, host, guest } = await eventWithGuest(startInMinutes);
    const sHost = await connect(host);
    const sGuest = await connect(guest);
    const started = (await share(guest, { audience: { type: 'event', eventId }, precision })).json() as Json;
    await subscribe(sHost, { type: 'event', eventId });
    const seen = frameWhere(sHost, shows(guest.userId));
    await update(sGuest, near(300, 300));
    await seen;
    return { eventId, host, guest, sHost, sGuest, started };
  }

  /** The share is listed as ended for `reason`, and the person's updates now reach no share. */
  async function expectEnded(who: SignedUp, s: TestSocket, shareId: string, reason: string) {
    const list = (await t.app.inject({ url: '/v1/me/location/shares', headers: who.headers })).json() as Json;
    expect(list.items).toEqual([expect.objectContaining({ id: shareId, active: false, stopReason: reason })]);
    clock.advance(1_000);
    expect(await update(s, near(41, 41))).toEqual({ ok: true, data: { shares: 0 } });
  }

  /** An event starting in `startInMinutes`, with a second person going. */
  async function eventWithGuest(startInMinutes = 10, overrides: Json = {}) {
    const event = await createEvent(t, { ...times(t, startInMinutes, 60), capacity: 10, ...overrides });
    const guest = await signUpWithEmail(t);
    expect((await join(t, event.id, guest)).statusCode).toBeLessThan(300);
    await t.infra.outbox.drain();
    return { eventId: event.id, host: event.host, guest };
  }

  it('stores and sends nothing without a share; a nearby share is seen snapped to its precision', async () => {
    const a = await signUpWithEmail(t);
    const b = await signUpWithEmail(t);
    const sa = await connect(a);
    const sb = await connect(b);
    const exact = near(37, 61);

    // No share: the update is accepted but dropped.
    expect(await update(sa, exact)).toEqual({ ok: true, data: { shares: 0 } });
    const first = await subscribe(sb, { type: 'nearby', ...CITY_HALL, radiusM: 1000 });
    expect(first).toMatchObject({
      ok: true,
      data: { subscriptionId: expect.any(String), intervalMs: PUSH_MS },
    });
    expect((first.data.frame.people as Json[]).some((p) => p.userId === a.userId)).toBe(false);

    // Nearby is for strangers: never exact, and a duration is required.
    expect(
      (await share(a, { audience: { type: 'nearby' }, precision: 'exact', durationMinutes: 30 })).json(),
    ).toMatchObject({ code: 'LOCATION_PRECISION_NOT_ALLOWED' });
    expect((await share(a, { audience: { type: 'nearby' }, precision: '100m' })).statusCode).toBe(400);
    const started = await share(a, { audience: { type: 'nearby' }, precision: '100m', durationMinutes: 30 });
    expect(started.statusCode).toBe(201);
    expect(started.json()).toMatchObject({
      audience: { type: 'nearby', id: null },
      precision: '100m',
      active: true,
    });

    const seen = frameWhere(sb, shows(a.userId));
    clock.advance(1_000);
    expect(await update(sa, exact)).toEqual({ ok: true, data: { shares: 1 } });
    const frame = await seen;
    const person = (frame.people as Json[]).find((p) => p.userId === a.userId)!;
    const snapped = snapToPrecision(exact, '100m');
    expect(person).toMatchObject({ nickname: a.nickname, shareId: started.json().id, precision: '100m' });
    expect(person.lat).toBeCloseTo(snapped.lat, 4);
    expect(person.lng).toBeCloseTo(snapped.lng, 4);
    // What B received is the cell's centre, not where A is.
    expect(distanceMeters(person, exact)).toBeGreaterThan(10);
    expect(person.distanceM).toBeLessThanOrEqual(1000);
    // A pushed frame (encoded by Moim itself) has the shape of a subscribe's answer (encoded by Socket.IO).
    expect(Object.keys(frame).sort()).toEqual(['at', 'events', 'people', 'subscriptionId']);
    expect(new Date(frame.at as string).toISOString()).toBe(frame.at);
    expect(Object.keys(person).sort()).toEqual(
      ['distanceM', 'lat', 'lng', 'nickname', 'precision', 'shareId', 'updatedAt', 'userId'].sort(),
    );
    expect(Number.isInteger(person.distanceM)).toBe(true);
    expect(new Date(person.updatedAt as string).toISOString()).toBe(person.updatedAt);
    // Nobody sees themselves.
    const own = await connect(a);
    const mine = await subscribe(own, { type: 'nearby', ...CITY_HALL, radiusM: 1000 });
    expect((mine.data.frame.people as Json[]).some((p) => p.userId === a.userId)).toBe(false);
  });

  it.each([
    ['100m', 100, 12_000],
    ['1km', 1000, 16_000],
  ] as const)(
    'a %s share is only ever seen snapped: never the exact point, stable while its person moves inside the cell',
    async (precision, cellM, east) => {
      const a = await signUpWithEmail(t);
      const b = await signUpWithEmail(t);
      const sa = await connect(a);
      const sb = await connect(b);
      const centre = snapToPrecision(near(east, 0), precision);
      /** A point `fx`, `fy` cell sizes east and north of the cell's centre (inside the cell for |f| < 0.5). */
      const inCell = (fx: number, fy: number) => ({
        lat: centre.lat + (fy * cellM) / 111_320,
        lng: centre.lng + (fx * cellM) / (111_320 * Math.cos((centre.lat * Math.PI) / 180)),
      });
      const walk = [inCell(0.3, 0.2), inCell(-0.25, 0.1), inCell(0.1, -0.35), inCell(-0.4, -0.3)];
      // The walk really stays in one cell (the grid is the server's, the points are the test's).
      for (const p of walk) expect(snapToPrecision(p, precision)).toEqual(centre);

      await share(a, { audience: { type: 'nearby' }, precision, durationMinutes: 30 });
      const sub = await subscribe(sb, { type: 'nearby', ...centre, radiusM: 3 * cellM });
      expect(sub.ok).toBe(true);
      const frames = record(sb);
      const seen = frameWhere(sb, shows(a.userId));
      clock.advance(1_000);
      await update(sa, walk[0]!);
      await seen;
      for (const p of walk.slice(1)) {
        clock.advance(1_000);
        expect(await update(sa, p)).toEqual({ ok: true, data: { shares: 1 } });
        await sleep(2 * PUSH_MS);
      }
      // A new subscriber sees the same cell centre too.
      const again = await subscribe(sb, { type: 'nearby', ...centre, radiusM: 3 * cellM });
      const shown = [...frames, again.data.frame as Json]
        .flatMap((f) => f.people as Json[])
        .filter((p) => p.userId === a.userId);
      expect(shown.length).toBeGreaterThanOrEqual(2);
      for (const p of shown) {
        expect(p.precision).toBe(precision);
        // The cell's centre (Redis GEO stores it to within a metre)…
        expect(distanceMeters(p, centre)).toBeLessThan(2);
        // …and never one of the points the person actually was at.
        for (const exact of walk) expect(distanceMeters(p, exact)).toBeGreaterThan(0.15 * cellM);
      }
      // Moving inside the cell changes nothing anyone sees: one frame showed A, none moved it.
      expect(
        new Set(
          frames
            .filter(shows(a.userId))
            .map((f) => JSON.stringify((f.people as Json[]).find((p) => p.userId === a.userId)!.lat)),
        ).size,
      ).toBe(1);

      // Crossing into the next cell shows the next cell's centre.
      const next = snapToPrecision(inCell(1, 0), precision);
      expect(next).not.toEqual(centre);
      const moved = frameWhere(sb, (f) =>
        (f.people as Json[]).some((p) => p.userId === a.userId && distanceMeters(p, centre) > cellM / 2),
      );
      clock.advance(1_000);
      await update(sa, inCell(1, 0.1));
      const person = ((await moved).people as Json[]).find((p) => p.userId === a.userId)!;
      expect(distanceMeters(person, next)).toBeLessThan(2);
    },
  );

  it('stopping a share stops delivery at once: 0 further frames carry the position, late updates included', async () => {
    const a = await signUpWithEmail(t);
    const b = await signUpWithEmail(t);
    const sa = await connect(a);
    const sb = await connect(b);
    const started = (
      await share(a, { audience: { type: 'nearby' }, precision: '1km', durationMinutes: 30 })
    ).json() as Json;
    await subscribe(sb, { type: 'nearby', ...CITY_HALL, radiusM: 2000 });
    const seen = frameWhere(sb, shows(a.userId));
    await update(sa, near(10, 10));
    await seen;

    const gone = frameWhere(sb, showsNot(a.userId));
    const stopped = await t.app.inject({
      method: 'DELETE',
      url: `/v1/me/location/shares/${started.id}`,
      headers: a.headers,
    });
    expect(stopped.statusCode).toBe(200);
    expect(stopped.json()).toMatchObject({ id: started.id, active: false, stopReason: 'stopped' });
    const after = record(sb);
    // The sharer's app keeps sending (another node's stale copy would too): nothing of it is delivered.
    for (let i = 0; i < 3; i++) {
      clock.advance(1_000);
      const ack = (await update(sa, near(20 + i, 20))) as Json;
      expect(ack.ok).toBe(true);
      await sleep(PUSH_MS);
    }
    await gone;
    await sleep(3 * PUSH_MS);
    expect(after.filter(shows(a.userId))).toEqual([]);
    expect(after.length).toBeLessThanOrEqual(1);

    // Someone else's share cannot be stopped (or seen).
    const other = await t.app.inject({
      method: 'DELETE',
      url: `/v1/me/location/shares/${started.id}`,
      headers: b.headers,
    });
    expect(other.statusCode).toBe(404);
    const list = (await t.app.inject({ url: '/v1/me/location/shares', headers: a.headers })).json() as Json;
    expect(list.items).toEqual([expect.objectContaining({ id: started.id, active: false })]);
  });

  it('an event map is for the people going, from 30 minutes before the start to the end', async () => {
    const { eventId, host, guest } = await eventWithGuest(10);
    const stranger = await signUpWithEmail(t);
    const sHost = await connect(host);
    const sGuest = await connect(guest);
    const sStranger = await connect(stranger);

    const eventShare = { audience: { type: 'event', eventId }, precision: 'exact' };
    expect((await share(stranger, eventShare)).statusCode).toBe(404);
    expect(((await subscribe(sStranger, { type: 'event', eventId })).error as Json).code).toBe('NOT_FOUND');

    const started = await share(guest, eventShare);
    expect(started.statusCode).toBe(201);
    // The share ends with the event.
    const event = (
      await t.app.inject({ url: `/v1/events/${eventId}`, headers: host.headers })
    ).json() as Json;
    expect(started.json().endsAt).toBe(new Date(event.endsAt).toISOString());

    const sub = await subscribe(sHost, { type: 'event', eventId });
    expect(sub.ok).toBe(true);
    const seen = frameWhere(sHost, shows(guest.userId));
    const exact = near(-120, 45);
    expect(await update(sGuest, exact)).toEqual({ ok: true, data: { shares: 1 } });
    const person = ((await seen).people as Json[]).find((p) => p.userId === guest.userId)!;
    expect(person.lat).toBeCloseTo(exact.lat, 5);
    expect(person.lng).toBeCloseTo(exact.lng, 5);
    expect(person.distanceM).toEqual(expect.any(Number));

    // An event 2 hours away: its map is not open yet.
    const later = await eventWithGuest(120);
    const notYet = await share(later.guest, {
      audience: { type: 'event', eventId: later.eventId },
      precision: 'exact',
    });
    expect(notYet.statusCode).toBe(409);
    expect(notYet.json()).toMatchObject({
      code: 'LOCATION_SHARE_NOT_OPEN',
      details: { opensAt: expect.any(String) },
    });
    const sLater = await connect(later.host);
    expect(((await subscribe(sLater, { type: 'event', eventId: later.eventId })).error as Json).code).toBe(
      'LOCATION_SHARE_NOT_OPEN',
    );
  });

  it('leaving the event ends the share and the subscription; the sharer is told', async () => {
    const { eventId, host, guest, sGuest, sHost, started } = await guestOnHostsMap(5, '100m');
    await share(host, { audience: { type: 'event', eventId }, precision: 'exact' });
    await subscribe(sGuest, { type: 'event', eventId });

    const ended = nextEvent<Json>(sGuest, 'location:share_ended');
    const unsubscribed = nextEvent<Json>(sGuest, 'location:unsubscribed');
    const gone = frameWhere(sHost, showsNot(guest.userId));
    const left = await t.app.inject({
      method: 'POST',
      url: `/v1/events/${eventId}/leave`,
      headers: guest.headers,
    });
    expect(left.statusCode).toBeLessThan(300);
    await t.infra.outbox.drain();
    expect(await ended).toEqual({ shareId: started.id, reason: 'audience_left' });
    expect(await unsubscribed).toMatchObject({ reason: 'audience_left' });
    await gone;
    // Updates after leaving reach nobody.
    clock.advance(1_000);
    expect(await update(sGuest, near(301, 301))).toEqual({ ok: true, data: { shares: 0 } });
  });

  it("leaving the event between a share's check and its write: the share is refused", async () => {
    const { eventId, guest } = await eventWithGuest(5);
    // The check passes, and then the guest leaves, before the share is written.
    const repo = t.app.modules.locations.repo;
    const check = repo.eventWindow.bind(repo);
    repo.eventWindow = async (...args) => {
      const window = await check(...args);
      const left = await t.app.inject({
        method: 'POST',
        url: `/v1/events/${eventId}/leave`,
        headers: guest.headers,
      });
      expect(left.statusCode).toBeLessThan(300);
      return window;
    };
    try {
      const started = await share(guest, { audience: { type: 'event', eventId }, precision: 'exact' });
      expect(started.statusCode).toBe(404);
    } finally {
      repo.eventWindow = check;
    }
    const list = (
      await t.app.inject({ url: '/v1/me/location/shares', headers: guest.headers })
    ).json() as Json;
    expect(list.items).toEqual([]);
  });

  it("rescheduled between a share's check and its write: the share ends at the new end", async () => {
    const { eventId, host, guest } = await eventWithGuest(10);
    const sooner = times(t, 10, 30);
    const repo = t.app.modules.locations.repo;
    const check = repo.eventWindow.bind(repo);
    repo.eventWindow = async (...args) => {
      const window = await check(...args);
      if (args[2] !== guest.userId) return window; // the reschedule's own reads
      const edited = await t.app.inject({
        method: 'PATCH',
        url: `/v1/events/${eventId}`,
        headers: host.headers,
        payload: { endsAt: sooner.endsAt },
      });
      expect(edited.statusCode).toBe(200);
      await t.infra.outbox.drain(); // the reschedule's own handling of shares is over before this share is written
      return window;
    };
    try {
      const started = await share(guest, { audience: { type: 'event', eventId }, precision: 'exact' });
      expect(started.statusCode).toBe(201);
      expect((started.json() as Json).endsAt).toBe(sooner.endsAt);
    } finally {
      repo.eventWindow = check;
    }
  });

  it('cancelling the event ends its shares with event_cancelled', async () => {
    const { eventId, host, guest, sGuest, started } = await guestOnHostsMap(20, 'exact');

    const ended = nextEvent<Json>(sGuest, 'location:share_ended');
    const cancelled = await t.app.inject({
      method: 'DELETE',
      url: `/v1/events/${eventId}`,
      headers: host.headers,
    });
    expect(cancelled.statusCode).toBe(204);
    await t.infra.outbox.drain();
    expect(await ended).toEqual({ shareId: started.id, reason: 'event_cancelled' });
    await expectEnded(guest, sGuest, started.id as string, 'event_cancelled');
  });

  it('rescheduling the event moves the end of the shares that last until it; moved out of its window, they end', async () => {
    const { eventId, host, guest } = await eventWithGuest(10);
    const sHost = await connect(host);
    const sGuest = await connect(guest);
    const untilEnd = (
      await share(guest, { audience: { type: 'event', eventId }, precision: 'exact' })
    ).json() as Json;
    const forTwenty = (
      await share(host, { audience: { type: 'event', eventId }, precision: 'exact', durationMinutes: 20 })
    ).json() as Json;
    const oldEnd = new Date(untilEnd.endsAt as string).getTime();
    const sub = await subscribe(sHost, { type: 'event', eventId });
    expect(sub.ok).toBe(true);
    const closed: Json[] = [];
    sHost.on('location:unsubscribed', (e: Json) => closed.push(e));

    const later = times(t, 10, 120);
    const edited = await t.app.inject({
      method: 'PATCH',
      url: `/v1/events/${eventId}`,
      headers: host.headers,
      payload: { endsAt: later.endsAt },
    });
    expect(edited.statusCode).toBe(200);
    await t.infra.outbox.drain();
    const mine = async (who: SignedUp) =>
      ((await t.app.inject({ url: '/v1/me/location/shares', headers: who.headers })).json() as Json)
        .items as Json[];
    expect((await mine(guest)).find((s) => s.id === untilEnd.id)).toMatchObject({
      active: true,
      endsAt: later.endsAt,
    });
    // The share that asked for 20 minutes keeps its own, earlier end.
    expect((await mine(host)).find((s) => s.id === forTwenty.id)!.endsAt).toBe(forTwenty.endsAt);

    // Past the old end (the test's tokens have expired by then; the sockets stay): the share and the map are
    // still on, and positions still flow.
    clock.advance(oldEnd - clock.now().getTime() + 60_000);
    await sleep(5 * PUSH_MS);
    const seen = frameWhere(sHost, shows(guest.userId));
    expect(await update(sGuest, near(10, -10))).toEqual({ ok: true, data: { shares: 1 } });
    await seen;
    expect(closed).toEqual([]);

    // Moved to next week: its map is closed until then, so the shares to it end.
    const other = await eventWithGuest(10);
    const sOther = await connect(other.guest);
    const moved = (
      await share(other.guest, { audience: { type: 'event', eventId: other.eventId }, precision: '100m' })
    ).json() as Json;
    const ended = nextEvent<Json>(sOther, 'location:share_ended');
    const nextWeek = times(t, 7 * 24 * 60, 60);
    expect(
      (
        await t.app.inject({
          method: 'PATCH',
          url: `/v1/events/${other.eventId}`,
          headers: other.host.headers,
          payload: nextWeek,
        })
      ).statusCode,
    ).toBe(200);
    await t.infra.outbox.drain();
    expect(await ended).toEqual({ shareId: moved.id, reason: 'event_rescheduled' });
    await expectEnded(other.guest, sOther, moved.id as string, 'event_rescheduled');
  });

  it('ending the session or deleting the account ends its shares', async () => {
    const a = await signUpWithEmail(t);
    const b = await signUpWithEmail(t);
    const sb = await connect(b);
    await subscribe(sb, { type: 'nearby', ...CITY_HALL, radiusM: 3000 });

    const sa = await connect(a);
    const s1 = (
      await share(a, { audience: { type: 'nearby' }, precision: '100m', durationMinutes: 30 })
    ).json() as Json;
    const seen = frameWhere(sb, shows(a.userId));
    await update(sa, near(-500, 0));
    await seen;
    const gone = frameWhere(sb, showsNot(a.userId));
    expect(
      (await t.app.inject({ method: 'POST', url: '/v1/auth/logout', headers: a.headers })).statusCode,
    ).toBe(204);
    await t.infra.outbox.drain();
    await gone;

    const again = await login(t, a.email, a.password);
    const list = (
      await t.app.inject({ url: '/v1/me/location/shares', headers: again.headers })
    ).json() as Json;
    expect(list.items).toEqual([
      expect.objectContaining({ id: s1.id, active: false, stopReason: 'session_ended' }),
    ]);

    // The ended session can no longer share.
    expect(
      (await share(a, { audience: { type: 'nearby' }, precision: '1km', durationMinutes: 30 })).statusCode,
    ).toBe(401);
    const s3 = await t.app.inject({
      method: 'POST',
      url: '/v1/me/location/shares',
      headers: again.headers,
      payload: { audience: { type: 'nearby' }, precision: '1km', durationMinutes: 30 },
    });
    expect(s3.statusCode).toBe(201);
    const del = await t.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: again.headers,
      payload: { password: a.password },
    });
    expect(del.statusCode).toBe(200);
    await t.infra.outbox.drain();
    const { locationShares } = await import('../../src/modules/locations/locations.schema.js');
    const { eq } = await import('drizzle-orm');
    const [row] = await t.infra.database.db
      .select()
      .from(locationShares)
      .where(eq(locationShares.id, s3.json().id as string));
    // Deleting the account ends its sessions first, which ends the share; either way it is over.
    expect(row!.stoppedAt).not.toBeNull();
    expect(['session_ended', 'account_deleted']).toContain(row!.stopReason);
  });

  it('stale positions vanish after 2 minutes without an update', async () => {
    const a = await signUpWithEmail(t);
    const b = await signUpWithEmail(t);
    const sa = await connect(a);
    const sb = await connect(b);
    await share(a, { audience: { type: 'nearby' }, precision: '100m', durationMinutes: 60 });
    await subscribe(sb, { type: 'nearby', ...near(2000, 2000), radiusM: 500 });
    const seen = frameWhere(sb, shows(a.userId));
    await update(sa, near(2000, 2010));
    await seen;

    clock.advance(60_000);
    await sleep(3 * PUSH_MS);
    const frames = record(sb);
    expect(frames.filter(showsNot(a.userId))).toEqual([]);
    const gone = frameWhere(sb, showsNot(a.userId));
    clock.advance(61_000);
    await gone;
    // A fresh update brings it back.
    const back = frameWhere(sb, shows(a.userId));
    await update(sa, near(2000, 2010));
    await back;
  });

  it('takes at most one update per second per person, with no burst, and validates positions', async () => {
    const a = await signUpWithEmail(t);
    const sa = await connect(a);
    const refused = async (): Promise<number> => {
      const res = (await update(sa, CITY_HALL)) as Json;
      expect(res).toMatchObject({
        ok: false,
        error: { code: 'LOCATION_RATE_LIMITED', details: { retryAfterMs: expect.any(Number) } },
      });
      return res.error.details.retryAfterMs as number;
    };
    // A long pause earns no burst: the second update at once is refused.
    clock.advance(5_000);
    expect((await update(sa, CITY_HALL)).ok).toBe(true);
    const wait = await refused();
    expect(wait).toBeGreaterThan(700);
    expect(wait).toBeLessThanOrEqual(800);
    // Up to 200 ms early is let through (jitter)…
    clock.advance(700);
    expect(await refused()).toBeLessThanOrEqual(100);
    clock.advance(100);
    expect((await update(sa, CITY_HALL)).ok).toBe(true);
    // …and paid back by the next one, so the average never passes one a second.
    clock.advance(900);
    expect(await refused()).toBeLessThanOrEqual(100);
    clock.advance(100);
    expect((await update(sa, CITY_HALL)).ok).toBe(true);

    clock.advance(2_000);
    for (const bad of [{ lat: 91, lng: 0 }, { lat: 0, lng: 181 }, { lat: '37', lng: 127 }, { lat: 37 }, {}]) {
      expect(((await emitAck<Json>(sa, 'location:update', bad)) as Json).error.code).toBe(
        'VALIDATION_FAILED',
      );
    }
    const tooFar = (await subscribe(sa, { type: 'nearby', ...CITY_HALL, radiusM: 40_000 })) as Json;
    expect(tooFar.error.code).toBe('VALIDATION_FAILED');
    expect((await share(a, { audience: { type: 'event' }, precision: 'exact' })).json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: [{ path: '/audience/eventId' }],
    });
    // Groups: nobody is a member of a group that does not exist.
    const groupId = '00000000-0000-4000-8000-000000000001';
    expect(((await subscribe(sa, { type: 'group', groupId })).error as Json).code).toBe('NOT_FOUND');
    expect(
      (await share(a, { audience: { type: 'group', groupId }, precision: 'exact', durationMinutes: 5 }))
        .statusCode,
    ).toBe(404);
    // At most 4 maps per socket, watched concurrently or not; unsubscribing frees a place.
    const layer = { type: 'nearby', ...CITY_HALL, radiusM: 100 };
    const subs = await Promise.all([1, 2, 3, 4, 5].map(() => subscribe(sa, layer)));
    expect(subs.filter((r) => r.ok)).toHaveLength(4);
    expect(subs.find((r) => !r.ok)!.error.code).toBe('LOCATION_SUBSCRIPTION_LIMIT');
    const first = subs.find((r) => r.ok)!.data.subscriptionId as string;
    expect(await emitAck(sa, 'location:unsubscribe', { subscriptionId: first })).toEqual({
      ok: true,
      data: {},
    });
    expect(
      ((await emitAck<Json>(sa, 'location:unsubscribe', { subscriptionId: first })) as Json).error.code,
    ).toBe('NOT_FOUND');
    expect((await subscribe(sa, layer)).ok).toBe(true);
  });

  it('shows open events nearby: pins appear, and disappear when an event fills', async () => {
    const spot = near(-3000, -3000);
    const viewer = await signUpWithEmail(t);
    const sv = await connect(viewer);
    const event = await createEvent(t, { ...times(t, 180), ...spot, capacity: 2 });
    const far = await createEvent(t, { ...times(t, 180), ...near(-3000, 3000) });
    const sub = (await subscribe(sv, { type: 'nearby', ...spot, radiusM: 1000 })) as Json;
    const pins = sub.data.frame.events as Json[];
    expect(pins.map((p) => p.id)).toContain(event.id);
    expect(pins.map((p) => p.id)).not.toContain(far.id);
    expect(pins.find((p) => p.id === event.id)).toMatchObject({
      goingCount: 1,
      capacity: 2,
      distanceM: expect.any(Number),
    });

    const filled = frameWhere(sv, (f) => !(f.events as Json[]).some((p) => p.id === event.id));
    const guest = await signUpWithEmail(t);
    expect((await join(t, event.id, guest)).statusCode).toBeLessThan(300);
    await filled;
    const reopened = frameWhere(sv, (f) => (f.events as Json[]).some((p) => p.id === event.id));
    await t.app.inject({ method: 'POST', url: `/v1/events/${event.id}/leave`, headers: guest.headers });
    await reopened;
  });

  it('records who received whose position, readable by the person it was about', async () => {
    const a = await signUpWithEmail(t);
    const b = await signUpWithEmail(t);
    const sa = await connect(a);
    const sb = await connect(b);
    const s = (
      await share(a, { audience: { type: 'nearby' }, precision: '100m', durationMinutes: 30 })
    ).json() as Json;
    await subscribe(sb, { type: 'nearby', ...near(5000, 0), radiusM: 1000 });
    const seen = frameWhere(sb, shows(a.userId));
    await update(sa, near(5000, 100));
    await seen;

    const log = (
      await t.app.inject({ url: '/v1/me/location/access-log', headers: a.headers })
    ).json() as Json;
    expect(log.items).toEqual([
      expect.objectContaining({
        viewer: { id: b.userId, nickname: b.nickname },
        shareId: s.id,
        audience: 'nearby',
        deliveries: expect.any(Number),
      }),
    ]);
    // B's own log says nothing about A.
    const theirs = (
      await t.app.inject({ url: '/v1/me/location/access-log', headers: b.headers })
    ).json() as Json;
    expect(theirs.items).toEqual([]);

    // Retention: rows older than LOCATION_ACCESS_LOG_DAYS are purged by the daily job.
    clock.advance(31 * 86_400_000);
    try {
      expect(await t.app.modules.locations.service.purgeAccessLog()).toBeGreaterThan(0);
    } finally {
      clock.advance(-31 * 86_400_000);
    }
    const after = (
      await t.app.inject({ url: '/v1/me/location/access-log', headers: a.headers })
    ).json() as Json;
    expect(after.items).toEqual([]);
  });

  it('a delivery is in the access log within the flush interval; its span is completed when it closes', async () => {
    const { locationAccessLog } = await import('../../src/modules/locations/locations.schema.js');
    const { eq } = await import('drizzle-orm');
    const a = await signUpWithEmail(t);
    const b = await signUpWithEmail(t);
    const sa = await connect(a);
    const sb = await connect(b);
    const s = (
      await share(a, { audience: { type: 'nearby' }, precision: '100m', durationMinutes: 30 })
    ).json() as Json;
    const spot = near(-7000, 0);
    await subscribe(sb, { type: 'nearby', ...spot, radiusM: 1000 });
    const seen = frameWhere(sb, shows(a.userId));
    clock.advance(1_000);
    await update(sa, spot);
    await seen;
    const deliveredAt = Date.now();

    // Read straight from the database (the HTTP read would write this node's buffer first).
    const rows = () =>
      t.infra.database.db.select().from(locationAccessLog).where(eq(locationAccessLog.subjectId, a.userId));
    let found = await rows();
    while (found.length === 0 && Date.now() - deliveredAt < 3_000) {
      await sleep(100);
      found = await rows();
    }
    // LOCATION_ACCESS_LOG_FLUSH_SECONDS is 1 here: the row is there within that (and a little scheduling).
    expect(Date.now() - deliveredAt).toBeLessThan(2_500);
    expect(found).toEqual([expect.objectContaining({ viewerId: b.userId, shareId: s.id, deliveries: 1 })]);
    const first = found[0]!;

    // Two more deliveries in the same span: a move to another cell, and a new subscription's first frame.
    const moved = frameWhere(sb, (f) =>
      (f.people as Json[]).some((p) => p.userId === a.userId && distanceMeters(p, spot) > 150),
    );
    clock.advance(1_000);
    await update(sa, near(-7000, 300));
    await moved;
    await subscribe(sb, { type: 'nearby', ...spot, radiusM: 1000 });
    // The span closes a minute after its first delivery: its row gets the final count and last time.
    clock.advance(61_000);
    let closed = first;
    for (let i = 0; i < 30 && closed.deliveries === 1; i++) {
      await sleep(100);
      closed = (await rows()).find((r) => r.id === first.id) ?? first;
    }
    expect(closed).toMatchObject({ id: first.id, deliveries: 3, firstSeenAt: first.firstSeenAt });
    expect(closed.lastSeenAt.getTime()).toBeGreaterThan(first.firstSeenAt.getTime());
  });

  it.runIf(servicesMode)('a subscriber on node B sees a sharer connected to node A (Redis)', async () => {
    const other = await buildTestApp({
      listen: true,
      clock,
      sameDeploymentAs: t,
      env: { LOCATION_PUSH_INTERVAL_MS: String(PUSH_MS), LOCATION_WRITE_BATCH_MS: '20' },
    });
    await other.app.modules.locations.start();
    try {
      const a = await signUpWithEmail(t);
      const b = await signUpWithEmail(t);
      const sa = await connect(a, t);
      const sb = await connect(b, other);
      // Started over HTTP on node B, sent through node A.
      await share(a, { audience: { type: 'nearby' }, precision: '100m', durationMinutes: 30 }, other);
      await subscribe(sb, { type: 'nearby', ...near(8000, 8000), radiusM: 1000 });
      const seen = frameWhere(sb, shows(a.userId), 10_000);
      // Node A learns of the share within its short cache time.
      for (let i = 0; i < 10; i++) {
        clock.advance(1_000);
        const ack = (await update(sa, near(8000, 8050))) as Json;
        if (ack.data?.shares === 1) break;
        await sleep(1_000);
      }
      await seen;
    } finally {
      await other.app.modules.locations.stop();
      await other.close();
    }
  });
});
