import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userPresence } from '../../src/modules/presence/presence.schema.js';
import { buildTestApp, servicesMode, type TestApp } from '../helpers/app.js';
import { signUpWithEmail, type SignedUp } from '../helpers/accounts.js';
import { ManualClock } from '../helpers/clock.js';
import { createEvent, join } from '../helpers/events.js';
import type { Json } from '../helpers/http.js';
import { connectSocket, type TestSocket } from '../helpers/sockets.js';

const SKEW_MS = 30_000;
/** Far shorter than the skew: with node clocks in the comparisons, either node's people would look stale. */
const PRESENCE_ENV = { PRESENCE_STALE_MS: '10000', PRESENCE_HEARTBEAT_MS: '5000' };

/**
 * Two nodes whose clocks disagree by a minute (one 30 s behind, one 30 s ahead) share one Redis. Presence keeps
 * its times on Redis's clock, so neither node sees the other's people as stale, neither node's sweeper claims
 * them, and last-seen times are Redis's, not the skewed node's.
 */
describe.runIf(servicesMode)('presence across nodes whose clocks disagree (Redis)', () => {
  let behind: TestApp;
  let ahead: TestApp;
  const open: TestSocket[] = [];
  beforeAll(async () => {
    const slow = new ManualClock();
    slow.advance(-SKEW_MS);
    const fast = new ManualClock();
    fast.advance(SKEW_MS);
    behind = await buildTestApp({
      listen: true,
      clock: slow,
      env: { EVENT_CREATE_INTERVAL_SECONDS: '0', ...PRESENCE_ENV },
    });
    ahead = await buildTestApp({
      listen: true,
      clock: fast,
      sameDeploymentAs: behind,
      env: { EVENT_CREATE_INTERVAL_SECONDS: '0', ...PRESENCE_ENV },
    });
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await ahead?.close();
    await behind?.close();
  });

  const connect = async (app: TestApp, who: SignedUp) => {
    const s = await connectSocket(app.url, { token: who.accessToken });
    open.push(s);
    return s;
  };
  const presence = async (app: TestApp, viewer: SignedUp, userId: string) =>
    (await app.app.inject({ url: `/v1/users/${userId}/presence`, headers: viewer.headers })).json() as Json;
  const changesAbout = (s: TestSocket, userId: string) => {
    const heard: Json[] = [];
    s.on('presence:changed', (p: Json) => {
      if (p.userId === userId) heard.push(p);
    });
    return heard;
  };
  const lastSeenInDb = async (userId: string) => {
    const [row] = await behind.infra.database.db
      .select()
      .from(userPresence)
      .where(eq(userPresence.userId, userId));
    return row?.lastSeenAt.getTime();
  };
  const settle = () => new Promise((r) => setTimeout(r, 300));

  it("neither node sees the other's people as stale, and last seen is on Redis's clock", async () => {
    // Both sign up on the node ahead: a node behind the database's clock issues tokens older than the account's
    // `tokens_valid_after` (the database's now()), which no node accepts; that is not presence's concern.
    // Each then connects on a node of their own: `slowPerson` on the node behind, `fastPerson` on the one ahead.
    const event = await createEvent(ahead, { capacity: 10 });
    const slowPerson = event.host;
    const fastPerson = await signUpWithEmail(ahead);
    expect((await join(ahead, event.id, fastPerson)).statusCode).toBe(200);
    await ahead.infra.outbox.drain();

    const watchOnAhead = await connect(ahead, fastPerson);
    const heardAhead = changesAbout(watchOnAhead, slowPerson.userId);
    const connectedAt = Date.now();
    const watchOnBehind = await connect(behind, slowPerson);
    const heardBehind = changesAbout(watchOnBehind, fastPerson.userId);
    await expect.poll(() => heardAhead.length).toBe(1);

    // Announced with Redis's time (this machine's), not the node's, 30 s behind.
    const announced = Date.parse(heardAhead[0]!.lastSeenAt as string);
    expect(heardAhead[0]).toMatchObject({ online: true });
    expect(Math.abs(announced - connectedAt)).toBeLessThan(5_000);
    expect(await lastSeenInDb(slowPerson.userId)).toBe(announced);

    // Each node reads the other's person as online, and a sweep on either claims nobody.
    expect(await presence(ahead, fastPerson, slowPerson.userId)).toMatchObject({ online: true });
    expect(await presence(behind, slowPerson, fastPerson.userId)).toMatchObject({ online: true });
    await ahead.app.modules.presence.service.sweep();
    await behind.app.modules.presence.service.sweep();
    await settle();
    expect(heardAhead.filter((p) => !p.online)).toEqual([]);
    expect(heardBehind.filter((p) => !p.online)).toEqual([]);
    expect(await presence(ahead, fastPerson, slowPerson.userId)).toMatchObject({ online: true });

    // A heartbeat from the node behind moves last seen forward on Redis's clock, not 30 s into the past.
    const beforeBeat = Date.now();
    await behind.app.modules.presence.service.heartbeat();
    const beat = (await lastSeenInDb(slowPerson.userId))!;
    expect(beat).toBeGreaterThanOrEqual(announced);
    expect(Math.abs(beat - beforeBeat)).toBeLessThan(5_000);
    await ahead.app.modules.presence.service.sweep();
    await settle();
    expect(heardAhead.filter((p) => !p.online)).toEqual([]);

    // Going offline is still announced at once, with Redis's time.
    const leftAt = Date.now();
    open.splice(open.indexOf(watchOnBehind), 1);
    watchOnBehind.close();
    await expect.poll(() => heardAhead.filter((p) => !p.online).length).toBe(1);
    const offline = heardAhead.find((p) => !p.online)!;
    expect(Math.abs(Date.parse(offline.lastSeenAt as string) - leftAt)).toBeLessThan(5_000);
    expect(await presence(ahead, fastPerson, slowPerson.userId)).toMatchObject({
      online: false,
      lastSeenAt: offline.lastSeenAt,
    });
  });
});
