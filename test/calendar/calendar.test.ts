import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { login, signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import { createEvent, join } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';
import { get, kst, kstMonth, label, span } from './support.js';

describe('calendar: my month and my day', () => {
  let t: TestApp;
  const clock = new ManualClock();
  beforeAll(async () => {
    t = await buildTestApp({
      clock,
      env: { EVENT_CREATE_INTERVAL_SECONDS: '0', EVENT_CREATE_PER_DAY: '1000' },
    });
  });
  afterAll(() => t.close());

  const month = (who: SignedUp | undefined, m: string) => get(t, `/v1/me/calendar/months/${m}`, who);
  const day = (who: SignedUp | undefined, d: string) => get(t, `/v1/me/calendar/days/${d}`, who);
  const leave = (who: SignedUp, id: string) =>
    t.app.inject({ method: 'POST', url: `/v1/events/${id}/leave`, headers: who.headers });
  const cancel = (who: SignedUp, id: string) =>
    t.app.inject({ method: 'DELETE', url: `/v1/events/${id}`, headers: who.headers });
  const setColor = (who: SignedUp, id: string, color: string) =>
    t.app.inject({
      method: 'PUT',
      url: `/v1/me/calendar/events/${id}/color`,
      headers: who.headers,
      payload: { color },
    });

  it('shows what I host, go to, wait for or applied to — marked — and nothing I left', async () => {
    const { y, m, label: mon } = kstMonth(t, 2);
    const host = await signUpWithEmail(t);
    const me = await signUpWithEmail(t);
    const other = await signUpWithEmail(t);

    const going = await createEvent(t, { title: 'Going', ...span(kst(y, m, 3, 19), 120) }, host);
    const full = await createEvent(t, { title: 'Full', capacity: 2, ...span(kst(y, m, 5, 7), 60) }, host);
    const approval = await createEvent(
      t,
      { title: 'Approval', requiresApproval: true, ...span(kst(y, m, 5, 9), 60) },
      host,
    );
    const left = await createEvent(t, { title: 'Left', ...span(kst(y, m, 6, 9), 60) }, host);
    const cancelled = await createEvent(t, { title: 'Called off', ...span(kst(y, m, 7, 9), 60) }, host);
    const mine = await createEvent(t, { title: 'Mine', ...span(kst(y, m, 3, 8), 60) }, me);
    await createEvent(t, { title: 'Not mine', ...span(kst(y, m, 3, 10), 60) }, other);

    expect((await join(t, going.id, me)).statusCode).toBe(200);
    expect((await join(t, full.id, other)).json()).toMatchObject({ status: 'going' });
    expect((await join(t, full.id, me)).json()).toMatchObject({ status: 'waitlisted' });
    expect((await join(t, approval.id, me)).json()).toMatchObject({ status: 'pending' });
    await join(t, left.id, me);
    expect((await leave(me, left.id)).statusCode).toBe(204);
    await join(t, cancelled.id, me);
    expect((await cancel(host, cancelled.id)).statusCode).toBe(204);

    const res = await month(me, mon);
    expect(res.statusCode).toBe(200);
    const body = res.json() as Json;
    expect(body).toMatchObject({
      month: mon,
      timeZone: 'Asia/Seoul',
      from: kst(y, m, 1).toISOString(),
      to: (m === 12 ? kst(y + 1, 1, 1) : kst(y, m + 1, 1)).toISOString(),
      total: 5,
    });
    const entries = Object.fromEntries(
      (body.days as Json[]).flatMap((d) => d.items.map((i: Json) => [i.title, { ...i, date: d.date }])),
    );
    expect(Object.keys(entries).sort()).toEqual(['Approval', 'Called off', 'Full', 'Going', 'Mine']);
    expect(entries.Mine).toMatchObject({ role: 'host', date: label(y, m, 3), status: 'scheduled' });
    expect(entries.Going).toMatchObject({ role: 'going', date: label(y, m, 3) });
    expect(entries.Full).toMatchObject({ role: 'waitlisted', date: label(y, m, 5) });
    expect(entries.Approval).toMatchObject({ role: 'pending', date: label(y, m, 5) });
    expect(entries['Called off']).toMatchObject({ role: 'going', status: 'cancelled' });
    // Days in order, entries within a day by start time, with exact counts.
    const third = (body.days as Json[]).find((d) => d.date === label(y, m, 3));
    expect(third).toMatchObject({ count: 2 });
    expect(third.items.map((i: Json) => i.title)).toEqual(['Mine', 'Going']);
    expect((body.days as Json[]).map((d) => d.date)).toEqual([3, 5, 7].map((d) => label(y, m, d)));

    // The host's calendar marks every one as hosted.
    const hosted = (await month(host, mon)).json() as Json;
    expect(hosted.total).toBe(5);
    expect((hosted.days as Json[]).flatMap((d) => d.items.map((i: Json) => i.role))).toEqual(
      Array(5).fill('host'),
    );

    // The day detail has time, place, status and my part.
    const detail = (await day(me, label(y, m, 3))).json() as Json;
    expect(detail).toMatchObject({
      date: label(y, m, 3),
      timeZone: 'Asia/Seoul',
      from: kst(y, m, 3).toISOString(),
      to: kst(y, m, 4).toISOString(),
    });
    expect(detail.items).toHaveLength(2);
    expect(detail.items[1]).toMatchObject({
      id: going.id,
      title: 'Going',
      startsAt: kst(y, m, 3, 19).toISOString(),
      endsAt: kst(y, m, 3, 21).toISOString(),
      placeName: 'Yeouinaru station',
      lat: 37.5283,
      lng: 126.9326,
      status: 'scheduled',
      role: 'going',
      goingCount: 2,
      host: { id: host.userId, nickname: host.nickname, displayName: null },
    });
    expect(detail.items[0]).toMatchObject({ id: mine.id, role: 'host' });
    const seventh = (await day(me, label(y, m, 7))).json() as Json;
    expect(seventh.items).toMatchObject([{ title: 'Called off', status: 'cancelled' }]);

    // Someone else's calendar holds none of it; signed out, there is no "my calendar".
    const theirs = (await month(other, mon)).json() as Json;
    expect((theirs.days as Json[]).flatMap((d) => d.items.map((i: Json) => i.title)).sort()).toEqual([
      'Full',
      'Not mine',
    ]);
    expect((await month(undefined, mon)).statusCode).toBe(401);
  });

  it('groups by day in the schedule time zone: midnight in Seoul, not in UTC', async () => {
    const { y, m, label: mon } = kstMonth(t, 3);
    const next = kstMonth(t, 4);
    const me = await signUpWithEmail(t);
    const lastDay = new Date(Date.UTC(y, m, 0)).getUTCDate();
    // 00:30 on the 1st in Seoul is still the previous day (15:30) in UTC.
    const early = await createEvent(
      t,
      { title: 'Early on the first', ...span(kst(next.y, next.m, 1, 0, 30), 60) },
      me,
    );
    // 23:30 to 00:30 touches two days (and two months); one ending at midnight only the first.
    const overnight = await createEvent(
      t,
      { title: 'Overnight', ...span(kst(y, m, lastDay, 23, 30), 60) },
      me,
    );
    const toMidnight = await createEvent(t, { title: 'To midnight', ...span(kst(y, m, 10, 22), 120) }, me);
    const trip = await createEvent(t, { title: 'Three-day trip', ...span(kst(y, m, 12, 10), 3 * 1440) }, me);

    const days = (l: string) =>
      month(me, l).then((r) => {
        const body = r.json() as Json;
        return Object.fromEntries((body.days as Json[]).map((d) => [d.date, d.items.map((i: Json) => i.id)]));
      });
    const thisMonth = await days(mon);
    expect(thisMonth[label(y, m, lastDay)]).toEqual([overnight.id]);
    expect(Object.values(thisMonth).flat()).not.toContain(early.id);
    expect(thisMonth[label(y, m, 10)]).toEqual([toMidnight.id]);
    expect(thisMonth[label(y, m, 11)]).toBeUndefined();
    for (const d of [12, 13, 14, 15]) expect(thisMonth[label(y, m, d)]).toEqual([trip.id]);
    expect(thisMonth[label(y, m, 16)]).toBeUndefined();
    const body = (await month(me, mon)).json() as Json;
    expect(body.total).toBe(3);

    const nextMonth = await days(next.label);
    expect(nextMonth[label(next.y, next.m, 1)]).toEqual([overnight.id, early.id]);

    // The day detail uses the same boundaries.
    const lastDetail = (await day(me, label(y, m, lastDay))).json() as Json;
    expect(lastDetail.items.map((i: Json) => i.id)).toEqual([overnight.id]);
    const firstDetail = (await day(me, label(next.y, next.m, 1))).json() as Json;
    expect(firstDetail.items.map((i: Json) => i.id)).toEqual([overnight.id, early.id]);
  });

  it('refuses nonsense months and days with 400 and the offending field', async () => {
    const me = await signUpWithEmail(t);
    for (const bad of ['2026-13', '2026-00', '2026-5', '26-05', 'abcd-ef', '0000-01', '2026-05-01', '%00']) {
      const res = await month(me, bad);
      expect(res.statusCode, bad).toBe(400);
      expect((res.json() as Json).code).toBe('VALIDATION_FAILED');
    }
    for (const bad of [
      '2026-02-30',
      '2025-02-29',
      '2026-04-31',
      '2026-05-32',
      '2026-05',
      '2026-5-1',
      'today',
    ]) {
      const res = await day(me, bad);
      expect(res.statusCode, bad).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: '/params/date' }] });
    }
    // A leap day is a day.
    expect((await day(me, '2028-02-29')).statusCode).toBe(200);
    expect((await month(me, '1999-12')).json()).toMatchObject({ total: 0, days: [] });
  });

  it('keeps history: past months still show what happened (meetups are never deleted after they end)', async () => {
    const me = await signUpWithEmail(t);
    const soon = new Date(clock.now().getTime() + 60 * 60_000);
    const event = await createEvent(t, { title: 'Tonight', ...span(soon, 60) }, me);
    const inSeoul = new Date(soon.getTime() + 9 * 3_600_000);
    const mon = label(inSeoul.getUTCFullYear(), inSeoul.getUTCMonth() + 1);
    clock.advance(40 * 86_400_000);
    // Forty days on, the access token has long expired: sign in again.
    const again = { ...me, ...(await login(t, me.email, me.password)) };
    const body = (await month(again, mon)).json() as Json;
    expect((body.days as Json[]).flatMap((d) => d.items.map((i: Json) => i.id))).toContain(event.id);
  });

  it('colours: the host sets the event colour, each person may override it for themselves only', async () => {
    const { y, m, label: mon } = kstMonth(t, 2);
    const host = await signUpWithEmail(t);
    const me = await signUpWithEmail(t);
    const stranger = await signUpWithEmail(t);
    const event = await createEvent(
      t,
      { title: 'Colourful', color: '#FF8800', ...span(kst(y, m, 20, 9), 60) },
      host,
    );
    await join(t, event.id, me);
    const entry = async (who: SignedUp) => {
      const body = (await month(who, mon)).json() as Json;
      return (body.days as Json[]).flatMap((d) => d.items).find((i: Json) => i.id === event.id);
    };
    expect(await entry(me)).toMatchObject({ color: '#ff8800' });

    const set = await setColor(me, event.id, '#00AA00');
    expect(set.statusCode).toBe(200);
    expect(set.json()).toEqual({ eventId: event.id, hostColor: '#ff8800', myColor: '#00aa00' });
    expect(await entry(me)).toMatchObject({ color: '#00aa00' });
    expect(await entry(host)).toMatchObject({ color: '#ff8800' });
    const detail = (await day(me, label(y, m, 20))).json() as Json;
    expect(detail.items[0]).toMatchObject({ color: '#00aa00', hostColor: '#ff8800', myColor: '#00aa00' });

    // The host changes the event's colour: my own choice still wins for me, the others see the new one.
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/v1/events/${event.id}`,
      headers: host.headers,
      payload: { color: '#123456' },
    });
    expect(patched.statusCode).toBe(200);
    expect(await entry(me)).toMatchObject({ color: '#00aa00' });
    expect(await entry(host)).toMatchObject({ color: '#123456' });
    // Only the host edits the event's colour.
    const notHost = await t.app.inject({
      method: 'PATCH',
      url: `/v1/events/${event.id}`,
      headers: me.headers,
      payload: { color: '#000000' },
    });
    expect(notHost.statusCode).toBe(403);

    // Back to the host's colour.
    const cleared = await t.app.inject({
      method: 'DELETE',
      url: `/v1/me/calendar/events/${event.id}/color`,
      headers: me.headers,
    });
    expect(cleared.json()).toEqual({ eventId: event.id, hostColor: '#123456', myColor: null });
    expect(await entry(me)).toMatchObject({ color: '#123456' });

    for (const bad of ['red', '#12345', '#1234567', '#GGGGGG', '', 'ff8800']) {
      const res = await setColor(me, event.id, bad);
      expect(res.statusCode, bad).toBe(400);
    }
    const badHost = await t.app.inject({
      method: 'PATCH',
      url: `/v1/events/${event.id}`,
      headers: host.headers,
      payload: { color: 'blue' },
    });
    expect(badHost.statusCode).toBe(400);

    // A public event anyone may colour for themselves (it shows nowhere else); a private one they cannot see is 404.
    const hidden = await createEvent(
      t,
      { title: 'Hidden', visibility: 'private', ...span(kst(y, m, 21, 9), 60) },
      host,
    );
    expect((await setColor(stranger, hidden.id, '#111111')).statusCode).toBe(404);
    expect((await setColor(stranger, '00000000-0000-4000-8000-000000000000', '#111111')).statusCode).toBe(
      404,
    );
    expect((await setColor(stranger, event.id, '#111111')).statusCode).toBe(200);
    expect(await entry(host)).toMatchObject({ color: '#123456' });
    const signedOut = await t.app.inject({
      method: 'PUT',
      url: `/v1/me/calendar/events/${event.id}/color`,
      payload: { color: '#111111' },
    });
    expect(signedOut.statusCode).toBe(401);
  });
});

describe('calendar: another schedule time zone', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { TIME_ZONE: 'America/New_York' } });
  });
  afterAll(() => t.close());

  it('computes month and day boundaries in TIME_ZONE, daylight saving included', async () => {
    const me = await signUpWithEmail(t);
    // November 2026 in New York starts on summer time (UTC-4) and ends on winter time (UTC-5).
    const nov = (await get(t, '/v1/me/calendar/months/2026-11', me)).json() as Json;
    expect(nov).toMatchObject({
      timeZone: 'America/New_York',
      from: '2026-11-01T04:00:00.000Z',
      to: '2026-12-01T05:00:00.000Z',
    });
    // The day the clocks go back lasts 25 hours.
    const day = (await get(t, '/v1/me/calendar/days/2026-11-01', me)).json() as Json;
    expect(day).toMatchObject({ from: '2026-11-01T04:00:00.000Z', to: '2026-11-02T05:00:00.000Z' });
  });
});
