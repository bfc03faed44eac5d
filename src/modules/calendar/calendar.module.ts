import type { Infra } from '../../infra/infra.js';
import type { GroupDirectory } from '../events/event-access.js';
import type { EventsModule } from '../events/events.module.js';
import { CalendarRepository } from './calendar.repository.js';
import { CalendarService } from './calendar.service.js';
import { FeedsService } from './feeds.service.js';

/**
 * Calendar: month and day views over the events module's tables, each person's own event colours, and the
 * private iCalendar feeds, with the outbox subscribers that close feeds when their owner goes away.
 */
export function createCalendarModule(infra: Infra, deps: { groups: GroupDirectory; events: EventsModule }) {
  const { database, config, outbox } = infra;
  const repo = new CalendarRepository();
  const db = database.db;
  const service = new CalendarService({
    repo,
    db,
    groups: deps.groups,
    events: deps.events.service,
    timeZone: config.timeZone,
  });
  const feeds = new FeedsService({
    repo,
    db,
    clock: infra.clock,
    limiter: infra.limiter,
    groups: deps.groups,
    config: { timeZone: config.timeZone, calendar: config.calendar, publicUrl: config.http.publicUrl },
  });

  // A deleted account's feed URLs die with it (the fetch checks too, so nothing leaks before this runs), and
  // are not revived by a restore: the owner makes new ones. Its colours go when its data is purged.
  outbox.subscribe('calendar.on-user-deleted', ['user.deleted'], async (event, ctx) => {
    await feeds.onUserDeleted(ctx.tx, event.payload.userId);
  });
  outbox.subscribe('calendar.on-user-purged', ['user.purged'], async (event, ctx) => {
    await repo.clearColorsOf(ctx.tx, event.payload.userId);
  });

  // A member's group feed ends with their membership, and a deleted group's feeds with it: for good, so
  // rejoining does not bring an old URL back.
  outbox.subscribe(
    'calendar.on-member-gone',
    ['group.member_left', 'group.member_removed'],
    async (event, ctx) => {
      await feeds.onMemberLeft(ctx.tx, event.payload.groupId, event.payload.userId);
    },
  );
  outbox.subscribe('calendar.on-group-deleted', ['group.deleted'], async (event, ctx) => {
    await feeds.onGroupDeleted(ctx.tx, event.payload.groupId);
  });

  return { repo, service, feeds };
}

export type CalendarModule = ReturnType<typeof createCalendarModule>;
