import ICAL from 'ical.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeText, foldLine } from '../../src/modules/calendar/ical.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import { createEvent, join } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';
import { kst, kstMonth, span } from './support.js';

const FETCHES_PER_HOUR = 12;

/** The path of a feed URL, for app.inject. */
const pathOf = (url: string) => new URL(url).pathname;

/** Parses a feed with a real iCalendar parser and returns its events by UID. */
function parse(text: string) {
  const calendar = new ICAL.Component(ICAL.parse(text));
  const events = new Map<string, ICAL.Component>();
  for (const vevent of calendar.getAllSubcomponents('vevent')) {
    events.set(String(vevent.getFirstPropertyValue('uid')), vevent);
  }
  return { calendar, events };
}

const uid = (eventId: string) => `${eventId}@moim`;

describe('calendar feeds: private iCalendar URLs', () => {
  let t: TestApp;
  const clock = new ManualClock();
  beforeAll(async () => {
    t = await buildTestApp({
      clock,
      env: {
        EVENT_CREATE_INTERVAL_SECONDS: '0',
        EVENT_CREATE_PER_DAY: '1000',
        CALENDAR_FEED_FETCHES_PER_HOUR: String(FETCHES_PER_HOUR),
        CALENDAR_FEED_PAST_DAYS: '30',
        PUBLIC_URL: 'https://api.moim.test',
      },
    });
  });
  afterAll(() => t.close());

  const createFeed = (who: SignedUp, payload: Record<string, unknown> = {}) =>
    t.app.inject({ method: 'POST', url: '/v1/me/calendar/feeds', headers: who.headers, payload });
  const fetchFeed = (url: string, headers: Record<string, string> = {}, ip?: string) =>
    t.app.inject({ url: pathOf(url), headers, ...(ip ? { remoteAddress: ip } : {}) });
  const rotate = (who: SignedUp, id: string) =>
    t.app.inject({ method: 'POST', url: `/v1/me/calendar/feeds/${id}/rotate`, headers: who.headers });
  const revoke = (who: SignedUp, id: string) =>
    t.app.inject({ method: 'DELETE', url: `/v1/me/calendar/feeds/${id}`, headers: who.headers });

  it('serves my calendar as valid RFC 5545 that a real parser reads back exactly', async () => {
    const { y, m } = kstMonth(t, 1);
    const host = await signUpWithEmail(t);
    const me = await signUpWithEmail(t);
    const tricky = 'Run, then eat; bring \\ cash\nand a towel';
    const korean = '한강 야간 러닝 — 여의나루역 2번 출구에서 만나요, 늦지 마세요; 물은 각자 준비 🏃‍♀️ '.repeat(
      3,
    );
    const run = await createEvent(
      t,
      {
        title: tricky,
        description: korean,
        placeName: '여의나루역 2번 출구, 서울',
        ...span(kst(y, m, 9, 19, 30), 90),
        color: '#00AA88',
      },
      host,
    );
    await join(t, run.id, me);
    // Without a place (sent without the fields: a JSON null is coerced to 0 and "" by the validator today).
    const hostedRes = await t.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: me.headers,
      payload: { title: '내가 여는 모임', ...span(kst(y, m, 10, 8), 60) },
    });
    const hosted = hostedRes.json() as Json;
    const full = await createEvent(t, { title: 'Full', capacity: 2, ...span(kst(y, m, 11, 8), 60) }, host);
    await join(t, full.id, await signUpWithEmail(t));
    expect((await join(t, full.id, me)).json()).toMatchObject({ status: 'waitlisted' });
    await createEvent(t, { title: 'Not mine', ...span(kst(y, m, 12, 8), 60) }, host);

    const created = await createFeed(me);
    expect(created.statusCode).toBe(201);
    const feed = created.json() as Json;
    expect(feed).toMatchObject({ scope: 'user', groupId: null, rotatedAt: null, lastUsedAt: null });
    expect(feed.url).toMatch(/^https:\/\/api\.moim\.test\/v1\/calendar\/feeds\/[A-Za-z0-9_-]{43}\.ics$/);
    expect(feed.webcalUrl).toBe(feed.url.replace('https:', 'webcal:'));

    // No Authorization header: the URL is the credential.
    const res = await fetchFeed(feed.url);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/calendar; charset=utf-8');
    expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect(res.headers['cache-control']).toBe('private, max-age=300');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    const text = res.body;

    // Lines: CRLF everywhere, none longer than 75 octets, continuation lines start with one space, and no
    // line break splits a multi-byte character (each physical line is whole UTF-8).
    expect(text.endsWith('\r\n')).toBe(true);
    const lines = text.slice(0, -2).split('\r\n');
    expect(lines.some((l) => l.includes('\n') || l.includes('\r'))).toBe(false);
    for (const line of lines) expect(Buffer.byteLength(line, 'utf8')).toBeLessThanOrEqual(75);
    expect(lines.filter((l) => l.startsWith(' ')).length).toBeGreaterThan(3);
    for (const line of lines) expect(Buffer.from(line, 'utf8').toString('utf8')).toBe(line);
    expect(lines.every((l) => !l.includes('\uFFFD'))).toBe(true);
    // Escaped as TEXT: commas, semicolons, backslashes and newlines.
    const unfolded = text.replace(/\r\n /g, '');
    expect(unfolded).toContain('SUMMARY:Run\\, then eat\\; bring \\\\ cash\\nand a towel\r\n');
    expect(unfolded).toContain('LOCATION:여의나루역 2번 출구\\, 서울\r\n');

    const { calendar, events } = parse(text);
    expect(calendar.getFirstPropertyValue('prodid')).toBe('-//Moim//Moim Calendar 1.0//EN');
    expect(calendar.getFirstPropertyValue('version')).toBe('2.0');
    expect([...events.keys()].sort()).toEqual([uid(run.id), uid(hosted.id), uid(full.id)].sort());

    const vevent = events.get(uid(run.id))!;
    const event = new ICAL.Event(vevent);
    expect(event.summary).toBe(tricky);
    expect(event.description).toBe(korean);
    expect(event.location).toBe('여의나루역 2번 출구, 서울');
    expect(event.startDate.toJSDate().toISOString()).toBe(kst(y, m, 9, 19, 30).toISOString());
    expect(event.endDate.toJSDate().toISOString()).toBe(kst(y, m, 9, 21).toISOString());
    // Times in UTC (Z), never floating.
    expect(event.startDate.zone?.tzid).toBe('UTC');
    expect(unfolded).toMatch(/DTSTART:\d{8}T\d{6}Z\r\n/);
    expect(vevent.getFirstPropertyValue('dtstamp')).toBeTruthy();
    expect(vevent.getFirstPropertyValue('sequence')).toBe(0);
    expect(vevent.getFirstPropertyValue('status')).toBe('CONFIRMED');
    expect(vevent.getFirstPropertyValue('geo')).toEqual([37.5283, 126.9326]);
    expect(vevent.getFirstPropertyValue('url')).toBe(`https://api.moim.test/v1/events/${run.id}`);
    expect(vevent.getFirstPropertyValue('x-moim-role')).toBe('GOING');
    expect(vevent.getFirstPropertyValue('x-moim-color')).toBe('#00aa88');

    const mine = events.get(uid(hosted.id))!;
    expect(mine.getFirstPropertyValue('summary')).toBe('내가 여는 모임');
    expect(mine.getFirstPropertyValue('x-moim-role')).toBe('HOST');
    expect(mine.getFirstProperty('geo')).toBeNull();
    expect(mine.getFirstProperty('location')).toBeNull();
    // A seat not yet mine is tentative.
    expect(events.get(uid(full.id))!.getFirstPropertyValue('status')).toBe('TENTATIVE');

    // The secret never reaches a log line (the request log masks it); the harness checks every line on close.
    const secret = /feeds\/([^.]+)\.ics/.exec(feed.url)![1]!;
    expect(t.logs.text()).not.toContain(secret);
    expect(t.logs.text()).toContain('/v1/calendar/feeds/[REDACTED]');
  });

  it('answers 304 to a matching ETag; edits bump SEQUENCE and change the ETag; cancellation stays as CANCELLED', async () => {
    const { y, m } = kstMonth(t, 1);
    const me = await signUpWithEmail(t);
    const event = await createEvent(t, { title: 'Before', ...span(kst(y, m, 15, 7), 60) }, me);
    const feed = (await createFeed(me)).json() as Json;

    const first = await fetchFeed(feed.url);
    const etag = first.headers.etag as string;
    const again = await fetchFeed(feed.url, { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers.etag).toBe(etag);
    expect((await fetchFeed(feed.url, { 'if-none-match': `"other", W/${etag}` })).statusCode).toBe(304);
    expect((await fetchFeed(feed.url, { 'if-none-match': '"other"' })).statusCode).toBe(200);
    // Nothing changed, nothing differs: DTSTAMP is the last revision, not the time of the request.
    expect((await fetchFeed(feed.url)).body).toBe(first.body);

    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/v1/events/${event.id}`,
      headers: me.headers,
      payload: { title: 'After', ...span(kst(y, m, 15, 8), 60) },
    });
    expect(patched.statusCode).toBe(200);
    const edited = await fetchFeed(feed.url, { 'if-none-match': etag });
    expect(edited.statusCode).toBe(200);
    expect(edited.headers.etag).not.toBe(etag);
    const vevent = parse(edited.body).events.get(uid(event.id))!;
    expect(vevent.getFirstPropertyValue('summary')).toBe('After');
    expect(vevent.getFirstPropertyValue('sequence')).toBe(1);
    expect(new ICAL.Event(vevent).startDate.toJSDate().toISOString()).toBe(kst(y, m, 15, 8).toISOString());
    const before = parse(first.body).events.get(uid(event.id))!;
    const stamp = (c: ICAL.Component) =>
      (c.getFirstPropertyValue('dtstamp') as ICAL.Time).toJSDate().getTime();
    expect(stamp(vevent)).toBeGreaterThanOrEqual(stamp(before));

    expect(
      (await t.app.inject({ method: 'DELETE', url: `/v1/events/${event.id}`, headers: me.headers }))
        .statusCode,
    ).toBe(204);
    const cancelled = parse((await fetchFeed(feed.url)).body).events.get(uid(event.id))!;
    expect(cancelled.getFirstPropertyValue('status')).toBe('CANCELLED');
    expect(cancelled.getFirstPropertyValue('sequence')).toBe(2);
  });

  it('my part is part of the entry: promoted from the waitlist, the event turns CONFIRMED in my feed', async () => {
    const { y, m } = kstMonth(t, 1);
    const host = await signUpWithEmail(t);
    const first = await signUpWithEmail(t);
    const me = await signUpWithEmail(t);
    const event = await createEvent(
      t,
      { title: 'Two seats', capacity: 2, ...span(kst(y, m, 20, 7), 60) },
      host,
    );
    await join(t, event.id, first);
    expect((await join(t, event.id, me)).json()).toMatchObject({ status: 'waitlisted' });
    const feed = (await createFeed(me)).json() as Json;
    const before = await fetchFeed(feed.url);
    expect(parse(before.body).events.get(uid(event.id))!.getFirstPropertyValue('status')).toBe('TENTATIVE');

    await t.app.inject({ method: 'POST', url: `/v1/events/${event.id}/leave`, headers: first.headers });
    const after = await fetchFeed(feed.url, { 'if-none-match': before.headers.etag as string });
    expect(after.statusCode).toBe(200);
    const vevent = parse(after.body).events.get(uid(event.id))!;
    expect(vevent.getFirstPropertyValue('status')).toBe('CONFIRMED');
    expect(vevent.getFirstPropertyValue('x-moim-role')).toBe('GOING');
  });

  it('one feed per calendar; rotation kills the old URL at once; revocation kills the URL; owners only', async () => {
    const me = await signUpWithEmail(t);
    const other = await signUpWithEmail(t);
    const feed = (await createFeed(me)).json() as Json;
    const dup = await createFeed(me);
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({ code: 'CALENDAR_FEED_EXISTS', details: { feedId: feed.id } });

    // The list never shows the URL (only its hash is kept).
    const list = (await t.app.inject({ url: '/v1/me/calendar/feeds', headers: me.headers })).json() as Json;
    expect(list.items).toEqual([
      {
        id: feed.id,
        scope: 'user',
        groupId: null,
        createdAt: feed.createdAt,
        rotatedAt: null,
        lastUsedAt: null,
      },
    ]);
    expect(JSON.stringify(list)).not.toContain('.ics');
    const secret = /feeds\/([^.]+)\.ics/.exec(feed.url)![1]!;
    const { sql } = await import('drizzle-orm');
    const { queryRows } = await import('../../src/infra/db/database.js');
    const rows = await queryRows<{ token_hash: string }>(
      t.infra.database.db,
      sql`select token_hash from calendar_feeds where id = ${feed.id}`,
    );
    expect(rows[0]!.token_hash).not.toContain(secret);
    expect(rows[0]!.token_hash).toHaveLength(43);

    // Someone else cannot see, rotate or revoke my feed: it does not exist for them.
    expect((await rotate(other, feed.id)).statusCode).toBe(404);
    expect((await revoke(other, feed.id)).statusCode).toBe(404);
    expect(
      ((await t.app.inject({ url: '/v1/me/calendar/feeds', headers: other.headers })).json() as Json).items,
    ).toEqual([]);
    expect((await fetchFeed(feed.url)).statusCode).toBe(200);

    const rotated = await rotate(me, feed.id);
    expect(rotated.statusCode).toBe(200);
    const fresh = rotated.json() as Json;
    expect(fresh.id).toBe(feed.id);
    expect(fresh.url).not.toBe(feed.url);
    expect(fresh.rotatedAt).not.toBeNull();
    const dead = await fetchFeed(feed.url);
    expect(dead.statusCode).toBe(404);
    expect(dead.json()).toMatchObject({ code: 'NOT_FOUND' });
    expect((await fetchFeed(fresh.url)).statusCode).toBe(200);

    expect((await revoke(me, feed.id)).statusCode).toBe(204);
    expect((await fetchFeed(fresh.url)).statusCode).toBe(404);
    expect((await rotate(me, feed.id)).statusCode).toBe(404);
    // A new feed may be made after revoking.
    const renewed = await createFeed(me);
    expect(renewed.statusCode).toBe(201);

    // Signed-out management is refused; the feed itself ignores any Authorization header a client sends.
    expect(
      (await t.app.inject({ method: 'POST', url: '/v1/me/calendar/feeds', payload: {} })).statusCode,
    ).toBe(401);
    const url = (renewed.json() as Json).url as string;
    expect((await fetchFeed(url, { authorization: 'Bearer not-a-token' })).statusCode).toBe(200);
  });

  it('simultaneous creations make one feed: one 201, the rest 409', async () => {
    const me = await signUpWithEmail(t);
    const results = await Promise.all(Array.from({ length: 6 }, () => createFeed(me)));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    const list = (await t.app.inject({ url: '/v1/me/calendar/feeds', headers: me.headers })).json() as Json;
    expect(list.items).toHaveLength(1);
  });

  it('unknown and malformed secrets are 404, and one address guessing is stopped with 429', async () => {
    const ip = '10.99.0.1';
    for (const file of ['nope.ics', `${'A'.repeat(43)}.ics`, `${'A'.repeat(43)}`, '..%2f..%2fetc.ics']) {
      expect((await t.app.inject({ url: `/v1/calendar/feeds/${file}`, remoteAddress: ip })).statusCode).toBe(
        404,
      );
    }
    let last = 0;
    for (let i = 0; i < 20; i++) {
      last = (await t.app.inject({ url: `/v1/calendar/feeds/guess${i}.ics`, remoteAddress: ip })).statusCode;
    }
    expect(last).toBe(429);
    // Another address is not affected.
    expect(
      (await t.app.inject({ url: '/v1/calendar/feeds/x.ics', remoteAddress: '10.99.0.2' })).statusCode,
    ).toBe(404);
  });

  it('limits fetches per feed with 429 and Retry-After, and records when a feed was last used', async () => {
    const me = await signUpWithEmail(t);
    const feed = (await createFeed(me)).json() as Json;
    for (let i = 0; i < FETCHES_PER_HOUR; i++) expect((await fetchFeed(feed.url)).statusCode).toBe(200);
    const limited = await fetchFeed(feed.url);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    const list = (await t.app.inject({ url: '/v1/me/calendar/feeds', headers: me.headers })).json() as Json;
    expect(list.items[0].lastUsedAt).not.toBeNull();
    clock.advance(3_600_000);
    expect((await fetchFeed(feed.url)).statusCode).toBe(200);
  });

  it('a deleted account’s feed answers 404 at once', async () => {
    const me = await signUpWithEmail(t);
    const feed = (await createFeed(me)).json() as Json;
    expect((await fetchFeed(feed.url)).statusCode).toBe(200);
    const del = await t.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: me.headers,
      payload: { password: me.password },
    });
    expect(del.statusCode).toBe(200);
    expect((await fetchFeed(feed.url)).statusCode).toBe(404);
    // The outbox subscriber removes the feed itself, so a restored account does not revive the URL.
    await expect
      .poll(async () => {
        const { sql } = await import('drizzle-orm');
        const { queryRows } = await import('../../src/infra/db/database.js');
        const rows = await queryRows(
          t.infra.database.db,
          sql`select id from calendar_feeds where owner_id = ${me.userId}`,
        );
        return rows.length;
      })
      .toBe(0);
  });

  it('leaves out events that ended longer ago than CALENDAR_FEED_PAST_DAYS', async () => {
    const me = await signUpWithEmail(t);
    const soon = await createEvent(
      t,
      { title: 'Soon', ...span(new Date(clock.now().getTime() + 3_600_000), 60) },
      me,
    );
    const later = await createEvent(
      t,
      { title: 'Later', ...span(new Date(clock.now().getTime() + 40 * 86_400_000), 60) },
      me,
    );
    const feed = (await createFeed(me)).json() as Json;
    expect([...parse((await fetchFeed(feed.url)).body).events.keys()].sort()).toEqual(
      [uid(soon.id), uid(later.id)].sort(),
    );
    clock.advance(35 * 86_400_000);
    expect([...parse((await fetchFeed(feed.url)).body).events.keys()]).toEqual([uid(later.id)]);
  });
});

describe('iCalendar writer', () => {
  it('escapes TEXT and folds at 75 octets without splitting characters', () => {
    expect(escapeText('a,b;c\\d\r\ne\nf\rg\u0007h\ti')).toBe('a\\,b\\;c\\\\d\\ne\\nf\\ng' + 'h\ti');
    const line = `SUMMARY:${'가'.repeat(60)}`;
    const folded = foldLine(line).split('\r\n');
    for (const l of folded) expect(Buffer.byteLength(l)).toBeLessThanOrEqual(75);
    expect(folded[0]!.length).toBe(8 + 22);
    expect(folded.slice(1).every((l) => l.startsWith(' '))).toBe(true);
    expect(folded.map((l, i) => (i === 0 ? l : l.slice(1))).join('')).toBe(line);
    expect(foldLine('SHORT:ok')).toBe('SHORT:ok');
    // An emoji (4 octets, two UTF-16 units) stays whole too.
    const emoji = foldLine(`X:${'🏃'.repeat(40)}`).split('\r\n');
    for (const l of emoji) {
      expect(Buffer.byteLength(l)).toBeLessThanOrEqual(75);
      expect(l).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    }
  });
});
