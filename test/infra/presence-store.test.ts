import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPresenceStore } from '../../src/infra/presence/presence-store.js';
import { connectRedis, type Redis } from '../../src/infra/redis.js';

const STALE_MS = 10_000;

/** Time that moves only when told (the FrozenClock follows the real one too), for millisecond-exact edges. */
class FrozenClock {
  private t = Date.now();
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/**
 * The Redis presence store's claims, with several nodes' stores on one Redis and a clock moved by hand: a dead
 * node's person is handed to exactly one sweeper, and the ordinary paths (a disconnect, a late heartbeat) never
 * let a second announcement through.
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
  const nodes = (clock: FrozenClock, n: number) =>
    Array.from({ length: n }, () => new RedisPresenceStore(redis, prefix, clock, STALE_MS));

  it('hands each person whose sockets all went stale to one sweeper of many, with their last heartbeat', async () => {
    const clock = new FrozenClock();
    const [dead, ...alive] = nodes(clock, 5);
    const people = Array.from({ length: 30 }, () => randomUUID());
    for (const p of people) expect(await dead!.add(p, `s-${p}`)).toBe(true);
    clock.advance(3_000);
    const lastBeat = clock.now().getTime();
    await dead!.renew(people.map((p) => ({ userId: p, socketId: `s-${p}` })));
    // One of them also has a socket on a living node, heartbeating: not gone.
    const stays = people[0]!;
    await alive[0]!.add(stays, 'living-socket');

    clock.advance(STALE_MS - 1);
    expect((await Promise.all(alive.map((s) => s.sweep()))).flat()).toEqual([]);
    expect((await alive[1]!.online(people)).size).toBe(30);
    await alive[0]!.renew([{ userId: stays, socketId: 'living-socket' }]);

    clock.advance(2);
    const claimed = (await Promise.all(alive.map((s) => s.sweep()))).flat();
    expect(claimed.map((d) => d.userId).sort()).toEqual(people.slice(1).sort());
    for (const d of claimed) expect(d.lastSeenAt.getTime()).toBe(lastBeat);
    expect((await Promise.all(alive.map((s) => s.sweep()))).flat()).toEqual([]);
    expect([...(await alive[2]!.online(people))]).toEqual([stays]);
  });

  it('a disconnect that leaves only stale entries is the last one; no sweeper announces it again', async () => {
    const clock = new FrozenClock();
    const [dead, living] = nodes(clock, 2);
    const p = randomUUID();
    await dead!.add(p, 'on-dead-node');
    clock.advance(STALE_MS - 2_000);
    expect(await living!.add(p, 'on-living-node')).toBe(false);
    clock.advance(3_000);
    expect(await living!.remove(p, 'on-living-node')).toBe(true);
    clock.advance(STALE_MS);
    expect(await living!.sweep()).toEqual([]);
  });

  it('a node that was only paused finds its swept entries gone at its next heartbeat', async () => {
    const clock = new FrozenClock();
    const [paused, other] = nodes(clock, 2);
    const p = randomUUID();
    await paused!.add(p, 'sock');
    clock.advance(STALE_MS + 1);
    expect((await other!.sweep()).map((d) => d.userId)).toEqual([p]);
    expect(await paused!.renew([{ userId: p, socketId: 'sock' }])).toEqual([{ userId: p, socketId: 'sock' }]);
    // The caller records it again (PresenceService.heartbeat): the person is back.
    expect(await paused!.add(p, 'sock')).toBe(true);
    expect([...(await other!.online([p]))]).toEqual([p]);
  });
});
