import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/database.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { createEvent, join } from '../helpers/events.js';
import { addInvited, createGroup, withMembers } from '../helpers/groups.js';
import type { Json } from '../helpers/http.js';

describe('reactions: likes and bookmarks on events and groups', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { EVENT_CREATE_INTERVAL_SECONDS: '0', EVENT_CREATE_PER_DAY: '1000' } });
  });
  afterAll(() => t.close());

  const users = (n: number) => Promise.all(Array.from({ length: n }, () => signUpWithEmail(t)));
  const react = (method: 'PUT' | 'DELETE', path: string, who?: SignedUp) =>
    t.app.inject({ method, url: `/v1${path}`, ...(who ? { headers: who.headers } : {}) });
  const rowCount = async (targetId: string, kind: string) =>
    (
      await queryRows<{ n: number }>(
        t.infra.database.db,
        sql`select count(*)::int as n from reactions where target_id = ${targetId} and kind = ${kind}`,
      )
    )[0]!.n;

  it('like and bookmark an event: idempotent both ways, counts on the event, state per person', async () => {
    const event = await createEvent(t);
    const [a, b] = await users(2);
    const first = await react('PUT', `/events/${event.id}/like`, a!);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toEqual({ liked: true, bookmarked: false, likeCount: 1, bookmarkCount: 0 });
    // Twice counts once.
    expect((await react('PUT', `/events/${event.id}/like`, a!)).json()).toMatchObject({ likeCount: 1 });
    expect((await react('PUT', `/events/${event.id}/like`, b!)).json()).toMatchObject({ likeCount: 2 });
    expect((await react('PUT', `/events/${event.id}/bookmark`, a!)).json()).toEqual({
      liked: true,
      bookmarked: true,
      likeCount: 2,
      bookmarkCount: 1,
    });
    expect((await react('DELETE', `/events/${event.id}/like`, a!)).json()).toEqual({
      liked: false,
      bookmarked: true,
      likeCount: 1,
      bookmarkCount: 1,
    });
    // Undoing twice changes nothing.
    expect((await react('DELETE', `/events/${event.id}/like`, a!)).json()).toMatchObject({ likeCount: 1 });
    const read = (await t.app.inject({ url: `/v1/events/${event.id}` })).json() as Json;
    expect(read).toMatchObject({ likeCount: 1, bookmarkCount: 1 });
    // Lists show the viewer's own state.
    const listed = (
      await t.app.inject({
        url: `/v1/events?q=${encodeURIComponent(event.body.title)}&limit=100`,
        headers: a!.headers,
      })
    ).json() as Json;
    expect((listed.items as Json[]).find((i) => i.id === event.id).viewer).toEqual({
      liked: false,
      bookmarked: true,
      status: null,
    });
  });

  it('50 people liking at once count 50; repeated toggles at once leave the count equal to the rows', async () => {
    const event = await createEvent(t);
    const people = await users(50);
    const results = await Promise.all(people.map((p) => react('PUT', `/events/${event.id}/like`, p)));
    expect(results.map((r) => r.statusCode).filter((s) => s !== 200)).toEqual([]);
    const read = (await t.app.inject({ url: `/v1/events/${event.id}` })).json() as Json;
    expect(read.likeCount).toBe(50);
    expect(await rowCount(event.id, 'like')).toBe(50);

    // Each person fires like, unlike, like, unlike, like at once, many times over: whatever order the database
    // runs them in, the counter must equal the rows.
    const storm = people.flatMap((p, i) =>
      Array.from({ length: 5 }, (_, k) =>
        react((k + i) % 2 === 0 ? 'PUT' : 'DELETE', `/events/${event.id}/like`, p),
      ),
    );
    const stormed = await Promise.all(storm);
    // Listed rather than a boolean, so a failure shows which answers came back (a pool timeout, a deadlock...).
    expect(stormed.map((r) => `${r.statusCode} ${r.body}`).filter((s) => !s.startsWith('200'))).toEqual([]);
    const rows = await rowCount(event.id, 'like');
    const after = (await t.app.inject({ url: `/v1/events/${event.id}` })).json() as Json;
    expect(after.likeCount).toBe(rows);
    // And settling everyone on "unliked" brings both to zero.
    await Promise.all(people.map((p) => react('DELETE', `/events/${event.id}/like`, p)));
    expect(((await t.app.inject({ url: `/v1/events/${event.id}` })).json() as Json).likeCount).toBe(0);
    expect(await rowCount(event.id, 'like')).toBe(0);
  });

  it("a deleted account's likes and bookmarks go, and the counts with them", async () => {
    const event = await createEvent(t);
    const [stays, leaves] = await users(2);
    for (const who of [stays!, leaves!]) {
      await react('PUT', `/events/${event.id}/like`, who);
      await react('PUT', `/events/${event.id}/bookmark`, who);
    }
    const del = await t.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: leaves!.headers,
      payload: { password: leaves!.password },
    });
    expect(del.statusCode).toBe(200);
    await t.infra.outbox.drain();
    expect((await t.app.inject({ url: `/v1/events/${event.id}` })).json()).toMatchObject({
      likeCount: 1,
      bookmarkCount: 1,
    });
    expect(await rowCount(event.id, 'like')).toBe(1);
  });

  it('"most liked" sorts by the exact counts', async () => {
    const host = await signUpWithEmail(t);
    const tag = `liked${Date.now()}`;
    const [one, two, three] = [
      await createEvent(t, { title: 'one', tags: [tag] }, host),
      await createEvent(t, { title: 'two', tags: [tag] }, host),
      await createEvent(t, { title: 'three', tags: [tag] }, host),
    ];
    const fans = await users(3);
    await Promise.all(fans.map((f) => react('PUT', `/events/${two!.id}/like`, f)));
    await react('PUT', `/events/${three!.id}/like`, fans[0]!);
    const res = (await t.app.inject({ url: `/v1/events?tags=${tag}&sort=liked` })).json() as Json;
    expect((res.items as Json[]).map((i) => [i.title, i.likeCount])).toEqual([
      ['two', 3],
      ['three', 1],
      ['one', 0],
    ]);
    expect(one).toBeDefined();
  });

  it('only what the caller can see: 404 for a private event, 401 signed out, 404 for no such event', async () => {
    const secret = await createEvent(t, { visibility: 'private' });
    const [stranger, guest] = await users(2);
    for (const kind of ['like', 'bookmark']) {
      const res = await react('PUT', `/events/${secret.id}/${kind}`, stranger!);
      expect(res.statusCode).toBe(404);
      expect((res.json() as Json).code).toBe('NOT_FOUND');
      expect((await react('PUT', `/events/${secret.id}/${kind}`)).statusCode).toBe(401);
    }
    expect(
      (await react('PUT', `/events/00000000-0000-4000-8000-000000000000/like`, stranger!)).statusCode,
    ).toBe(404);
    expect((await react('PUT', `/events/not-a-uuid/like`, stranger!)).statusCode).toBe(400);
    expect(await rowCount(secret.id, 'like')).toBe(0);

    // An invited guest sees it, so may bookmark it; removed from the event, it leaves their bookmarks.
    await t.app.inject({
      method: 'POST',
      url: `/v1/events/${secret.id}/invitations`,
      headers: secret.host.headers,
      payload: { userId: guest!.userId },
    });
    expect((await react('PUT', `/events/${secret.id}/bookmark`, guest!)).statusCode).toBe(200);
    const bookmarks = async () =>
      ((await t.app.inject({ url: '/v1/me/bookmarks', headers: guest!.headers })).json() as Json)
        .items as Json[];
    expect((await bookmarks()).map((b) => b.id)).toEqual([secret.id]);
    expect((await join(t, secret.id, guest!)).statusCode).toBe(200);
    const kick = await t.app.inject({
      method: 'DELETE',
      url: `/v1/events/${secret.id}/participants/${guest!.userId}`,
      headers: secret.host.headers,
    });
    expect(kick.statusCode).toBe(204);
    expect(await bookmarks()).toEqual([]);
    expect((await react('DELETE', `/events/${secret.id}/bookmark`, guest!)).statusCode).toBe(404);
  });

  it('my bookmarks and likes: newest first, keyset pages, by type', async () => {
    const me = await signUpWithEmail(t);
    const events = [];
    for (let i = 0; i < 5; i++) events.push(await createEvent(t, { title: `saved ${i}` }));
    for (const e of events) await react('PUT', `/events/${e.id}/bookmark`, me);
    await react('PUT', `/events/${events[0]!.id}/like`, me);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.app.inject({
        url: `/v1/me/bookmarks?type=event&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        headers: me.headers,
      });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json() as Json;
      seen.push(...(body.items as Json[]).map((i) => i.name as string));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['saved 4', 'saved 3', 'saved 2', 'saved 1', 'saved 0']);
    const likes = (await t.app.inject({ url: '/v1/me/likes', headers: me.headers })).json() as Json;
    expect(likes.items).toEqual([
      { type: 'event', id: events[0]!.id, name: 'saved 0', savedAt: expect.any(String) },
    ]);
    expect((await t.app.inject({ url: '/v1/me/bookmarks' })).statusCode).toBe(401);
    const bad = await t.app.inject({ url: '/v1/me/bookmarks?type=group&cursor=abc', headers: me.headers });
    expect(bad.statusCode).toBe(400);
  });

  it('groups: liked and bookmarked by whoever sees them; private groups only by their members', async () => {
    const outsider = await signUpWithEmail(t);
    const crew = await createGroup(t, {
      name: 'Han River Runners',
      visibility: 'public',
      joinPolicy: 'open',
    });
    const family = await createGroup(t, { name: 'Kim family', visibility: 'private' });
    const [member, cousin] = await users(2);
    await addInvited(t, family, [member!, cousin!]);

    const people = await users(20);
    await Promise.all(people.map((p) => react('PUT', `/groups/${crew.id}/like`, p)));
    const state = (await react('PUT', `/groups/${crew.id}/like`, outsider)).json() as Json;
    expect(state).toEqual({ liked: true, bookmarked: false, likeCount: 21, bookmarkCount: 0 });
    expect((await react('PUT', `/groups/${crew.id}/like`, outsider)).json()).toMatchObject({ likeCount: 21 });
    expect((await react('DELETE', `/groups/${crew.id}/like`, outsider)).json()).toMatchObject({
      liked: false,
      likeCount: 20,
    });
    expect(await rowCount(crew.id, 'like')).toBe(20);
    expect((await react('PUT', `/groups/${crew.id}/like`)).statusCode).toBe(401);

    for (const kind of ['like', 'bookmark']) {
      for (const method of ['PUT', 'DELETE'] as const) {
        const res = await react(method, `/groups/${family.id}/${kind}`, outsider);
        expect(res.statusCode).toBe(404);
        expect((res.json() as Json).code).toBe('NOT_FOUND');
      }
    }
    expect(
      (await react('PUT', `/groups/66666666-6666-4666-8666-666666666666/like`, member!)).statusCode,
    ).toBe(404);
    const saved = await react('PUT', `/groups/${family.id}/bookmark`, member!);
    expect(saved.json()).toEqual({ liked: false, bookmarked: true, likeCount: 0, bookmarkCount: 1 });
    expect((await react('PUT', `/groups/${family.id}/like`, cousin!)).json()).toEqual({
      liked: true,
      bookmarked: false,
      likeCount: 1,
      bookmarkCount: 1,
    });
    expect((await react('PUT', `/groups/${family.id}/like`, family.owner)).json()).toMatchObject({
      liked: true,
      likeCount: 2,
      bookmarkCount: 1,
    });
    const list = (
      await t.app.inject({ url: '/v1/me/bookmarks?type=group', headers: member!.headers })
    ).json() as Json;
    expect(list.items).toEqual([
      { type: 'group', id: family.id, name: 'Kim family', savedAt: expect.any(String) },
    ]);

    // Leaving the private group hides it from the bookmarks and refuses further changes (404, as the group
    // now is to them); the row stays, so the count still holds it.
    const left = await t.app.inject({
      method: 'POST',
      url: `/v1/groups/${family.id}/leave`,
      headers: member!.headers,
    });
    expect(left.statusCode).toBe(204);
    expect(
      ((await t.app.inject({ url: '/v1/me/bookmarks', headers: member!.headers })).json() as Json).items,
    ).toEqual([]);
    expect((await react('DELETE', `/groups/${family.id}/bookmark`, member!)).statusCode).toBe(404);
    expect((await react('PUT', `/groups/${family.id}/bookmark`, cousin!)).json()).toMatchObject({
      likeCount: 2,
      bookmarkCount: 2,
    });
    // Kicked is the same as left.
    const kicked = await t.app.inject({
      method: 'DELETE',
      url: `/v1/groups/${family.id}/members/${cousin!.userId}`,
      headers: family.owner.headers,
    });
    expect(kicked.statusCode).toBe(204);
    expect(
      ((await t.app.inject({ url: '/v1/me/likes', headers: cousin!.headers })).json() as Json).items,
    ).toEqual([]);
    expect((await react('DELETE', `/groups/${family.id}/like`, cousin!)).statusCode).toBe(404);

    // A public group one leaves stays likeable and listed: anyone may see it.
    const [runner] = await withMembers(t, crew.id, 1);
    await react('PUT', `/groups/${crew.id}/bookmark`, runner!);
    await t.app.inject({ method: 'POST', url: `/v1/groups/${crew.id}/leave`, headers: runner!.headers });
    expect(
      ((await t.app.inject({ url: '/v1/me/bookmarks', headers: runner!.headers })).json() as Json).items,
    ).toEqual([{ type: 'group', id: crew.id, name: 'Han River Runners', savedAt: expect.any(String) }]);

    // A deleted group is 404 to everyone and leaves every list, its owner's included.
    const liked = (
      await t.app.inject({ url: '/v1/me/likes?type=group', headers: people[0]!.headers })
    ).json() as Json;
    expect(liked.items).toEqual([
      { type: 'group', id: crew.id, name: 'Han River Runners', savedAt: expect.any(String) },
    ]);
    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/v1/groups/${crew.id}`,
      headers: crew.owner.headers,
    });
    expect(deleted.statusCode).toBe(204);
    for (const who of [people[0]!, crew.owner]) {
      expect((await react('PUT', `/groups/${crew.id}/like`, who)).statusCode).toBe(404);
      expect((await react('DELETE', `/groups/${crew.id}/like`, who)).statusCode).toBe(404);
    }
    expect(
      ((await t.app.inject({ url: '/v1/me/likes', headers: people[0]!.headers })).json() as Json).items,
    ).toEqual([]);
    expect(
      ((await t.app.inject({ url: '/v1/me/bookmarks', headers: runner!.headers })).json() as Json).items,
    ).toEqual([]);
  });
});
