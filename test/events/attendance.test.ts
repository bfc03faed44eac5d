import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { login, signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import { createEvent, join, outboxTopics, times } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';

const MIN = 60_000;

describe('attendance, check-in, ratings and the computed reputation', () => {
  let t: TestApp;
  const clock = new ManualClock();
  beforeAll(async () => {
    t = await buildTestApp({
      clock,
      env: {
        EVENT_CREATE_INTERVAL_SECONDS: '0',
        ACCESS_TOKEN_TTL_SECONDS: '3600',
        CHECKIN_RADIUS_METERS: '150',
      },
    });
  });
  afterAll(() => t.close());

  const mark = (who: SignedUp, id: string, marks: { userId: string; present: boolean }[]) =>
    t.app.inject({
      method: 'PUT',
      url: `/v1/events/${id}/attendance`,
      headers: who.headers,
      payload: { marks },
    });
  const checkIn = (who: SignedUp, id: string, lat: number, lng: number) =>
    t.app.inject({
      method: 'POST',
      url: `/v1/events/${id}/check-in`,
      headers: who.headers,
      payload: { lat, lng },
    });
  const rate = (who: SignedUp, id: string, body: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: `/v1/events/${id}/ratings`, headers: who.headers, payload: body });
  const reputation = async (userId: string) =>
    (await t.app.inject({ url: `/v1/users/${userId}/reputation` })).json() as Json;

  it('runs a whole event: attendance by user id, check-in at the meeting point, ratings once each, and the score', async () => {
    // Starts in 35 minutes at Yeouinaru (37.5283, 126.9326), lasts 10 minutes.
    const event = await createEvent(t, { ...times(t, 35, 10), capacity: 5 });
    const [a, b, c, stranger] = await Promise.all([1, 2, 3, 4].map(() => signUpWithEmail(t)));
    for (const p of [a, b, c]) await join(t, event.id, p!);

    // Attendance opens 30 minutes before the start.
    const early = await mark(event.host, event.id, [{ userId: a!.userId, present: true }]);
    expect(early.statusCode).toBe(409);
    expect((early.json() as Json).code).toBe('ATTENDANCE_CLOSED');
    clock.advance(10 * MIN); // 25 minutes before the start

    // Only the host marks, only people going, by user id.
    expect((await mark(a!, event.id, [{ userId: b!.userId, present: true }])).statusCode).toBe(403);
    expect((await mark(stranger!, event.id, [{ userId: b!.userId, present: true }])).statusCode).toBe(403);
    const wrong = await mark(event.host, event.id, [
      { userId: a!.userId, present: true },
      { userId: stranger!.userId, present: true },
    ]);
    expect(wrong.json()).toMatchObject({
      code: 'NOT_PARTICIPATING',
      details: { userIds: [stranger!.userId] },
    });
    expect((await mark(event.host, event.id, [{ userId: b!.userId, present: false }])).statusCode).toBe(204);

    // c checks in at the meeting point; from 1 km away it is refused.
    const far = await checkIn(c!, event.id, 37.5373, 126.9326);
    expect(far.json()).toMatchObject({ code: 'NOT_AT_MEETING_POINT', details: { radiusM: 150 } });
    expect((far.json() as Json).details.distanceM).toBeGreaterThan(900);
    expect((await checkIn(c!, event.id, 37.5284, 126.9327)).json()).toMatchObject({ attendance: 'present' });
    expect((await checkIn(stranger!, event.id, 37.5283, 126.9326)).json()).toMatchObject({
      code: 'NOT_PARTICIPATING',
    });
    // The host's mark stands: b was marked absent and cannot check themselves in as present.
    expect((await checkIn(b!, event.id, 37.5283, 126.9326)).json()).toMatchObject({ attendance: 'absent' });
    expect((await mark(event.host, event.id, [{ userId: a!.userId, present: true }])).statusCode).toBe(204);

    const sheet = (
      await t.app.inject({ url: `/v1/events/${event.id}/attendance`, headers: event.host.headers })
    ).json() as Json;
    const byUser = Object.fromEntries(
      (sheet.participants as Json[]).map((p) => [p.user.id, [p.attendance, p.markedBy]]),
    );
    expect(byUser).toEqual({
      [a!.userId]: ['present', 'host'],
      [b!.userId]: ['absent', 'host'],
      [c!.userId]: ['present', 'self'],
    });

    // Ratings open at the end.
    const tooEarly = await rate(a!, event.id, {
      userId: event.host.userId,
      verdict: 'good',
      reason: 'good_course',
    });
    expect((tooEarly.json() as Json).code).toBe('RATING_CLOSED');
    clock.advance(36 * MIN); // the event has ended

    expect(
      (await rate(a!, event.id, { userId: event.host.userId, verdict: 'good', reason: 'good_course' }))
        .statusCode,
    ).toBe(201);
    const twice = await rate(a!, event.id, { userId: event.host.userId, verdict: 'bad', reason: 'late' });
    expect(twice.statusCode).toBe(409);
    expect((twice.json() as Json).code).toBe('ALREADY_RATED');
    // Absent people and strangers cannot rate; attendees rate the host only; the reason must fit the verdict.
    expect(
      (
        (
          await rate(b!, event.id, { userId: event.host.userId, verdict: 'bad', reason: 'late' })
        ).json() as Json
      ).code,
    ).toBe('NOT_ATTENDED');
    expect(
      (await rate(stranger!, event.id, { userId: event.host.userId, verdict: 'bad', reason: 'late' }))
        .statusCode,
    ).toBe(403);
    expect(
      ((await rate(c!, event.id, { userId: a!.userId, verdict: 'good', reason: 'punctual' })).json() as Json)
        .code,
    ).toBe('FORBIDDEN');
    const mismatch = await rate(c!, event.id, { userId: event.host.userId, verdict: 'good', reason: 'late' });
    expect(mismatch.json()).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: '/body/reason' }] });
    const unknown = await rate(c!, event.id, {
      userId: event.host.userId,
      verdict: 'good',
      reason: 'nice_shoes',
    });
    expect(unknown.statusCode).toBe(400);
    expect(
      (await rate(c!, event.id, { userId: event.host.userId, verdict: 'bad', reason: 'poor_leading' }))
        .statusCode,
    ).toBe(201);

    // The host rates attendees, not the absent.
    expect(
      (await rate(event.host, event.id, { userId: a!.userId, verdict: 'good', reason: 'kept_pace' }))
        .statusCode,
    ).toBe(201);
    expect(
      (
        (
          await rate(event.host, event.id, { userId: b!.userId, verdict: 'bad', reason: 'late' })
        ).json() as Json
      ).code,
    ).toBe('NOT_ATTENDED');
    const mine = (
      await t.app.inject({ url: `/v1/events/${event.id}/ratings/mine`, headers: event.host.headers })
    ).json() as Json;
    expect(mine.canRate).toEqual([c!.userId]);
    expect(mine.given).toHaveLength(1);

    // Scores come from these records alone: 50 + good − bad + attended − 2 × no-shows.
    const host = await reputation(event.host.userId);
    expect(host).toMatchObject({
      mannerScore: 50,
      ratingsReceived: { good: 1, bad: 1 },
      hosted: 1,
      noShows: 0,
    });
    expect(host.reasons).toEqual(
      expect.arrayContaining([
        { role: 'host', reason: 'good_course', verdict: 'good', count: 1 },
        { role: 'host', reason: 'poor_leading', verdict: 'bad', count: 1 },
      ]),
    );
    expect(host.hostingHistory).toEqual([
      expect.objectContaining({ id: event.id, title: 'Han River evening run', attendees: 2 }),
    ]);
    expect(await reputation(a!.userId)).toMatchObject({ mannerScore: 52, attended: 1, noShows: 0 });
    expect(await reputation(b!.userId)).toMatchObject({ mannerScore: 48, attended: 0, noShows: 1 });
    expect(
      (await t.app.inject({ url: '/v1/users/00000000-0000-4000-8000-000000000000/reputation' })).statusCode,
    ).toBe(404);
    const topics = await outboxTopics(t, event.id);
    expect(topics.filter((x) => x === 'event.rated')).toHaveLength(3);
    expect(topics.filter((x) => x === 'event.attendance_marked')).toHaveLength(3);

    // The rating window closes.
    clock.advance(15 * 24 * 60 * MIN);
    const c2 = await login(t, c!.email, c!.password);
    const closed = await t.app.inject({
      method: 'POST',
      url: `/v1/events/${event.id}/ratings`,
      headers: c2.headers,
      payload: { userId: event.host.userId, verdict: 'good', reason: 'punctual' },
    });
    expect((closed.json() as Json).code).toBe('RATING_CLOSED');
  });

  it('a client cannot send a score: unknown fields are dropped and nothing but verdict and reason is stored', async () => {
    const event = await createEvent(t, { ...times(t, 35, 10) });
    const a = await signUpWithEmail(t);
    await join(t, event.id, a);
    clock.advance(10 * MIN);
    await mark(event.host, event.id, [{ userId: a.userId, present: true }]);
    clock.advance(36 * MIN);
    const res = await rate(a, event.id, {
      userId: event.host.userId,
      verdict: 'good',
      reason: 'punctual',
      point: 100,
      mannerScore: 100,
      hostId: a.userId,
    });
    expect(res.statusCode).toBe(201);
    expect(await reputation(event.host.userId)).toMatchObject({ mannerScore: 51 });
  });
});
