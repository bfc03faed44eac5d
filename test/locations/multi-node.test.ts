import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicesMode } from '../helpers/app.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import type { Json } from '../helpers/http.js';
import { emitAck } from '../helpers/sockets.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Two real API processes sharing PostgreSQL and Redis, as deployed (`moim start`, which also starts the batch
 * writer and the map ticks): a share started through node B, positions sent to node A, a subscriber on node B
 * sees them; stopped through node A, node B's subscriber receives nothing more of it. And the per-person update
 * limit holds across the two nodes.
 */
describe.runIf(servicesMode)('live location across two server processes', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(2, { LOCATION_PUSH_INTERVAL_MS: '250' });
  }, 400_000);
  afterAll(() => cluster.close());
  const api: Cluster['api'] = (...args: Parameters<Cluster['api']>) => cluster.api(...args);
  const signUp = (node: number) => cluster.signUp(node);
  const connect = (node: number, token: string) => cluster.connect(node, token);

  it('a subscriber on node B sees a sharer on node A, and nothing more once the share stops', async () => {
    const a = await signUp(0);
    const b = await signUp(1);
    const share = await api(
      1,
      'POST',
      '/v1/me/location/shares',
      { audience: { type: 'nearby' }, precision: '100m', durationMinutes: 30 },
      a.token,
    );
    const onA = await connect(0, a.token);
    const onB = await connect(1, b.token);
    const frames: Json[] = [];
    onB.on('location:frame', (f: Json) => frames.push(f));
    const sub = (await emitAck<Json>(onB, 'location:subscribe', {
      layer: { type: 'nearby', lat: 37.5665, lng: 126.978, radiusM: 1000 },
    })) as Json;
    expect(sub.ok).toBe(true);
    const shows = (f: Json) => (f.people as Json[]).some((p) => p.userId === a.userId);

    expect(await emitAck(onA, 'location:update', { lat: 37.567, lng: 126.9785 })).toEqual({
      ok: true,
      data: { shares: 1 },
    });
    for (let i = 0; i < 100 && !frames.some(shows); i++) await sleep(100);
    expect(frames.some(shows)).toBe(true);

    await api(0, 'DELETE', `/v1/me/location/shares/${share.id as string}`, undefined, a.token);
    const from = frames.length;
    for (let i = 0; i < 4; i++) {
      await sleep(1_000);
      await emitAck(onA, 'location:update', { lat: 37.567 + i * 0.001, lng: 126.9785 });
    }
    await sleep(1_000);
    const after = frames.slice(from);
    // None of the frames after the stop shows the person, and the latest says they are gone.
    expect(after.filter(shows)).toEqual([]);
    expect(shows(frames.at(-1)!)).toBe(false);
  }, 120_000);

  it('one update per second per person holds across nodes: two devices on two nodes are not stored twice as often', async () => {
    const a = await signUp(0);
    const b = await signUp(1);
    await api(
      0,
      'POST',
      '/v1/me/location/shares',
      { audience: { type: 'nearby' }, precision: '100m', durationMinutes: 30 },
      a.token,
    );
    const phone = await connect(0, a.token);
    const watch = await connect(1, a.token);
    const onB = await connect(1, b.token);
    const centre = { lat: 37.4, lng: 127.1 };
    const sub = (await emitAck<Json>(onB, 'location:subscribe', {
      layer: { type: 'nearby', ...centre, radiusM: 1000 },
    })) as Json;
    expect(sub.ok).toBe(true);
    /** Positions on a 500 m ring, one 100 m cell apart at least: consecutive updates are always told apart. */
    const onRing = (k: number) => ({
      lat: centre.lat + (500 / 111_320) * Math.sin((k * Math.PI) / 6),
      lng: centre.lng + (500 / 88_300) * Math.cos((k * Math.PI) / 6),
    });
    // Wait until the share is known to both nodes (each keeps a person's shares a few seconds).
    for (let i = 0; i < 20; i++) {
      const acks = [
        (await emitAck<Json>(phone, 'location:update', onRing(0))) as Json,
        (await emitAck<Json>(watch, 'location:update', onRing(0))) as Json,
      ];
      if (acks.every((x) => x.data?.shares === 1)) break;
      await sleep(1_000);
    }
    await sleep(2_000); // both limits idle again

    const shown = new Set<string>();
    onB.on('location:frame', (f: Json) => {
      const p = (f.people as Json[]).find((x) => x.userId === a.userId);
      if (p) shown.add(`${p.lat},${p.lng},${p.updatedAt}`);
    });
    // 12 s, each device sending once a second, half a second apart: 24 updates, each accepted by its node.
    const SECONDS = 12;
    const acks: Json[] = [];
    const started = Date.now();
    for (let k = 1; k <= 2 * SECONDS; k++) {
      await sleep(Math.max(0, started + k * 500 - Date.now()));
      acks.push((await emitAck<Json>(k % 2 ? phone : watch, 'location:update', onRing(k))) as Json);
    }
    await sleep(1_000);
    expect(acks.filter((x) => x.ok && x.data.shares === 1)).toHaveLength(2 * SECONDS);
    // Stored (and so shown): at most one a second across both nodes (n + 1 in n seconds), still about one a second.
    expect(shown.size).toBeLessThanOrEqual(SECONDS + 2);
    expect(shown.size).toBeGreaterThanOrEqual(SECONDS / 2);
  }, 120_000);
});
