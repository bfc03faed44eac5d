import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/infra/clock.js';
import {
  RedisLocationStore,
  type LocationStore,
  type ShareEntry,
} from '../../src/infra/geo/location-store.js';
import { connectRedis, type Redis } from '../../src/infra/redis.js';

const STALE_MS = 120_000;
const CENTRE = { lat: 37.5665, lng: 126.978 };

/** A node whose machine clock is `skewMs` off the real time. */
const skewed = (skewMs: number): { clock: Clock; wallClock: () => number } => ({
  clock: { now: () => new Date(Date.now() + skewMs) },
  wallClock: () => Date.now() + skewMs,
});

/**
 * The Redis location store across nodes, each with its own store on one Redis: a node's mirror of the nearby
 * layer catches up with what other nodes wrote and removed, and no two nodes' clocks are ever compared.
 */
describe.runIf(Boolean(process.env.REDIS_URL))('location store (Redis): mirrors and clocks', () => {
  let redis: Redis;
  const prefix = `moim:t:loc:${randomBytes(4).toString('hex')}:`;
  beforeAll(async () => {
    redis = await connectRedis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    for (let i = 0; i < keys.length; i += 1_000) await redis.del(...keys.slice(i, i + 1_000));
    redis.disconnect();
  });
  const node = (skewMs = 0) => {
    const { clock, wallClock } = skewed(skewMs);
    const store: LocationStore = new RedisLocationStore(redis, prefix, clock, {
      writeBatchMs: 100,
      wallClock,
    });
    return { clock, store };
  };
  const shareOf = (layer = 'nearby'): ShareEntry => ({
    shareId: randomUUID(),
    userId: randomUUID(),
    nickname: 'n',
    layer,
    precision: '100m',
    endsAtMs: Date.now() + 3_600_000,
  });
  const put = (share: ShareEntry, lat = CENTRE.lat, lng = CENTRE.lng) => ({
    shareId: share.shareId,
    layer: share.layer,
    lat,
    lng,
    userId: share.userId,
  });
  const around = (n: { store: LocationStore; clock: Clock }, layer = 'nearby') =>
    n.store.nearby(layer, CENTRE, 5_000, 100_000, n.clock.now().getTime() - STALE_MS);

  it("a node's mirror sees what another node writes, and nothing of a share another node removed", async () => {
    const a = node();
    const b = node();
    const layer = `nearby-${randomUUID()}`;
    const share = shareOf(layer);
    await a.store.putShare(share);
    expect(await around(b, layer)).toEqual([]);
    await a.store.write([put(share)], Date.now());
    expect((await around(b, layer)).map((p) => p.share.shareId)).toEqual([share.shareId]);
    await a.store.removeShares([share]);
    // At once: the removal is listed for every mirror's next catch-up, which the query waits for.
    expect(await around(b, layer)).toEqual([]);
    // A late write for it (another node's stale copy of the shares) is ignored.
    await b.store.write([put(share)], Date.now());
    expect(await around(b, layer)).toEqual([]);
    expect(await around(node(), layer)).toEqual([]);
  });

  it('a removal made through a clock behind the mirror is still seen (stamps never go back)', async () => {
    const a = node();
    const b = node();
    // A test clock 5 s behind the real one: its scripts' time is 5 s behind the mirror's cursor.
    const lateClock: Clock = { now: () => new Date(Date.now() - 5_000) };
    const late: LocationStore = new RedisLocationStore(redis, prefix, lateClock, { writeBatchMs: 100 });
    const layer = `nearby-${randomUUID()}`;
    const [gone, stays, added] = [shareOf(layer), shareOf(layer), shareOf(layer)];
    for (const share of [gone, stays, added]) await a.store.putShare(share);
    await a.store.write([put(gone), put(stays)], Date.now());
    expect(await around(b, layer)).toHaveLength(2);
    await late.removeShares([gone]);
    expect(await late.write([put(added, CENTRE.lat + 0.01)], 0)).toBe(0);
    const seen = await around(b, layer);
    expect(seen.map((p) => p.share.shareId).sort()).toEqual([stays.shareId, added.shareId].sort());
  });

  it('nodes whose clocks are minutes apart see each other fresh, and share one limit per person', async () => {
    const ahead = node(+30_000);
    const behind = node(-150_000); // further behind than a position lives
    const layer = `nearby-${randomUUID()}`;
    const fromBehind = shareOf(layer);
    const fromAhead = shareOf(layer);
    await behind.store.putShare(fromBehind);
    await ahead.store.putShare(fromAhead);
    await behind.store.write([put(fromBehind)], behind.clock.now().getTime());
    await ahead.store.write([put(fromAhead, CENTRE.lat + 0.001)], ahead.clock.now().getTime());

    for (const viewer of [ahead, behind, node()]) {
      const seen = await around(viewer, layer);
      expect(seen.map((p) => p.share.shareId).sort()).toEqual([fromBehind.shareId, fromAhead.shareId].sort());
      // Each position's time is told in the viewer's own clock: just now, whoever's node stored it.
      for (const p of seen)
        expect(Math.abs(p.updatedAtMs - viewer.clock.now().getTime())).toBeLessThan(2_000);
    }
    const inLayer = await behind.store.layer(layer, behind.clock.now().getTime() - STALE_MS, 10);
    expect(inLayer).toHaveLength(2);

    // One person, one update a second, whichever node takes it: the second write at once is dropped.
    const person = shareOf(layer);
    await ahead.store.putShare(person);
    expect(await ahead.store.write([put(person)], 0)).toBe(0);
    expect(await behind.store.write([put(person)], 0)).toBe(1);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await behind.store.write([put(person)], 0)).toBe(0);
  });

  it('a mirror catches up through pages, even when a page ends inside one batch written at one instant', async () => {
    const a = node();
    const b = node();
    const layer = `nearby-${randomUUID()}`;
    const shares = Array.from({ length: 45_000 }, () => shareOf(layer));
    for (let i = 0; i < shares.length; i += 5_000) {
      await Promise.all(shares.slice(i, i + 5_000).map((s) => a.store.putShare(s)));
    }
    // One batch: its calls mostly share one stamp (a layer's stamps never go back), and pages of 20,000 end inside it.
    const spread = (i: number) =>
      put(shares[i]!, CENTRE.lat + (i % 200) * 1e-4, CENTRE.lng + Math.floor(i / 200) * 1e-4);
    expect(
      await a.store.write(
        shares.map((_, i) => spread(i)),
        Date.now(),
      ),
    ).toBe(0);
    expect(await around(b, layer)).toHaveLength(45_000);
  }, 60_000);
});
