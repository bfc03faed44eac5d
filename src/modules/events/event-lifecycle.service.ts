import type { Config } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import type { Executor } from '../../infra/db/database.js';
import type { TxContext, UnitOfWork } from '../../infra/outbox/outbox.js';
import type { EventsRepository } from './events.repository.js';
import type { EventsService } from './events.service.js';
import type { ParticipationService } from './participation.service.js';

/** A reminder missed by longer than this (every worker down) is dropped rather than sent late. */
const CATCH_UP_MS = 10 * 60_000;
const ENDED_CATCH_UP_MS = 24 * 3_600_000;
const BATCH = 100;

/**
 * What happens to events over time and when people or groups go away: the "starting soon" and "ended" notices
 * (each claimed in SQL, so it goes out once with any number of workers, and a missed minute is caught up), and
 * the rules that close or hand over events when their host, a participant or their group leaves.
 */
export class EventLifecycle {
  constructor(
    private readonly deps: {
      repo: EventsRepository;
      db: Executor;
      clock: Clock;
      unitOfWork: UnitOfWork;
      service: EventsService;
      participation: ParticipationService;
      config: Config['events'];
    },
  ) {}

  /** Announces events starting within the reminder lead time, and events that have ended. */
  async run(): Promise<{ startingSoon: number; ended: number }> {
    const now = this.deps.clock.now().getTime();
    const lead = this.deps.config.reminderMinutes * 60_000;
    let startingSoon = 0;
    let ended = 0;
    for (;;) {
      const n = await this.deps.unitOfWork(async (ctx) => {
        const due = await this.deps.repo.claimStartingSoon(
          ctx.tx,
          new Date(now + lead),
          new Date(now - CATCH_UP_MS),
          BATCH,
        );
        for (const e of due) {
          await ctx.publish(
            'event.starting_soon',
            { eventId: e.id, startsAt: new Date(e.startsAt).toISOString() },
            null,
          );
        }
        return due.length;
      });
      startingSoon += n;
      if (n < BATCH) break;
    }
    for (;;) {
      const n = await this.deps.unitOfWork(async (ctx) => {
        const due = await this.deps.repo.claimEnded(
          ctx.tx,
          new Date(now),
          new Date(now - ENDED_CATCH_UP_MS),
          BATCH,
        );
        for (const e of due) await ctx.publish('event.ended', { eventId: e.id }, null);
        return due.length;
      });
      ended += n;
      if (n < BATCH) break;
    }
    return { startingSoon, ended };
  }

  /**
   * A deleted account hosts nothing and goes nowhere: its upcoming hosted events are cancelled (their people
   * are told) and its places in others' events are given up, which promotes the waitlist.
   */
  async onUserDeleted(ctx: TxContext, userId: string): Promise<void> {
    const now = this.deps.clock.now();
    for (const eventId of await this.deps.repo.upcomingEventIds(ctx.tx, { hostId: userId }, now)) {
      await this.deps.service.cancelInTx(ctx, eventId, 'host_deleted', null);
    }
    for (const eventId of await this.deps.repo.upcomingParticipations(ctx.tx, userId, {}, now)) {
      await this.deps.participation.removeByIds(ctx, eventId, userId, 'account_deleted');
    }
    await this.deps.repo.cancelPendingInvitations(ctx.tx, { inviteeId: userId });
  }

  /** A deleted group's upcoming events are cancelled. */
  async onGroupDeleted(ctx: TxContext, groupId: string): Promise<void> {
    const now = this.deps.clock.now();
    for (const eventId of await this.deps.repo.upcomingEventIds(ctx.tx, { groupId }, now)) {
      await this.deps.service.cancelInTx(ctx, eventId, 'group_deleted', null);
    }
  }

  /** A group that turns private makes its events private (announced as an edit of `visibility`). */
  async onGroupPrivate(ctx: TxContext, groupId: string): Promise<void> {
    for (const eventId of await this.deps.repo.makeGroupEventsPrivate(ctx.tx, groupId)) {
      await ctx.publish('event.updated', { eventId, fields: ['visibility'] }, null);
    }
  }

  /**
   * Someone who leaves (or is removed from) a group gives up its members-only events; its upcoming events they
   * host are cancelled, since only members may host in a group. Its public events stay theirs, as anyone may
   * join those; a ban (`onBanned`) takes those too.
   */
  async onMemberLeft(
    ctx: TxContext,
    groupId: string,
    userId: string,
    reason: 'left' | 'account_deleted' | 'kicked' | 'banned',
  ): Promise<void> {
    const now = this.deps.clock.now();
    for (const eventId of await this.deps.repo.upcomingEventIds(ctx.tx, { groupId, hostId: userId }, now)) {
      await this.deps.service.cancelInTx(ctx, eventId, 'host_left_group', null);
    }
    // A ban gives up every event of the group, with its own reason: `onBanned` does it.
    if (reason === 'banned') return;
    const events = await this.deps.repo.upcomingParticipations(
      ctx.tx,
      userId,
      { groupId, privateOnly: true },
      now,
    );
    for (const eventId of events) {
      await this.deps.participation.removeByIds(ctx, eventId, userId, 'left_group');
    }
  }

  /**
   * Someone banned from a group (a member or not) takes part in none of its events: they give up their places
   * in its upcoming events, public ones included (the waitlist moves up), and their pending invitations to them
   * are withdrawn, each with reason `banned_from_group`. Joining, applying and invitations are refused until
   * they are unbanned (`ParticipationService`).
   */
  async onBanned(ctx: TxContext, groupId: string, userId: string, byId: string): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.repo.lockUpcomingGroupEvents(ctx.tx, groupId, now);
    for (const eventId of await this.deps.repo.upcomingParticipations(ctx.tx, userId, { groupId }, now)) {
      await this.deps.participation.removeByIds(ctx, eventId, userId, 'banned_from_group');
    }
    await this.deps.participation.withdrawInvitations(
      ctx,
      { groupId, inviteeId: userId },
      'banned_from_group',
      byId,
    );
  }
}
