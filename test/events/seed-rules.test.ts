import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/database.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { ManualClock } from '../helpers/clock.js';
import { createEvent, getEvent, join, outboxTopics, times } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';

const MIN = 60_000;

/**
 * The rules and weak points of the seed apps (seed-systems.md §1 meetups, §2 moims, §4 group runs) that the other
 * events tests do not already show; the audit table in src/modules/events/README.md points at each test.
 */
describe('seed rules: meetups, moims and group runs', () => {
  let t: TestApp;
  const clock = new ManualClock();
  beforeAll(async () => {
    t = await buildTestApp({
      clock,
      env: {
        EVENT_CREATE_INTERVAL_SECONDS: '0',
        EVENT_MIN_LEAD_MINUTES: '0,run=360',
        ACCESS_TOKEN_TTL_SECONDS: '3600',
        ATTENDANCE_GRACE_MINUTES: '5',
      },
    });
  });
  afterAll(() => t.close());

  const users = (n: number) => Promise.all(Array.from({ length: n }, () => signUpWithEmail(t)));
  const inject = (who: SignedUp | null, method: string, url: string, payload?: Record<string, unknown>) =>
    t.app.inject({
      method: method as 'GET',
      url,
      ...(who ? { headers: who.headers } : {}),
      ...(payload ? { payload } : {}),
    });
  const codeOf = (res: { json(): unknown }) => (res.json() as Json).code as string;

  it('[H] a refused meetup leaves nothing behind (the seed inserted the row before checking the dates)', async () => {
    const host = (await users(1))[0]!;
    const refused = [
      await inject(host, 'POST', '/v1/events', { title: 'Backwards', ...times(t, 300, -60) }),
      await inject(host, 'POST', '/v1/events', { title: 'Yesterday', ...times(t, -24 * 60) }),
      await inject(host, 'POST', '/v1/events', { kind: 'run', title: 'Too soon', ...times(t, 60) }),
    ];
    expect(refused.map((r) => r.statusCode)).toEqual([400, 400, 400]);
    const rows = await queryRows<{ n: number }>(
      t.infra.database.db,
      sql`select count(*)::int as n from events where host_id = ${host.userId}`,
    );
    expect(rows[0]!.n).toBe(0);
  });

  it('[H] tags are replaced by an edit; [E] every participant hears which fields changed', async () => {
    const event = await createEvent(t, { tags: ['coffee', 'mapo'] });
    const [a] = await users(1);
    await join(t, event.id, a!);
    const res = await inject(event.host, 'PATCH', `/v1/events/${event.id}`, {
      tags: ['Brunch'],
      placeName: 'Hapjeong station, exit 7',
    });
    expect(res.json()).toMatchObject({ tags: ['brunch'], placeName: 'Hapjeong station, exit 7' });
    const [updated] = await queryRows<{ payload: Json }>(
      t.infra.database.db,
      sql`select payload from outbox_events where topic = 'event.updated' and payload->>'eventId' = ${event.id}`,
    );
    expect(updated!.payload.fields.sort()).toEqual(['placeName', 'tags']);
  });

  it('[E] a run is announced 6 hours ahead: moving it (or turning a meetup into one) inside 6 hours is refused', async () => {
    const run = await createEvent(t, { kind: 'run', title: 'Dawn run', ...times(t, 6 * 60 + 20) });
    const soon = await inject(run.host, 'PATCH', `/v1/events/${run.id}`, times(t, 120));
    expect(soon.json()).toMatchObject({ code: 'EVENT_TOO_SOON', details: { minLeadMinutes: 360 } });
    clock.advance(30 * MIN); // now 5 h 50 min before the start
    try {
      // Other edits inside the window stand; a new start must again be 6 hours away.
      expect(
        (await inject(run.host, 'PATCH', `/v1/events/${run.id}`, { bring: 'Headlamp' })).statusCode,
      ).toBe(200);
      const moved = await inject(run.host, 'PATCH', `/v1/events/${run.id}`, times(t, 5 * 60 + 55));
      expect(codeOf(moved)).toBe('EVENT_TOO_SOON');
      const meetup = await createEvent(t, { title: 'Coffee', ...times(t, 60) });
      const turned = await inject(meetup.host, 'PATCH', `/v1/events/${meetup.id}`, { kind: 'run' });
      expect(codeOf(turned)).toBe('EVENT_TOO_SOON');
    } finally {
      clock.advance(-30 * MIN);
    }
  });

  it('[H] invitations: not to people already going, not into a full event without a waitlist, and they lapse when the roster locks', async () => {
    const event = await createEvent(t, { capacity: 2, waitlistEnabled: false });
    const [a, b, c] = await users(3);
    await join(t, event.id, a!);
    const invite = (userId: string) =>
      inject(event.host, 'POST', `/v1/events/${event.id}/invitations`, { userId });
    // The seed destructured a misspelled field and invited existing members.
    expect(codeOf(await invite(a!.userId))).toBe('ALREADY_PARTICIPATING');
    expect(codeOf(await invite(b!.userId))).toBe('EVENT_FULL');

    const open = await createEvent(t, { capacity: 5 });
    await join(t, open.id, a!);
    const inv = (
      await inject(open.host, 'POST', `/v1/events/${open.id}/invitations`, { userId: c!.userId })
    ).json() as Json;
    expect((await inject(a!, 'POST', `/v1/events/${open.id}/confirm`)).statusCode).toBe(200);
    expect(((await inject(open.host, 'POST', `/v1/events/${open.id}/confirm`)).json() as Json).locked).toBe(
      true,
    );
    const late = await inject(c!, 'POST', `/v1/event-invitations/${inv.id}/accept`);
    expect(codeOf(late)).toBe('INVITATION_NOT_PENDING');
    expect(((await getEvent(t, open.id, open.host)).json() as Json).goingCount).toBe(2);
  });

  it('[E] nothing changes after the start: no leaving, no removal, no cancelling', async () => {
    const event = await createEvent(t, times(t, 10));
    const [a, b] = await users(2);
    await join(t, event.id, a!);
    await join(t, event.id, b!);
    clock.advance(11 * MIN);
    try {
      expect(codeOf(await inject(a!, 'POST', `/v1/events/${event.id}/leave`))).toBe('EVENT_STARTED');
      expect(
        codeOf(await inject(event.host, 'DELETE', `/v1/events/${event.id}/participants/${b!.userId}`)),
      ).toBe('EVENT_STARTED');
      expect(codeOf(await inject(event.host, 'DELETE', `/v1/events/${event.id}`))).toBe('EVENT_STARTED');
    } finally {
      clock.advance(-11 * MIN);
    }
  });

  it('[E] attendance: the host corrects a mark while the window is open; after the grace period it is closed', async () => {
    const event = await createEvent(t, times(t, 35, 10));
    const [a] = await users(1);
    await join(t, event.id, a!);
    const mark = (present: boolean) =>
      inject(event.host, 'PUT', `/v1/events/${event.id}/attendance`, {
        marks: [{ userId: a!.userId, present }],
      });
    clock.advance(10 * MIN);
    try {
      expect((await mark(true)).statusCode).toBe(204);
      expect((await mark(false)).statusCode).toBe(204);
      const sheet = (await inject(event.host, 'GET', `/v1/events/${event.id}/attendance`)).json() as Json;
      expect(sheet.participants).toMatchObject([{ user: { id: a!.userId }, attendance: 'absent' }]);
      clock.advance(25 * MIN + 10 * MIN + 6 * MIN); // past the end and the 5-minute grace period
      expect(codeOf(await mark(true))).toBe('ATTENDANCE_CLOSED');
    } finally {
      clock.advance(-(10 + 25 + 10 + 6) * MIN);
    }
  });

  it('[E] WEAK 2: someone marked present who then leaves or is removed before the start neither counts nor rates', async () => {
    const event = await createEvent(t, times(t, 35, 10));
    const [stays, leaver, removed] = await users(3);
    for (const p of [stays, leaver, removed]) await join(t, event.id, p!);
    clock.advance(10 * MIN); // attendance is open, the event has not started
    try {
      const marks = [stays, leaver, removed].map((p) => ({ userId: p!.userId, present: true }));
      expect(
        (await inject(event.host, 'PUT', `/v1/events/${event.id}/attendance`, { marks })).statusCode,
      ).toBe(204);
      expect((await inject(leaver!, 'POST', `/v1/events/${event.id}/leave`)).statusCode).toBe(204);
      expect(
        (await inject(event.host, 'DELETE', `/v1/events/${event.id}/participants/${removed!.userId}`))
          .statusCode,
      ).toBe(204);
      clock.advance(36 * MIN); // the event has ended
      const rate = (who: SignedUp) =>
        inject(who, 'POST', `/v1/events/${event.id}/ratings`, {
          userId: event.host.userId,
          verdict: 'bad',
          reason: 'late',
        });
      expect(codeOf(await rate(leaver!))).toBe('NOT_ATTENDED');
      expect(codeOf(await rate(removed!))).toBe('NOT_ATTENDED');
      expect((await rate(stays!)).statusCode).toBe(201);
      const rateGone = await inject(event.host, 'POST', `/v1/events/${event.id}/ratings`, {
        userId: leaver!.userId,
        verdict: 'good',
        reason: 'friendly',
      });
      expect(codeOf(rateGone)).toBe('NOT_ATTENDED');
      const reputation = async (who: SignedUp) =>
        ((await inject(null, 'GET', `/v1/users/${who.userId}/reputation`)).json() as Json).attended;
      expect([await reputation(stays!), await reputation(leaver!), await reputation(removed!)]).toEqual([
        1, 0, 0,
      ]);
      const history = (
        (await inject(null, 'GET', `/v1/users/${event.host.userId}/reputation`)).json() as Json
      ).hostingHistory as Json[];
      expect(history.find((h) => h.id === event.id)?.attendees).toBe(1);
    } finally {
      clock.advance(-46 * MIN);
    }
  });

  it('[H][E] ids and text reach SQL only as parameters: a malformed id is a 400, quotes are kept as typed', async () => {
    const res = await inject(null, 'GET', "/v1/events/1' or '1'='1");
    expect(res.statusCode).toBe(400);
    expect(codeOf(res)).toBe('VALIDATION_FAILED');
    const title = "Run'); drop table events; --";
    const event = await createEvent(t, { title, tags: ["o'clock"] });
    expect((await getEvent(t, event.id)).json()).toMatchObject({ title, tags: ["o'clock"] });
  });

  describe('concurrency', () => {
    it('one person joining five times at once takes one seat', async () => {
      const event = await createEvent(t, { capacity: 3 });
      const [a] = await users(1);
      const results = await Promise.all(Array.from({ length: 5 }, () => join(t, event.id, a!)));
      expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409, 409, 409, 409]);
      expect(((await getEvent(t, event.id)).json() as Json).goingCount).toBe(2);
    });

    it('five people leaving a full event at once promote exactly five, in queue order', async () => {
      const event = await createEvent(t, { capacity: 6 });
      const going = await users(5);
      for (const p of going) await join(t, event.id, p);
      const queued = await users(7);
      for (const p of queued) expect(((await join(t, event.id, p)).json() as Json).status).toBe('waitlisted');
      const left = await Promise.all(going.map((p) => inject(p, 'POST', `/v1/events/${event.id}/leave`)));
      expect(left.every((r) => r.statusCode === 204)).toBe(true);
      const statuses = await Promise.all(
        queued.map(async (p) => ((await getEvent(t, event.id, p)).json() as Json).viewer.status),
      );
      expect(statuses).toEqual(['going', 'going', 'going', 'going', 'going', 'waitlisted', 'waitlisted']);
      expect((await getEvent(t, event.id, event.host)).json()).toMatchObject({
        goingCount: 6,
        waitlistCount: 2,
      });
      expect((await outboxTopics(t, event.id)).filter((x) => x === 'event.promoted')).toHaveLength(5);
    });

    it('the host accepting five applications at once fills the two free seats and queues the rest', async () => {
      const event = await createEvent(t, { capacity: 3, requiresApproval: true });
      const applicants = await users(5);
      for (const p of applicants) await join(t, event.id, p);
      const decided = await Promise.all(
        applicants.map((p) =>
          inject(event.host, 'POST', `/v1/events/${event.id}/applications/${p.userId}/approve`),
        ),
      );
      const statuses = decided.map((r) => (r.json() as Json).status as string);
      expect(statuses.filter((s) => s === 'going')).toHaveLength(2);
      expect(statuses.filter((s) => s === 'waitlisted')).toHaveLength(3);
      expect((await getEvent(t, event.id, event.host)).json()).toMatchObject({
        goingCount: 3,
        waitlistCount: 3,
        pendingCount: 0,
      });
    });

    it('a rating sent twice at once is stored once; the second answers ALREADY_RATED', async () => {
      const event = await createEvent(t, times(t, 35, 10));
      const [a] = await users(1);
      await join(t, event.id, a!);
      clock.advance(10 * MIN);
      try {
        await inject(event.host, 'PUT', `/v1/events/${event.id}/attendance`, {
          marks: [{ userId: a!.userId, present: true }],
        });
        clock.advance(36 * MIN);
        const body = { userId: event.host.userId, verdict: 'good', reason: 'punctual' };
        const results = await Promise.all(
          [1, 2, 3].map(() => inject(a!, 'POST', `/v1/events/${event.id}/ratings`, body)),
        );
        expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
        expect(results.filter((r) => r.statusCode === 409).map(codeOf)).toEqual([
          'ALREADY_RATED',
          'ALREADY_RATED',
        ]);
        const given = (await inject(a!, 'GET', `/v1/events/${event.id}/ratings/mine`)).json() as Json;
        expect(given.given).toHaveLength(1);
      } finally {
        clock.advance(-46 * MIN);
      }
    });
  });
});
