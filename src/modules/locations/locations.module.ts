import { Type } from 'typebox';
import type { Infra } from '../../infra/infra.js';
import { defineJob } from '../../infra/jobs/job-queue.js';
import { userRoom } from '../accounts/accounts.module.js';
import type { GroupDirectory } from '../events/event-access.js';
import { LiveMapService, mapRoom } from './live-map.service.js';
import { LocationsRepository } from './locations.repository.js';
import { LocationService } from './locations.service.js';
import { registerLocationSockets } from './locations.sockets.js';

export const purgeLocationAccessJob = defineJob({
  name: 'locations.purge-access-log',
  payload: Type.Object({}),
  retryLimit: 3,
  policy: 'singleton',
});

/**
 * Live location: shares, updates and live maps, wired to the socket gateway, the outbox (a share ends when its
 * session ends, its account is deleted, or its person leaves the event) and the access-log retention job.
 */
export function createLocationsModule(infra: Infra, deps: { groups: GroupDirectory }) {
  const { database, clock, outbox, config, realtime } = infra;
  const repo = new LocationsRepository();
  const db = database.db;
  const service = new LocationService({
    repo,
    db,
    clock,
    unitOfWork: outbox.unitOfWork,
    store: infra.locations,
    groups: deps.groups,
    realtime,
    logger: infra.logger,
    config: config.locations,
  });
  const maps = new LiveMapService({
    repo,
    db,
    clock,
    store: infra.locations,
    locations: service,
    logger: infra.logger,
    config: config.locations,
  });
  registerLocationSockets(infra.gateway, service, maps);

  outbox.subscribe('locations.session-ended', ['session.revoked'], async (e, ctx) => {
    await service.endSessionShares(ctx, e.payload.sessionId);
  });
  outbox.subscribe('locations.account-deleted', ['user.deleted'], async (e, ctx) => {
    await service.endUserShares(ctx, e.payload.userId);
  });
  outbox.project('locations.left-event', ['event.left', 'event.kicked'], async (e, ctx) => {
    const { eventId, userId } = e.payload;
    await service.endAudienceShares(ctx, 'event', eventId, 'audience_left', userId);
    ctx.afterCommit(() => realtime.leave(userRoom(userId), mapRoom('event', eventId)));
  });
  outbox.project('locations.event-cancelled', ['event.cancelled'], async (e, ctx) => {
    const { eventId } = e.payload;
    await service.endAudienceShares(ctx, 'event', eventId, 'event_cancelled');
    ctx.afterCommit(() => realtime.leave(mapRoom('event', eventId), mapRoom('event', eventId)));
  });

  outbox.subscribe('locations.event-rescheduled', ['event.updated'], async (e, ctx) => {
    const { eventId, fields } = e.payload;
    if (fields.includes('startsAt') || fields.includes('endsAt'))
      await service.eventRescheduled(ctx, eventId);
  });

  outbox.project('locations.left-group', ['group.member_left', 'group.member_removed'], async (e, ctx) => {
    const { groupId, userId } = e.payload;
    await service.endAudienceShares(ctx, 'group', groupId, 'audience_left', userId);
    ctx.afterCommit(() => realtime.leave(userRoom(userId), mapRoom('group', groupId)));
  });
  outbox.project('locations.group-deleted', ['group.deleted'], async (e, ctx) => {
    const { groupId } = e.payload;
    await service.endAudienceShares(ctx, 'group', groupId, 'group_deleted');
    ctx.afterCommit(() => realtime.leave(mapRoom('group', groupId), mapRoom('group', groupId)));
  });

  infra.jobs.handle(purgeLocationAccessJob, async () => {
    const purged = await service.purgeAccessLog();
    if (purged > 0) infra.logger.info({ purged }, 'location access log purged');
  });
  infra.jobs.schedule({ job: purgeLocationAccessJob, cron: '40 4 * * *' });

  return {
    repo,
    service,
    maps,
    purgeJob: purgeLocationAccessJob,
    /** API nodes only: loads active shares into the store, then runs the batch writer and the map ticks. */
    async start() {
      await service.loadActiveShares();
      service.start();
      maps.start();
    },
    async stop() {
      maps.stop();
      await service.stop();
    },
  };
}

export type LocationsModule = ReturnType<typeof createLocationsModule>;
