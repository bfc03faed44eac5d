import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { ManualClock } from '../helpers/clock.js';
import { addInvited, createGroup, type CreatedGroup } from '../helpers/groups.js';
import type { Json } from '../helpers/http.js';
import { connectSocket, emitAck, nextEvent, type TestSocket } from '../helpers/sockets.js';

const PUSH_MS = 200;
const HOME = { lat: 37.5665, lng: 126.978 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Group maps through the real groups module and real sockets: members share to their group and watch its map,
 * everyone else gets 404; leaving, being removed and the group's deletion end the shares and the watching in their
 * own transaction, and the periodic checks catch a membership ended any other way.
 */
describe('live location: group audience', () => {
  let t: TestApp;
  const clock = new ManualClock();
  const open: TestSocket[] = [];

  beforeAll(async () => {
    t = await buildTestApp({
      listen: true,
      clock,
      env: { LOCATION_PUSH_INTERVAL_MS: String(PUSH_MS), LOCATION_WRITE_BATCH_MS: '20' },
    });
    await t.app.modules.locations.start();
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await t.app.modules.locations.stop();
    await t.close();
  });

  const connect = async (who: SignedUp) => {
    const s = await connectSocket(t.url, { token: who.accessToken });
    open.push(s);
    return s;
  };
  const share = (who: SignedUp, groupId: string, precision = 'exact') =>
    t.app.inject({
      method: 'POST',
      url: '/v1/me/location/shares',
      headers: who.headers,
      payload: { audience: { type: 'group', groupId }, precision, durationMinutes: 60 },
    });
  const update = (s: TestSocket, p: { lat: number; lng: number }) => {
    // One update per second per person: each one is a second later.
    clock.advance(1_000);
    return emitAck<Json>(s, 'location:update', p);
  };
  const watch = async (s: TestSocket, groupId: string) =>
    (await emitAck<Json>(s, 'location:subscribe', { layer: { type: 'group', groupId } })) as Json;
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
  /** Every frame a socket receives from now on. */
  const record = (s: TestSocket) => {
    const frames: Json[] = [];
    s.on('location:frame', (f: Json) => frames.push(f));
    return frames;
  };
  const shows = (userId: string) => (f: Json) => (f.people as Json[]).some((p) => p.userId === userId);
  const showsNot = (userId: string) => (f: Json) => !shows(userId)(f);
  const shares = async (who: SignedUp) =>
    ((await t.app.inject({ url: '/v1/me/location/shares', headers: who.headers })).json() as Json)
      .items as Json[];

  /** A private family: its owner (mom) and the members invited and accepted. */
  async function family(n: number): Promise<{ group: CreatedGroup; members: SignedUp[] }> {
    const group = await createGroup(t, { name: 'Kim family', kind: 'family', visibility: 'private' });
    const members = await Promise.all(Array.from({ length: n }, () => signUpWithEmail(t)));
    await addInvited(t, group, members);
    await t.infra.outbox.drain();
    return { group, members };
  }

  /** A family of two: the kid shares to the group and both watch its map; mom has seen the kid on it. */
  async function kidOnMomsMap() {
    const { group, members } = await family(1);
    const kid = members[0]!;
    const [sMom, sKid] = await Promise.all([connect(group.owner), connect(kid)]);
    const kidShare = (await share(kid, group.id)).json() as Json;
    await watch(sMom, group.id);
    const kidSub = (await watch(sKid, group.id)).data as Json;
    const seen = frameWhere(sMom, shows(kid.userId));
    await update(sKid, HOME);
    await seen;
    return { group, kid, sMom, sKid, kidShare, kidSub };
  }

  it('members share to the group and watch its map; outsiders, and members of other groups, get 404', async () => {
    const { group, members } = await family(1);
    const mom = group.owner;
    const kid = members[0]!;
    const stranger = await signUpWithEmail(t);
    const other = await createGroup(
      t,
      { name: 'Other crew', visibility: 'public', joinPolicy: 'open' },
      stranger,
    );

    const sStranger = await connect(stranger);
    for (const s of [await share(stranger, group.id), await share(kid, other.id)]) {
      expect(s.statusCode).toBe(404);
      expect((s.json() as Json).code).toBe('NOT_FOUND');
    }
    expect(((await watch(sStranger, group.id)).error as Json).code).toBe('NOT_FOUND');
    // A public group's map is for its members too.
    const sKid = await connect(kid);
    expect(((await watch(sKid, other.id)).error as Json).code).toBe('NOT_FOUND');

    const started = await share(kid, group.id);
    expect(started.statusCode, started.body).toBe(201);
    expect(started.json()).toMatchObject({ audience: { type: 'group', id: group.id }, active: true });

    const sMom = await connect(mom);
    const sub = await watch(sMom, group.id);
    expect(sub).toMatchObject({
      ok: true,
      data: { subscriptionId: expect.any(String), intervalMs: PUSH_MS },
    });
    const seen = frameWhere(sMom, shows(kid.userId));
    expect(await update(sKid, HOME)).toEqual({ ok: true, data: { shares: 1 } });
    const person = ((await seen).people as Json[]).find((p) => p.userId === kid.userId)!;
    expect(person).toMatchObject({ shareId: started.json().id, precision: 'exact', distanceM: null });
    expect(person.lat).toBeCloseTo(HOME.lat, 5);
    expect(person.lng).toBeCloseTo(HOME.lng, 5);
  });

  it('leaving or being removed ends the share and the watching at once; the others stop seeing them', async () => {
    const { group, members } = await family(2);
    const mom = group.owner;
    const [kid, dad] = members as [SignedUp, SignedUp];
    const [sMom, sKid, sDad] = await Promise.all([connect(mom), connect(kid), connect(dad)]);
    const kidShare = (await share(kid, group.id)).json() as Json;
    const dadShare = (await share(dad, group.id, '100m')).json() as Json;
    await watch(sMom, group.id);
    const kidSub = (await watch(sKid, group.id)).data as Json;
    const dadSub = (await watch(sDad, group.id)).data as Json;
    const both = frameWhere(sMom, (f) => shows(kid.userId)(f) && shows(dad.userId)(f));
    await update(sKid, HOME);
    await update(sDad, HOME);
    await both;

    // The kid leaves: their share ends, they are told, their map closes, and mom no longer sees them.
    const ended = nextEvent<Json>(sKid, 'location:share_ended');
    const unsubscribed = nextEvent<Json>(sKid, 'location:unsubscribed');
    const gone = frameWhere(sMom, showsNot(kid.userId));
    const left = await t.app.inject({
      method: 'POST',
      url: `/v1/groups/${group.id}/leave`,
      headers: kid.headers,
    });
    expect(left.statusCode).toBe(204);
    await t.infra.outbox.drain();
    expect(await ended).toEqual({ shareId: kidShare.id, reason: 'audience_left' });
    expect(await unsubscribed).toEqual({ subscriptionId: kidSub.subscriptionId, reason: 'audience_left' });
    expect((await gone).people).toEqual([expect.objectContaining({ userId: dad.userId })]);
    // The kid's app keeps sending: nothing of it reaches anyone, and no frame of the map reaches the kid.
    const kidFrames = record(sKid);
    const momFrames = record(sMom);
    expect(await update(sKid, { lat: HOME.lat + 0.01, lng: HOME.lng })).toEqual({
      ok: true,
      data: { shares: 0 },
    });
    await update(sDad, { lat: HOME.lat + 0.02, lng: HOME.lng });
    await sleep(3 * PUSH_MS);
    expect(kidFrames).toEqual([]);
    expect(momFrames.filter(shows(kid.userId))).toEqual([]);
    expect(momFrames.filter(shows(dad.userId)).length).toBeGreaterThan(0);
    expect(await shares(kid)).toEqual([
      expect.objectContaining({ id: kidShare.id, active: false, stopReason: 'audience_left' }),
    ]);
    expect(((await watch(sKid, group.id)).error as Json).code).toBe('NOT_FOUND');

    // Dad is removed by mom: the same.
    const dadEnded = nextEvent<Json>(sDad, 'location:share_ended');
    const dadUnsubscribed = nextEvent<Json>(sDad, 'location:unsubscribed');
    const dadGone = frameWhere(sMom, showsNot(dad.userId));
    const kicked = await t.app.inject({
      method: 'DELETE',
      url: `/v1/groups/${group.id}/members/${dad.userId}`,
      headers: mom.headers,
    });
    expect(kicked.statusCode).toBe(204);
    await t.infra.outbox.drain();
    expect(await dadEnded).toEqual({ shareId: dadShare.id, reason: 'audience_left' });
    expect(await dadUnsubscribed).toEqual({ subscriptionId: dadSub.subscriptionId, reason: 'audience_left' });
    expect((await dadGone).people).toEqual([]);
    expect(await update(sDad, HOME)).toEqual({ ok: true, data: { shares: 0 } });
    expect((await share(dad, group.id)).statusCode).toBe(404);
  });

  it("deleting the group ends every share to it and every member's watching", async () => {
    const { group, members } = await family(1);
    const mom = group.owner;
    const kid = members[0]!;
    const [sMom, sKid] = await Promise.all([connect(mom), connect(kid)]);
    const momShare = (await share(mom, group.id)).json() as Json;
    const kidShare = (await share(kid, group.id)).json() as Json;
    const momSub = (await watch(sMom, group.id)).data as Json;
    const kidSub = (await watch(sKid, group.id)).data as Json;
    const seen = Promise.all([frameWhere(sMom, shows(kid.userId)), frameWhere(sKid, shows(mom.userId))]);
    await update(sKid, HOME);
    await update(sMom, HOME);
    await seen;

    const told = [sMom, sKid].map((s) => nextEvent<Json>(s, 'location:share_ended'));
    const closed = [sMom, sKid].map((s) => nextEvent<Json>(s, 'location:unsubscribed'));
    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/v1/groups/${group.id}`,
      headers: mom.headers,
    });
    expect(deleted.statusCode).toBe(204);
    await t.infra.outbox.drain();
    expect(await Promise.all(told)).toEqual([
      { shareId: momShare.id, reason: 'group_deleted' },
      { shareId: kidShare.id, reason: 'group_deleted' },
    ]);
    expect(await Promise.all(closed)).toEqual([
      { subscriptionId: momSub.subscriptionId, reason: 'audience_left' },
      { subscriptionId: kidSub.subscriptionId, reason: 'audience_left' },
    ]);
    const frames = [record(sMom), record(sKid)];
    expect(await update(sKid, HOME)).toEqual({ ok: true, data: { shares: 0 } });
    expect(await update(sMom, HOME)).toEqual({ ok: true, data: { shares: 0 } });
    await sleep(3 * PUSH_MS);
    expect(frames).toEqual([[], []]);
    for (const who of [mom, kid]) {
      expect((await shares(who)).filter((s) => s.active)).toEqual([]);
      expect((await share(who, group.id)).statusCode).toBe(404);
    }
  });

  it('a departure ends the share and the watching in its own transaction, without the outbox relay', async () => {
    const { group, kid, sMom, sKid, kidShare, kidSub } = await kidOnMomsMap();

    // Held: nothing the relay delivers can play a part in what follows.
    await t.infra.outbox.stop();
    try {
      const ended = nextEvent<Json>(sKid, 'location:share_ended');
      const unsubscribed = nextEvent<Json>(sKid, 'location:unsubscribed');
      const gone = frameWhere(sMom, showsNot(kid.userId));
      const left = await t.app.inject({
        method: 'POST',
        url: `/v1/groups/${group.id}/leave`,
        headers: kid.headers,
      });
      expect(left.statusCode).toBe(204);
      // By the answer the share has ended, and the kid's sockets have left the map's room.
      expect(await shares(kid)).toEqual([
        expect.objectContaining({ id: kidShare.id, active: false, stopReason: 'audience_left' }),
      ]);
      expect(await ended).toEqual({ shareId: kidShare.id, reason: 'audience_left' });
      // The map closes at its next frame, not at the 30 s recheck.
      expect(await unsubscribed).toEqual({ subscriptionId: kidSub.subscriptionId, reason: 'audience_left' });
      await gone;
      expect(await update(sKid, HOME)).toEqual({ ok: true, data: { shares: 0 } });
    } finally {
      t.infra.outbox.start();
    }
    await t.infra.outbox.drain();
    expect(await t.app.modules.locations.service.recheckGroupShares()).toBe(0);
  });

  it("a departure committed between a share's membership check and its write: the share is refused", async () => {
    const { group, members } = await family(1);
    const kid = members[0]!;
    // The check passes, and then the kid leaves, before the share is written.
    const directory = t.app.modules.groups.directory;
    const check = directory.membership.bind(directory);
    directory.membership = async (...args) => {
      const member = await check(...args);
      const left = await t.app.inject({
        method: 'POST',
        url: `/v1/groups/${group.id}/leave`,
        headers: kid.headers,
      });
      expect(left.statusCode).toBe(204);
      return member;
    };
    try {
      const started = await share(kid, group.id);
      expect(started.statusCode).toBe(404);
    } finally {
      directory.membership = check;
    }
    expect(await shares(kid)).toEqual([]);
  });

  it('a membership ended behind the service (by hand in the database) is caught by the periodic checks', async () => {
    const { group, kid, sMom, sKid, kidShare, kidSub } = await kidOnMomsMap();

    const { sql } = await import('drizzle-orm');
    await t.infra.database.db.execute(
      sql`delete from group_members where group_id = ${group.id} and user_id = ${kid.userId}`,
    );
    // The map rechecks each subscriber's membership every 30 s: the kid's map closes.
    const unsubscribed = nextEvent<Json>(sKid, 'location:unsubscribed');
    clock.advance(31_000);
    expect(await unsubscribed).toEqual({ subscriptionId: kidSub.subscriptionId, reason: 'audience_left' });
    // The minute's share check ends the share of someone no longer a member.
    const gone = frameWhere(sMom, showsNot(kid.userId));
    const ended = nextEvent<Json>(sKid, 'location:share_ended');
    expect(await t.app.modules.locations.service.recheckGroupShares()).toBe(1);
    expect(await ended).toEqual({ shareId: kidShare.id, reason: 'audience_left' });
    await gone;
    expect(await update(sKid, HOME)).toEqual({ ok: true, data: { shares: 0 } });
    expect(await t.app.modules.locations.service.recheckGroupShares()).toBe(0);
    expect(await shares(kid)).toEqual([
      expect.objectContaining({ id: kidShare.id, active: false, stopReason: 'audience_left' }),
    ]);
  });
});
