import { randomUUID } from 'node:crypto';
import ICAL from 'ical.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { createEvent, join } from '../helpers/events.js';
import { createGroup, inviteUser, joinGroup } from '../helpers/groups.js';
import type { Json } from '../helpers/http.js';
import { get, kst, kstMonth, label, span } from './support.js';

describe('calendar: a group’s month, day and feeds', () => {
  let t: TestApp;
  let mom: SignedUp;
  let son: SignedUp;
  let outsider: SignedUp;
  let family: string;
  let club: string;
  const ids: Record<string, string> = {};
  let y: number;
  let m: number;
  let mon: string;

  beforeAll(async () => {
    t = await buildTestApp({
      env: { EVENT_CREATE_INTERVAL_SECONDS: '0', EVENT_CREATE_PER_DAY: '1000' },
    });
    ({ y, m, label: mon } = kstMonth(t, 2));
    [mom, son, outsider] = await Promise.all([signUpWithEmail(t), signUpWithEmail(t), signUpWithEmail(t)]);
    family = (
      await createGroup(
        t,
        {
          name: '우리 가족',
          kind: 'family',
          visibility: 'private',
          joinPolicy: 'invite_only',
          displayName: '엄마',
        },
        mom,
      )
    ).id;
    await inviteUser(t, family, mom, son.userId);
    expect((await joinGroup(t, family, son, { displayName: 'Son' })).statusCode).toBe(200);
    club = (await createGroup(t, { name: 'Han River Runners', visibility: 'public' }, mom)).id;

    const make = async (key: string, body: Record<string, unknown>, host = mom) => {
      ids[key] = (await createEvent(t, body, host)).id;
    };
    await make('dinner', {
      groupId: family,
      kind: 'family',
      title: 'Grandma’s birthday',
      ...span(kst(y, m, 3, 18), 120),
      color: '#E91E63',
    });
    await make(
      'trip',
      { groupId: family, kind: 'family', title: 'Jeju trip', ...span(kst(y, m, 8, 9), 2 * 1440) },
      son,
    );
    await make('openRun', { groupId: club, kind: 'run', title: 'Open run', ...span(kst(y, m, 3, 7), 60) });
    await make('crewOnly', {
      groupId: club,
      kind: 'run',
      title: 'Crew only',
      visibility: 'private',
      ...span(kst(y, m, 4, 7), 60),
    });
    await make('standalone', { title: 'Not in a group', ...span(kst(y, m, 3, 12), 60) });
  });
  afterAll(() => t.close());

  const monthOf = (group: string, who?: SignedUp) =>
    get(t, `/v1/groups/${group}/calendar/months/${mon}`, who);
  const dayOf = (group: string, d: number, who?: SignedUp) =>
    get(t, `/v1/groups/${group}/calendar/days/${label(y, m, d)}`, who);
  const titles = (body: Json) =>
    [...new Set((body.days as Json[]).flatMap((d) => d.items.map((i: Json) => i.title as string)))].sort();

  it('a private group’s calendar is its members’ only: 404 to everyone else', async () => {
    const res = await monthOf(family, son);
    expect(res.statusCode).toBe(200);
    const body = res.json() as Json;
    expect(titles(body)).toEqual(['Grandma’s birthday', 'Jeju trip']);
    expect(body.total).toBe(2);
    const days = Object.fromEntries((body.days as Json[]).map((d) => [d.date, d.count]));
    expect(days).toEqual({
      [label(y, m, 3)]: 1,
      [label(y, m, 8)]: 1,
      [label(y, m, 9)]: 1,
      [label(y, m, 10)]: 1,
    });

    for (const who of [outsider, undefined]) {
      expect((await monthOf(family, who)).statusCode).toBe(404);
      expect((await dayOf(family, 3, who)).statusCode).toBe(404);
    }
    expect((await monthOf(randomUUID(), son)).statusCode).toBe(404);
    expect((await get(t, `/v1/groups/not-a-uuid/calendar/months/${mon}`, son)).statusCode).toBe(400);
    expect((await get(t, `/v1/groups/${family}/calendar/months/2026-13`, son)).statusCode).toBe(400);
  });

  it('the day detail names each host as the family knows them, with my part and my colour', async () => {
    await join(t, ids.dinner!, son);
    const put = await t.app.inject({
      method: 'PUT',
      url: `/v1/me/calendar/events/${ids.dinner}/color`,
      headers: son.headers,
      payload: { color: '#3F51B5' },
    });
    expect(put.statusCode).toBe(200);
    const body = (await dayOf(family, 3, son)).json() as Json;
    expect(body.items).toHaveLength(1);
    expect(body.items[0]).toMatchObject({
      id: ids.dinner,
      groupId: family,
      title: 'Grandma’s birthday',
      visibility: 'private',
      host: { id: mom.userId, displayName: '엄마' },
      role: 'going',
      color: '#3f51b5',
      hostColor: '#e91e63',
    });
    const momView = (await dayOf(family, 3, mom)).json() as Json;
    expect(momView.items[0]).toMatchObject({ role: 'host', color: '#e91e63', myColor: null });
    const trip = (await dayOf(family, 9, mom)).json() as Json;
    expect(trip.items[0]).toMatchObject({
      title: 'Jeju trip',
      host: { id: son.userId, displayName: 'Son' },
      role: null,
    });
  });

  it('a public group shows its public events to anyone and everything to members', async () => {
    expect(titles((await monthOf(club)).json())).toEqual(['Open run']);
    expect(titles((await monthOf(club, outsider)).json())).toEqual(['Open run']);
    expect(titles((await monthOf(club, mom)).json())).toEqual(['Crew only', 'Open run']);
    expect(((await dayOf(club, 4, outsider)).json() as Json).items).toEqual([]);
    expect(((await dayOf(club, 4, mom)).json() as Json).items).toMatchObject([{ title: 'Crew only' }]);
    // Group events are in their people's own calendars too; the standalone one only in its host's.
    const mine = (await get(t, `/v1/me/calendar/months/${mon}`, mom)).json() as Json;
    expect(titles(mine)).toEqual(['Crew only', 'Grandma’s birthday', 'Not in a group', 'Open run']);
  });

  it('every member gets a personal group feed; one member’s rotation breaks no one else’s', async () => {
    const create = (who: SignedUp, groupId: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/me/calendar/feeds',
        headers: who.headers,
        payload: { groupId },
      });
    const momFeed = (await create(mom, family)).json() as Json;
    const sonRes = await create(son, family);
    expect(sonRes.statusCode).toBe(201);
    const sonFeed = sonRes.json() as Json;
    expect(sonFeed).toMatchObject({ scope: 'group', groupId: family });
    expect(sonFeed.url).not.toBe(momFeed.url);
    expect((await create(son, family)).json()).toMatchObject({ code: 'CALENDAR_FEED_EXISTS' });
    // Outsiders: a private group does not exist, a public one needs membership.
    expect((await create(outsider, family)).statusCode).toBe(404);
    expect((await create(outsider, randomUUID())).statusCode).toBe(404);
    expect((await create(outsider, club)).json()).toMatchObject({ code: 'NOT_A_MEMBER' });

    const fetch = (url: string) => t.app.inject({ url: new URL(url).pathname });
    const res = await fetch(sonFeed.url);
    expect(res.statusCode).toBe(200);
    const calendar = new ICAL.Component(ICAL.parse(res.body));
    expect(calendar.getFirstPropertyValue('x-wr-calname')).toBe('Moim · 우리 가족');
    const uids = calendar.getAllSubcomponents('vevent').map((v) => v.getFirstPropertyValue('uid'));
    expect(uids.sort()).toEqual([`${ids.dinner}@moim`, `${ids.trip}@moim`].sort());

    const rotated = await t.app.inject({
      method: 'POST',
      url: `/v1/me/calendar/feeds/${momFeed.id}/rotate`,
      headers: mom.headers,
    });
    expect(rotated.statusCode).toBe(200);
    expect((await fetch(momFeed.url)).statusCode).toBe(404);
    expect((await fetch(sonFeed.url)).statusCode).toBe(200);
    // Nobody manages another member's feed.
    const steal = await t.app.inject({
      method: 'DELETE',
      url: `/v1/me/calendar/feeds/${sonFeed.id}`,
      headers: mom.headers,
    });
    expect(steal.statusCode).toBe(404);

    // A member who leaves loses their feed for good (rejoining does not revive the old URL); others keep theirs.
    const leave = (who: SignedUp) =>
      t.app.inject({ method: 'POST', url: `/v1/groups/${family}/leave`, headers: who.headers });
    expect((await leave(son)).statusCode).toBeLessThan(300);
    expect((await fetch(sonFeed.url)).statusCode).toBe(404);
    expect((await monthOf(family, son)).statusCode).toBe(404);
    await inviteUser(t, family, mom, son.userId);
    expect((await joinGroup(t, family, son, { displayName: 'Son' })).statusCode).toBe(200);
    expect((await fetch(sonFeed.url)).statusCode).toBe(404);
    expect((await fetch((rotated.json() as Json).url)).statusCode).toBe(200);

    // A group that is gone takes its feeds with it.
    const clubFeed = (await create(mom, club)).json() as Json;
    expect((await fetch(clubFeed.url)).statusCode).toBe(200);
    const removed = await t.app.inject({ method: 'DELETE', url: `/v1/groups/${club}`, headers: mom.headers });
    expect(removed.statusCode).toBeLessThan(300);
    expect((await fetch(clubFeed.url)).statusCode).toBe(404);
  });
});
