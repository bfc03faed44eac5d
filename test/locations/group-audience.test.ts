import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupDirectory } from '../../src/modules/events/event-access.js';
import { LiveMapService, mapRoom } from '../../src/modules/locations/live-map.service.js';
import { LocationsRepository } from '../../src/modules/locations/locations.repository.js';
import { LocationService } from '../../src/modules/locations/locations.service.js';
import type { MoimSocket } from '../../src/realtime/gateway.js';
import type { Actor } from '../../src/shared/context.js';
import { signUpWithEmail } from '../helpers/accounts.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import type { Json } from '../helpers/http.js';

/**
 * Group audiences through the module's real services and store, with a group directory standing in for the
 * groups module (not wired into the app yet): members share and watch, others get 404, and leaving the group
 * ends the share and the watching. Once the groups module lands this belongs in locations.test.ts, over sockets.
 */
describe('live location: group audience', () => {
  let t: TestApp;
  const GROUP = '7c1e9d0a-1b2c-4d3e-8f40-5a6b7c8d9e0f';
  const members = new Set<string>();
  const groups: GroupDirectory = {
    findGroup: async (_db, id) =>
      id === GROUP ? { id, ownerId: '', visibility: 'private', name: 'Family' } : null,
    membership: async (_db, id, userId) =>
      id === GROUP && members.has(userId) ? { role: 'member', displayName: null } : null,
  };
  let service: LocationService;
  let maps: LiveMapService;

  beforeAll(async () => {
    t = await buildTestApp();
    const { infra } = t;
    const config = { ...infra.config.locations, pushIntervalMs: 50 };
    const repo = new LocationsRepository();
    const common = {
      repo,
      db: infra.database.db,
      clock: infra.clock,
      store: infra.locations,
      logger: infra.logger,
      config,
    };
    service = new LocationService({
      ...common,
      unitOfWork: infra.outbox.unitOfWork,
      groups,
      realtime: infra.realtime,
    });
    maps = new LiveMapService({ ...common, locations: service });
  });
  afterAll(async () => {
    await service.stop();
    await t.close();
  });

  /** A socket as far as the live map needs one: its rooms and what it was sent. */
  const fakeSocket = (id: string) => {
    const rooms = new Set<string>();
    const sent: [string, Json][] = [];
    const socket = {
      id,
      connected: true,
      rooms,
      join: async (r: string) => void rooms.add(r),
      leave: async (r: string) => void rooms.delete(r),
      emit: (event: string, payload: Json) => sent.push([event, payload]),
    };
    return { socket: socket as unknown as MoimSocket, rooms, sent };
  };
  const actor = (u: { userId: string; sessionId: string }): Actor => ({ ...u, role: 'user' });

  it('members share and watch; outsiders get 404; leaving the group ends both', async () => {
    const mom = await signUpWithEmail(t);
    const kid = await signUpWithEmail(t);
    const stranger = await signUpWithEmail(t);
    members.add(mom.userId).add(kid.userId);

    const audience = { type: 'group' as const, groupId: GROUP };
    await expect(
      service.startShare(actor(stranger), { audience, precision: 'exact', durationMinutes: 60 }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const share = await service.startShare(actor(kid), { audience, precision: 'exact', durationMinutes: 60 });
    expect(share).toMatchObject({ audience: { type: 'group', id: GROUP }, active: true });

    const outsider = fakeSocket('x');
    await expect(
      maps.subscribe(outsider.socket, stranger.userId, { type: 'group', groupId: GROUP }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });

    expect(await service.update(kid.userId, 37.5, 127.0)).toBe(1);
    await service.flushPositions();
    const watcher = fakeSocket('w');
    const sub = await maps.subscribe(watcher.socket, mom.userId, { type: 'group', groupId: GROUP });
    expect(watcher.rooms.has(mapRoom('group', GROUP))).toBe(true);
    expect(sub.frame.people).toEqual([
      expect.objectContaining({
        userId: kid.userId,
        lat: expect.closeTo(37.5, 5),
        lng: expect.closeTo(127.0, 5),
        precision: 'exact',
        distanceM: null,
      }),
    ]);

    // The kid leaves the group: the groups module calls leftGroup in its transaction.
    members.delete(kid.userId);
    await t.infra.outbox.unitOfWork(async (ctx) => {
      await service.endAudienceShares(ctx, 'group', GROUP, 'audience_left', kid.userId);
    });
    expect(await service.update(kid.userId, 37.51, 127.01)).toBe(0);
    await maps.tick();
    const frames = watcher.sent.filter(([e]) => e === 'location:frame').map(([, f]) => f);
    expect(frames.at(-1)!.people).toEqual([]);

    // Mom leaves too: her socket leaves the group's room (on every node) and the next tick ends her watching.
    members.delete(mom.userId);
    watcher.rooms.delete(mapRoom('group', GROUP));
    await maps.tick();
    expect(watcher.sent.at(-1)).toEqual([
      'location:unsubscribed',
      { subscriptionId: sub.subscriptionId, reason: 'audience_left' },
    ]);
    expect(maps.size).toBe(0);
  });
});
