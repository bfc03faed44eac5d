import { Type } from 'typebox';
import type { Infra } from '../../infra/infra.js';
import { defineJob } from '../../infra/jobs/job-queue.js';
import { AttendanceService } from './attendance.service.js';
import type { GroupDirectory } from './event-access.js';
import { EventsRepository } from './events.repository.js';
import { EventsService } from './events.service.js';
import { ParticipationService } from './participation.service.js';
import { EventLifecycle } from './event-lifecycle.service.js';

export const eventRemindersJob = defineJob({
  name: 'events.reminders',
  payload: Type.Object({}),
  retryLimit: 2,
  // One run at a time across every worker; the claim in SQL makes each notice go out once anyway.
  policy: 'singleton',
  expireInSeconds: 120,
});

/**
 * Events: builds the services from the infrastructure ports and the groups directory, and wires the reminder
 * schedule and the outbox subscribers that keep events consistent when people and groups go away.
 */
export function createEventsModule(infra: Infra, deps: { groups: GroupDirectory }) {
  const { database, clock, outbox, config } = infra;
  const repo = new EventsRepository();
  const db = database.db;
  const common = { repo, db, clock, unitOfWork: outbox.unitOfWork, groups: deps.groups };
  const participation = new ParticipationService(common);
  const service = new EventsService({
    ...common,
    limiter: infra.limiter,
    participation,
    config: config.events,
  });
  const attendance = new AttendanceService({ ...common, config: config.events });
  const lifecycle = new EventLifecycle({ ...common, service, participation, config: config.events });

  infra.jobs.handle(eventRemindersJob, async () => {
    await lifecycle.run();
  });
  infra.jobs.schedule({ job: eventRemindersJob, cron: '* * * * *' });

  outbox.subscribe('events.on-user-deleted', ['user.deleted'], async (event, ctx) => {
    await lifecycle.onUserDeleted(ctx, event.payload.userId);
  });

  outbox.subscribe('events.on-group-deleted', ['group.deleted'], async (event, ctx) => {
    await lifecycle.onGroupDeleted(ctx, event.payload.groupId);
  });
  outbox.subscribe(
    'events.on-group-member-left',
    ['group.member_left', 'group.member_removed'],
    async (event, ctx) => {
      await lifecycle.onMemberLeft(ctx, event.payload.groupId, event.payload.userId, event.payload.reason);
    },
  );
  outbox.subscribe('events.on-group-ban', ['group.banned'], async (event, ctx) => {
    await lifecycle.onBanned(ctx, event.payload.groupId, event.payload.userId, event.payload.byId);
  });
  outbox.subscribe('events.on-group-private', ['group.updated'], async (event, ctx) => {
    if (event.payload.visibility === 'private' && event.payload.fields.includes('visibility')) {
      await lifecycle.onGroupPrivate(ctx, event.payload.groupId);
    }
  });

  return { repo, service, participation, attendance, lifecycle, remindersJob: eventRemindersJob };
}

export type EventsModule = ReturnType<typeof createEventsModule>;
