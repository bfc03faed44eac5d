import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import { createEvent, getEvent, join, outboxTopics, times } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';

describe('events: create, read, edit, cancel', () => {
  let t: TestApp;
  const clock = new ManualClock();
  beforeAll(async () => {
    t = await buildTestApp({
      clock,
      env: {
        EVENT_CREATE_INTERVAL_SECONDS: '0',
        EVENT_MIN_LEAD_MINUTES: '0,run=360',
        EVENT_MAX_DAYS_AHEAD: '8',
      },
    });
  });
  afterAll(() => t.close());

  const post = (who: SignedUp, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/v1/events', headers: who.headers, payload });
  const patch = (who: SignedUp, id: string, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'PATCH', url: `/v1/events/${id}`, headers: who.headers, payload });

  it('creates an event: the host takes the first seat, the region comes from the point, the course is measured', async () => {
    const host = await signUpWithEmail(t);
    const res = await post(host, {
      kind: 'run',
      title: '  Han River 10K ',
      description: 'Easy pace along the river.',
      ...times(t, 7 * 60),
      placeName: 'Yeouinaru station, exit 2',
      lat: 37.5283,
      lng: 126.9326,
      course: {
        type: 'LineString',
        coordinates: [
          [126.9326, 37.5283],
          [126.9426, 37.5283],
        ],
      },
      paceSecPerKm: 360,
      theme: 'riverside',
      tags: ['Running', 'running', ' 10k '],
      bring: 'Water',
      link: 'https://open.kakao.com/o/example',
      color: '#FF8800',
      capacity: 8,
    });
    expect(res.statusCode).toBe(201);
    const body = res.json() as Json;
    expect(body).toMatchObject({
      kind: 'run',
      title: 'Han River 10K',
      region: 'seoul',
      tags: ['running', '10k'],
      color: '#ff8800',
      capacity: 8,
      goingCount: 1,
      open: true,
      visibility: 'public',
      status: 'scheduled',
      host: { id: host.userId, nickname: host.nickname },
      viewer: { status: 'going', isHost: true },
    });
    // 0.01° of longitude at 37.5° N is about 882 m.
    expect(body.distanceM).toBeGreaterThan(870);
    expect(body.distanceM).toBeLessThan(895);
    // Anyone, even signed out, can read a public event; no viewer state then.
    const anonymous = (await getEvent(t, body.id)).json() as Json;
    expect(anonymous.viewer).toBeNull();
    expect(anonymous.title).toBe('Han River 10K');
  });

  it('refuses bad times: the lead time per kind, the horizon, an end before the start, a deadline after it', async () => {
    const host = await signUpWithEmail(t);
    const run = await post(host, { kind: 'run', title: 'Too soon', ...times(t, 120) });
    expect(run.statusCode).toBe(400);
    expect(run.json()).toMatchObject({ code: 'EVENT_TOO_SOON', details: { minLeadMinutes: 360 } });
    // A meetup has no lead time here, but must still be in the future.
    expect((await post(host, { title: 'Coffee soon', ...times(t, 120) })).statusCode).toBe(201);
    expect(((await post(host, { title: 'Yesterday', ...times(t, -60 * 24) })).json() as Json).code).toBe(
      'EVENT_TOO_SOON',
    );
    expect(((await post(host, { title: 'Far away', ...times(t, 60 * 24 * 9) })).json() as Json).code).toBe(
      'EVENT_TOO_FAR',
    );
    const backwards = await post(host, {
      title: 'Backwards',
      startsAt: times(t, 300).endsAt,
      endsAt: times(t, 300).startsAt,
    });
    expect(backwards.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: [{ path: '/body/endsAt' }],
    });
    const deadline = await post(host, {
      title: 'Late deadline',
      ...times(t, 300),
      applyDeadline: times(t, 400).startsAt,
    });
    expect(deadline.json()).toMatchObject({ details: [{ path: '/body/applyDeadline' }] });
    const half = await post(host, { title: 'Half a point', ...times(t, 300), lat: 37.5 });
    expect(half.json()).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: '/body/lat' }] });
    const bad = await post(host, {
      title: 'x',
      ...times(t, 300),
      capacity: 1,
      color: 'orange',
      link: 'not a url',
    });
    expect(bad.statusCode).toBe(400);
    const paths = ((bad.json() as Json).details as Json[]).map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining(['/body/title', '/body/capacity', '/body/color', '/body/link']),
    );
    // A link is rendered as one by clients: script and data addresses are refused.
    for (const link of ['javascript:alert(1)', 'data:text/html,<script>x</script>', 'kakaotalk://x']) {
      const res = await post(host, { title: 'Linked', ...times(t, 300), link });
      expect(res.json(), link).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: expect.arrayContaining([expect.objectContaining({ path: '/body/link' })]),
      });
    }
  });

  it('throttles creation per person and refuses the same event twice', async () => {
    const throttled = await buildTestApp({
      sameDeploymentAs: t,
      env: { EVENT_CREATE_INTERVAL_SECONDS: '10' },
    });
    try {
      const host = await signUpWithEmail(throttled);
      const body = { title: 'Sunday hike', ...times(throttled, 600) };
      const first = await throttled.app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: host.headers,
        payload: body,
      });
      expect(first.statusCode).toBe(201);
      const second = await throttled.app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: host.headers,
        payload: { ...body, title: 'Another one' },
      });
      expect(second.statusCode).toBe(429);
      expect(second.headers['retry-after']).toBeDefined();
    } finally {
      await throttled.close();
    }
    const host = await signUpWithEmail(t);
    const body = { title: 'Sunday hike', ...times(t, 600) };
    expect((await post(host, body)).statusCode).toBe(201);
    const dup = await post(host, { ...body, title: 'SUNDAY HIKE' });
    expect(dup.statusCode).toBe(409);
    expect((dup.json() as Json).code).toBe('DUPLICATE_EVENT');
  });

  it('only creations that happen use the throttle: refused ones (too soon, bad times, a duplicate) leave the quota whole', async () => {
    const throttled = await buildTestApp({
      sameDeploymentAs: t,
      clock,
      env: {
        EVENT_CREATE_INTERVAL_SECONDS: '10',
        EVENT_CREATE_PER_DAY: '2',
        EVENT_MIN_LEAD_MINUTES: '0,run=360',
      },
    });
    try {
      const host = await signUpWithEmail(throttled);
      const create = (payload: Record<string, unknown>) =>
        throttled.app.inject({ method: 'POST', url: '/v1/events', headers: host.headers, payload });
      const refused = [
        await create({ kind: 'run', title: 'Dawn run', ...times(throttled, 60) }), // runs need 6 hours
        await create({
          title: 'Backwards',
          startsAt: times(throttled, 600).endsAt,
          endsAt: times(throttled, 600).startsAt,
        }),
        await create({ title: 'Too far', ...times(throttled, 400 * 24 * 60) }),
      ];
      expect(refused.map((r) => (r.json() as Json).code)).toEqual([
        'EVENT_TOO_SOON',
        'VALIDATION_FAILED',
        'EVENT_TOO_FAR',
      ]);
      // None of them started the 10-second interval or used the daily quota of 2.
      const first = await create({ title: 'Sunday hike', ...times(throttled, 600) });
      expect(first.statusCode).toBe(201);
      expect((await create({ title: 'Right after', ...times(throttled, 700) })).statusCode).toBe(429);
      clock.advance(11_000);
      const dup = await create({
        title: 'SUNDAY HIKE',
        startsAt: (first.json() as Json).startsAt,
        endsAt: (first.json() as Json).endsAt,
      });
      expect((dup.json() as Json).code).toBe('DUPLICATE_EVENT');
      // The duplicate, refused inside its transaction, gave its hits back too: the second of two is allowed.
      expect((await create({ title: 'Monday hike', ...times(throttled, 900) })).statusCode).toBe(201);
      clock.advance(11_000);
      const third = await create({ title: 'Tuesday hike', ...times(throttled, 1000) });
      expect(third.statusCode).toBe(429);
      expect((third.json() as Json).details).toMatchObject({ rule: 'events:create:day' });
    } finally {
      await throttled.close();
    }
  });

  it('private events do not exist for outsiders', async () => {
    const event = await createEvent(t, { visibility: 'private' });
    const stranger = await signUpWithEmail(t);
    expect((await getEvent(t, event.id)).statusCode).toBe(404);
    expect((await getEvent(t, event.id, stranger)).statusCode).toBe(404);
    expect((await t.app.inject({ url: `/v1/events/${event.id}/participants` })).statusCode).toBe(404);
    expect((await patch(stranger, event.id, { title: 'Mine now' })).statusCode).toBe(404);
    expect((await getEvent(t, event.id, event.host)).statusCode).toBe(200);
  });

  it('the host edits until the start; seats never drop below the people going; added seats go to the queue', async () => {
    const event = await createEvent(t, { capacity: 2 });
    const [a, b, c] = await Promise.all([signUpWithEmail(t), signUpWithEmail(t), signUpWithEmail(t)]);
    await join(t, event.id, a);
    expect(((await join(t, event.id, b)).json() as Json).status).toBe('waitlisted');
    expect(((await join(t, event.id, c)).json() as Json).status).toBe('waitlisted');

    expect((await patch(a, event.id, { title: 'Hijacked' })).statusCode).toBe(403);
    const below = await patch(event.host, event.id, { capacity: 1 });
    expect(below.statusCode).toBe(400); // the schema's minimum
    const tooFew = await patch(event.host, event.id, { capacity: 2, waitlistEnabled: true });
    expect(tooFew.statusCode).toBe(200);
    const raised = await patch(event.host, event.id, { capacity: 3, title: 'Bigger run' });
    expect(raised.json()).toMatchObject({ capacity: 3, goingCount: 3, title: 'Bigger run' });
    expect(((await getEvent(t, event.id, b)).json() as Json).viewer.status).toBe('going');
    expect(((await getEvent(t, event.id, c)).json() as Json).viewer.status).toBe('waitlisted');

    const lower = await patch(event.host, event.id, { capacity: 2 });
    expect(lower.statusCode).toBe(409);
    expect(lower.json()).toMatchObject({ code: 'CAPACITY_BELOW_GOING', details: { going: 3 } });

    const topics = await outboxTopics(t, event.id);
    expect(topics).toContain('event.updated');
    expect(topics.filter((x) => x === 'event.promoted')).toHaveLength(1);
  });

  it('after the start nothing changes and nobody joins', async () => {
    const event = await createEvent(t, times(t, 10));
    clock.advance(11 * 60_000);
    try {
      const late = await patch(event.host, event.id, { title: 'Too late' });
      expect(late.statusCode).toBe(409);
      expect((late.json() as Json).code).toBe('EVENT_STARTED');
      const lateJoin = await join(t, event.id, await signUpWithEmail(t));
      expect((lateJoin.json() as Json).code).toBe('EVENT_STARTED');
      const cancel = await t.app.inject({
        method: 'DELETE',
        url: `/v1/events/${event.id}`,
        headers: event.host.headers,
      });
      expect((cancel.json() as Json).code).toBe('EVENT_STARTED');
    } finally {
      clock.advance(-11 * 60_000);
    }
  });

  it('the host cancels before the start; participants keep seeing it, as cancelled, and nobody can join', async () => {
    const event = await createEvent(t);
    const a = await signUpWithEmail(t);
    await join(t, event.id, a);
    const del = (who: SignedUp) =>
      t.app.inject({ method: 'DELETE', url: `/v1/events/${event.id}`, headers: who.headers });
    expect((await del(a)).statusCode).toBe(403);
    expect((await del(event.host)).statusCode).toBe(204);
    expect(((await del(event.host)).json() as Json).code).toBe('EVENT_CANCELLED');
    expect((await getEvent(t, event.id, a)).json() as Json).toMatchObject({
      status: 'cancelled',
      open: false,
    });
    const late = await join(t, event.id, await signUpWithEmail(t));
    expect((late.json() as Json).code).toBe('EVENT_CANCELLED');
    expect(await outboxTopics(t, event.id)).toContain('event.cancelled');
  });

  it('announces "starting soon" and "ended" once each, however often and however many workers run', async () => {
    const event = await createEvent(t, {}, undefined);
    const lifecycle = t.app.modules.events.lifecycle;
    clock.advance(24 * 3_600_000 - 20 * 60_000); // 20 minutes before the start
    try {
      const runs = await Promise.all([lifecycle.run(), lifecycle.run(), lifecycle.run()]);
      expect(runs.reduce((n, r) => n + r.startingSoon, 0)).toBeGreaterThanOrEqual(1);
      await lifecycle.run();
      expect((await outboxTopics(t, event.id)).filter((x) => x === 'event.starting_soon')).toHaveLength(1);
      clock.advance(3 * 3_600_000); // after the end
      await Promise.all([lifecycle.run(), lifecycle.run()]);
      expect((await outboxTopics(t, event.id)).filter((x) => x === 'event.ended')).toHaveLength(1);
    } finally {
      clock.advance(-(24 * 3_600_000 - 20 * 60_000) - 3 * 3_600_000);
    }
  });

  it('a missed reminder is caught up by the next run, through the job queue', async () => {
    const event = await createEvent(t, times(t, 50));
    clock.advance(25 * 60_000); // inside the 30-minute lead: due now
    try {
      await t.infra.jobs.send(t.app.modules.events.remindersJob, {});
      await t.infra.jobs.runDue([t.app.modules.events.remindersJob.name]);
      expect(await outboxTopics(t, event.id)).toContain('event.starting_soon');
    } finally {
      clock.advance(-25 * 60_000);
    }
  });

  it('deleting an account cancels the events it hosts and gives up its seats, promoting the waitlist', async () => {
    const hosted = await createEvent(t);
    const other = await createEvent(t, { capacity: 2 });
    const leaver = hosted.host;
    const queued = await signUpWithEmail(t);
    await join(t, other.id, leaver);
    await join(t, other.id, queued);
    const del = await t.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: leaver.headers,
      payload: { password: leaver.password },
    });
    expect(del.statusCode).toBe(200);
    await t.infra.outbox.drain();
    expect(((await getEvent(t, hosted.id, other.host)).json() as Json).status).toBe('cancelled');
    expect(((await getEvent(t, other.id, queued)).json() as Json).viewer.status).toBe('going');
    expect(await outboxTopics(t, other.id)).toEqual(expect.arrayContaining(['event.left', 'event.promoted']));
  });
});
