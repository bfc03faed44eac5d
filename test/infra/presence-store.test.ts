import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPresenceStore } from '../../src/infra/presence/presence-store.js';
import { connectRedis, type Redis } from '../../src/infra/redis.js';

/**
 * Short enough that entries go stale within a test, long enough that a step expected to come before staleness
 * (a few Redis round trips) has a second of slack on a busy machine. The store keeps time on Redis's clock,
 * which a test cannot move, so these tests wait for real.
 */
const STALE_MS = 2_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The Redis presence store's claims, with several nodes' stores on one Redis: a dead node's person is handed to
 * exactly one sweeper, and the ordinary paths (a disconnect, a late heartbeat) never let a second announcement
 * through.
 */
describe.runIf(Boolean(process.env.REDIS_URL))('presence store (Redis): stale entries and claims', () => {
  let redis: Redis;
  const prefix = `moim:t:presence:${randomBytes(4).toString('hex')}:`;
  beforeAll(async () => {
    redis = await connectRedis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  /** `n` nodes' stores of one deployment; each test gets a deployment (a key prefix) of its own. */
  const nodes = (n: number) => {
    const deployment = `${prefix}${randomBytes(3).toString('hex')}:`;
    return Array.from({ length: n }, () => new RedisPresenceStore(redis, deployment, STALE_MS));
  };
  /** Redis's clock, which the store's times are read from. */
  const redisNow = async () => {
    const [s, us] = await redis.time();
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  };

  it('hands each person whose sockets all went stale to one sweeper of many, with their last heartbeat', async () => {
    const [dead, ...alive] = nodes(5);
    const people = Array.from({ length: 30 }, () => randomUUID());
    for (const p of people) expect((await dead!.add(p, `s-${p}`)).first).toBe(true);
    const before = await redisNow();
    const { lost, at: lastBeat } = await dead!.renew(people.map((p) => ({ userId: p, socketId: `s-${p}` })));
    expect(lost).toEqual([]);
    // The heartbeat's time is Redis's.
    expect(lastBeat.getTime()).toBeGreaterThanOrEqual(before);
    expect(lastBeat.getTime()).toBeLessThanOrEqual(await redisNow());
    // One of them also has a socket on a living node, heartbeating: not gone.
    const stays = people[0]!;
    await alive[0]!.add(stays, 'living-socket');

    expect((await Promise.all(alive.map((s) => s.sweep()))).flat()).toEqual([]);
    expect((await alive[1]!.online(people)).size).toBe(30);
    await sleep(STALE_MS / 2);
    await alive[0]!.renew([{ userId: stays, socketId: 'living-socket' }]);

    // Past the dead node's last heartbeat by the staleness (on Redis's clock); the living socket is half that old.
    await sleep(lastBeat.getTime() + STALE_MS + 100 - (await redisNow()));
    const claimed = (await Promise.all(alive.map((s) => s.sweep()))).flat();
    expect(claimed.map((d) => d.userId).sort()).toEqual(people.slice(1).sort());
    for (const d of claimed) expect(d.lastSeenAt.getTime()).toBe(lastBeat.getTime());
    expect((await Promise.all(alive.map((s) => s.sweep()))).flat()).toEqual([]);
    expect([...(await alive[2]!.online(people))]).toEqual([stays]);
  });

  it('a disconnect that leaves only stale entries is the last one; no sweeper announces it again', async () => {
    const [dead, living] = nodes(2);
    const p = randomUUID();
    const added = await dead!.add(p, 'on-dead-node');
    expect(added.first).toBe(true);
    await sleep(STALE_MS / 2);
    expect((await living!.add(p, 'on-living-node')).first).toBe(false);
    // The dead node's entry is stale, the living one's is not.
    await sleep(added.at.getTime() + STALE_MS + 100 - (await redisNow()));
    expect([...(await living!.online([p]))]).toEqual([p]);
    expect((await living!.remove(p, 'on-living-node')).last).toBe(true);
    await sleep(STALE_MS + 100);
    expect(await living!.sweep()).toEqual([]);
  });

  it('a node that was only paused finds its swept entries gone at its next heartbeat', async () => {
    const [paused, other] = nodes(2);
    const p = randomUUID();
    const { at } = await paused!.add(p, 'sock');
    await sleep(at.getTime() + STALE_MS + 100 - (await redisNow()));
    expect((await other!.sweep()).map((d) => d.userId)).toEqual([p]);
    expect((await paused!.renew([{ userId: p, socketId: 'sock' }])).lost).toEqual([
      { userId: p, socketId: 'sock' },
    ]);
    // The caller records it again (PresenceService.heartbeat): the person is back.
    expect((await paused!.add(p, 'sock')).first).toBe(true);
    expect([...(await other!.online([p]))]).toEqual([p]);
  });

  it('an answer carries the time Redis used, which a later operation never precedes', async () => {
    const [store] = nodes(1);
    const p = randomUUID();
    const added = await store!.add(p, 'sock');
    const renewed = await store!.renew([{ userId: p, socketId: 'sock' }]);
    const removed = await store!.remove(p, 'sock');
    expect(removed.last).toBe(true);
    expect(added.at.getTime()).toBeLessThanOrEqual(renewed.at.getTime());
    expect(renewed.at.getTime()).toBeLessThanOrEqual(removed.at.getTime());
    expect(Math.abs(removed.at.getTime() - (await redisNow()))).toBeLessThan(1_000);
  });
});
