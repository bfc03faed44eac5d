import type { Clock } from '../../infra/clock.js';
import type { Executor } from '../../infra/db/database.js';
import type { TxContext, UnitOfWork } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/context.js';
import type { DomainEvents } from '../../shared/domain-events.js';
import { AppError } from '../../shared/errors.js';
import { EventAccess, type GroupDirectory, type LoadedEvent } from './event-access.js';
import { canJoinWithoutInvitation, isHost, visibleStatuses, type EventViewer } from './events.policy.js';
import type {
  EventRow,
  EventsRepository,
  InvitationRow,
  InvitationWithEvent,
  ParticipantRow,
  ParticipantWithUser,
} from './events.repository.js';

const ACTIVE = new Set<ParticipantRow['status']>(['going', 'waitlisted', 'pending']);

/**
 * The participation engine: applying and joining, the waitlist and its promotions, host approval, kicks,
 * invitations and the roster confirmation that locks an event. Every change to one event's seats runs under a
 * lock on that event's row, and the seat counters are recounted in the same transaction, so capacity holds under
 * any concurrency: with 10 seats, 50 simultaneous applications give exactly 10 going.
 */
export class ParticipationService {
  private readonly access: EventAccess;

  constructor(
    private readonly deps: {
      repo: EventsRepository;
      db: Executor;
      clock: Clock;
      unitOfWork: UnitOfWork;
      groups: GroupDirectory;
    },
  ) {
    this.access = new EventAccess(deps);
  }

  /**
   * Applies to or joins an event. With a pending invitation it is accepted; otherwise a private event needs
   * group membership, and an event with host approval takes an application. Without a free seat the person
   * goes on the waitlist, or is refused when the waitlist is off.
   */
  async join(
    actor: Actor,
    eventId: string,
    input: { message?: string | null } = {},
  ): Promise<ParticipantRow> {
    return this.deps.unitOfWork(async (ctx) => {
      const { event, viewer } = await this.access.load(ctx.tx, eventId, actor.userId, { lock: true });
      this.assertOpen(event);
      await this.assertNotBanned(ctx.tx, event, actor.userId);
      const invitation = viewer.invitation;
      if (invitation) return this.acceptInTx(ctx, event, invitation);
      if (event.applyDeadline && event.applyDeadline <= this.deps.clock.now()) {
        throw new AppError('APPLICATIONS_CLOSED', 'Applications for this event have closed.');
      }
      this.assertNotIn(event, viewer);
      if (viewer.participant?.status === 'kicked') {
        throw new AppError('KICKED_FROM_EVENT', 'The host removed you from this event.');
      }
      if (viewer.participant?.status === 'rejected') {
        throw new AppError('APPLICATION_REJECTED', 'The host declined your application.');
      }
      if (!canJoinWithoutInvitation(event, viewer)) {
        throw new AppError('INVITATION_REQUIRED', 'This event is open to its group or by invitation only.');
      }
      const status = event.requiresApproval ? 'pending' : this.seatFor(event);
      return this.enter(ctx, event, actor.userId, status, input.message ?? null);
    });
  }

  /** Cancels one's own participation (going, waitlisted or applied). A freed seat goes to the waitlist. */
  async leave(actor: Actor, eventId: string): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { event, viewer } = await this.access.load(ctx.tx, eventId, actor.userId, { lock: true });
      if (isHost(event, viewer)) {
        throw new AppError('HOST_CANNOT_LEAVE', 'The host cannot leave; cancel the event instead.');
      }
      this.assertOpen(event);
      const participant = this.activeOrThrow(viewer.participant);
      await this.removeInTx(ctx, event, participant, 'cancelled', actor.userId);
    });
  }

  /** The host accepts an application (a seat, or the waitlist) or declines it. */
  async decide(actor: Actor, eventId: string, userId: string, approve: boolean): Promise<ParticipantRow> {
    return this.deps.unitOfWork(async (ctx) => {
      const { event } = await this.access.loadAsHost(ctx.tx, eventId, actor.userId);
      this.assertOpen(event);
      const participant = await this.deps.repo.findParticipant(ctx.tx, event.id, userId);
      if (participant?.status !== 'pending') {
        throw new AppError('APPLICATION_NOT_PENDING', 'There is no pending application from this person.');
      }
      const status = approve ? this.seatFor(event) : 'rejected';
      const row = await this.deps.repo.moveParticipant(ctx.tx, event.id, userId, status);
      await this.deps.repo.refreshCounts(ctx.tx, event.id);
      await ctx.publish(
        'event.application_decided',
        { eventId: event.id, userId, approved: approve, status, reason: 'host' },
        actor.userId,
      );
      return row;
    });
  }

  /** The host removes someone; they cannot come back unless the host invites them again. */
  async kick(actor: Actor, eventId: string, userId: string): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { event } = await this.access.loadAsHost(ctx.tx, eventId, actor.userId);
      if (userId === event.hostId) throw new AppError('HOST_CANNOT_LEAVE', 'The host cannot be removed.');
      this.assertOpen(event);
      const participant = this.activeOrThrow(
        (await this.deps.repo.findParticipant(ctx.tx, event.id, userId)) ?? null,
      );
      await this.vacate(ctx, event.id, userId, 'kicked');
      await this.afterSeatChange(ctx, event, participant);
      await ctx.publish('event.kicked', { eventId: event.id, userId }, actor.userId);
    });
  }

  async invite(actor: Actor, eventId: string, inviteeId: string): Promise<InvitationRow> {
    return this.deps.unitOfWork(async (ctx) => {
      const { event } = await this.access.loadAsHost(ctx.tx, eventId, actor.userId);
      this.assertOpen(event);
      if (!(await this.deps.repo.isActiveUser(ctx.tx, inviteeId))) {
        throw new AppError('NOT_FOUND', 'No such user.');
      }
      await this.assertNotBanned(ctx.tx, event, inviteeId, 'This person is');
      const viewer = await this.access.viewer(ctx.tx, event, inviteeId);
      this.assertNotIn(event, viewer);
      if (viewer.invitation) throw new AppError('ALREADY_INVITED', 'This person is already invited.');
      this.seatFor(event);
      const invitation = await this.deps.repo.insertInvitation(ctx.tx, {
        eventId: event.id,
        inviterId: actor.userId,
        inviteeId,
      });
      await ctx.publish(
        'event.invited',
        { eventId: event.id, invitationId: invitation.id, inviteeId, inviterId: actor.userId },
        actor.userId,
      );
      return invitation;
    });
  }

  async cancelInvitation(actor: Actor, eventId: string, invitationId: string): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { event } = await this.access.loadAsHost(ctx.tx, eventId, actor.userId);
      const invitation = await this.deps.repo.findInvitation(ctx.tx, invitationId);
      if (!invitation || invitation.eventId !== event.id) {
        throw new AppError('NOT_FOUND', 'No such invitation.');
      }
      if (invitation.status !== 'pending') {
        throw new AppError('INVITATION_NOT_PENDING', 'The invitation was already answered or withdrawn.');
      }
      if (!(await this.deps.repo.answerInvitation(ctx.tx, invitation.id, 'cancelled'))) throw notPending();
      await ctx.publish(
        'event.invitation_cancelled',
        { eventId: event.id, invitationId: invitation.id, inviteeId: invitation.inviteeId, reason: 'host' },
        actor.userId,
      );
    });
  }

  /** The invitee answers. Accepting takes a seat (or the waitlist) even where approval would be needed. */
  async answerInvitation(actor: Actor, invitationId: string, accept: boolean): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const invitation = await this.deps.repo.findInvitation(ctx.tx, invitationId);
      if (!invitation || invitation.inviteeId !== actor.userId) {
        throw new AppError('NOT_FOUND', 'No such invitation.');
      }
      if (invitation.status !== 'pending') {
        throw new AppError('INVITATION_NOT_PENDING', 'The invitation was already answered or withdrawn.');
      }
      if (accept) {
        const event = await this.deps.repo.lockEvent(ctx.tx, invitation.eventId);
        if (!event) throw new AppError('NOT_FOUND', 'No such invitation.');
        this.assertOpen(event);
        await this.assertNotBanned(ctx.tx, event, actor.userId);
        await this.acceptInTx(ctx, event, invitation);
        return;
      }
      if (!(await this.deps.repo.answerInvitation(ctx.tx, invitation.id, 'rejected'))) throw notPending();
      await ctx.publish(
        'event.invitation_answered',
        { eventId: invitation.eventId, invitationId, inviteeId: actor.userId, accepted: false },
        actor.userId,
      );
    });
  }

  myInvitations(actor: Actor): Promise<InvitationWithEvent[]> {
    return this.deps.repo.listInvitationsFor(this.deps.db, actor.userId, this.deps.clock.now());
  }

  async eventInvitations(actor: Actor, eventId: string): Promise<InvitationRow[]> {
    const { event } = await this.access.loadAsHost(this.deps.db, eventId, actor.userId);
    return this.deps.repo.listEventInvitations(this.deps.db, event.id);
  }

  /**
   * Roster confirmation: each person going confirms; the host may confirm only after all of them, and the
   * host's confirmation locks the event against edits, joins, leaves, kicks and invitations. Nobody can join a
   * locked event, so the lock also settles everyone still waiting, each told why: pending applications are
   * declined, the waitlist is cleared and pending invitations are withdrawn (all with reason `roster_locked`).
   */
  async confirm(actor: Actor, eventId: string): Promise<{ locked: boolean; unconfirmed: number }> {
    return this.deps.unitOfWork(async (ctx) => {
      const { event, viewer } = await this.access.load(ctx.tx, eventId, actor.userId, { lock: true });
      if (event.status === 'cancelled') throw new AppError('EVENT_CANCELLED', 'The event is cancelled.');
      if (event.lockedAt) throw new AppError('EVENT_LOCKED', 'The roster is already confirmed.');
      if (event.endsAt <= this.deps.clock.now()) {
        throw new AppError('EVENT_STARTED', 'The event is over.');
      }
      if (viewer.participant?.status !== 'going') {
        throw new AppError('NOT_PARTICIPATING', 'Only people going confirm the roster.');
      }
      const unconfirmed = await this.deps.repo.unconfirmedCount(ctx.tx, event.id);
      if (!isHost(event, viewer)) {
        if (!viewer.participant.confirmedAt) {
          await this.deps.repo.setParticipant(ctx.tx, event.id, actor.userId, {
            confirmedAt: this.deps.clock.now(),
          });
        }
        return { locked: false, unconfirmed: viewer.participant.confirmedAt ? unconfirmed : unconfirmed - 1 };
      }
      if (unconfirmed > 0) {
        throw new AppError('ROSTER_NOT_CONFIRMED', `${unconfirmed} people have not confirmed yet.`, {
          details: { unconfirmed },
        });
      }
      const now = this.deps.clock.now();
      await this.deps.repo.setParticipant(ctx.tx, event.id, actor.userId, { confirmedAt: now });
      await this.deps.repo.updateEvent(ctx.tx, event.id, { lockedAt: now });
      for (const p of await this.deps.repo.moveAll(ctx.tx, event.id, 'pending', 'rejected')) {
        await ctx.publish(
          'event.application_decided',
          {
            eventId: event.id,
            userId: p.userId,
            approved: false,
            status: 'rejected',
            reason: 'roster_locked',
          },
          actor.userId,
        );
      }
      for (const p of await this.deps.repo.moveAll(ctx.tx, event.id, 'waitlisted', 'cancelled')) {
        await ctx.publish(
          'event.left',
          { eventId: event.id, userId: p.userId, reason: 'roster_locked' },
          actor.userId,
        );
      }
      await this.deps.repo.refreshCounts(ctx.tx, event.id);
      await this.withdrawInvitations(ctx, { eventId: event.id }, 'roster_locked', actor.userId);
      await ctx.publish('event.locked', { eventId: event.id }, actor.userId);
      return { locked: true, unconfirmed: 0 };
    });
  }

  /** The roster as the caller may see it: the going list for everyone who sees the event, the rest for the host. */
  async participants(
    actor: Actor | null,
    eventId: string,
  ): Promise<LoadedEvent & { participants: ParticipantWithUser[] }> {
    const loaded = await this.access.load(this.deps.db, eventId, actor?.userId ?? null);
    const participants = await this.deps.repo.listParticipants(
      this.deps.db,
      loaded.event.id,
      visibleStatuses(loaded.event, loaded.viewer),
    );
    return { ...loaded, participants };
  }

  /** Gives free seats to the waitlist, earliest first, after a seat is freed or the capacity raised. */
  async fillSeats(ctx: TxContext, eventId: string): Promise<void> {
    let event = (await this.deps.repo.lockEvent(ctx.tx, eventId))!;
    for (;;) {
      if (event.capacity !== null && event.goingCount >= event.capacity) break;
      const next = await this.deps.repo.nextWaitlisted(ctx.tx, eventId);
      if (!next) break;
      await this.deps.repo.moveParticipant(ctx.tx, eventId, next.userId, 'going');
      event = await this.deps.repo.refreshCounts(ctx.tx, eventId);
      await ctx.publish('event.promoted', { eventId, userId: next.userId }, null);
    }
  }

  /**
   * Takes someone out of an event inside the caller's transaction: their own cancellation, leaving the group of
   * a members-only event, or deleting their account.
   */
  async removeInTx(
    ctx: TxContext,
    event: EventRow,
    participant: ParticipantRow,
    reason: DomainEvents['event.left']['reason'],
    actorId: string | null,
  ): Promise<void> {
    await this.vacate(ctx, event.id, participant.userId, 'cancelled');
    await this.afterSeatChange(ctx, event, participant);
    await ctx.publish('event.left', { eventId: event.id, userId: participant.userId, reason }, actorId);
  }

  /** As `removeInTx`, by ids; a no-op when the person no longer takes part. */
  async removeByIds(
    ctx: TxContext,
    eventId: string,
    userId: string,
    reason: 'left_group' | 'banned_from_group' | 'account_deleted',
  ): Promise<void> {
    const event = await this.deps.repo.lockEvent(ctx.tx, eventId);
    const participant = event && (await this.deps.repo.findParticipant(ctx.tx, eventId, userId));
    if (!event || !participant || !ACTIVE.has(participant.status) || participant.role === 'host') return;
    await this.removeInTx(ctx, event, participant, reason, userId);
  }

  /** Withdraws pending invitations in the caller's transaction and tells each invitee why. */
  async withdrawInvitations(
    ctx: TxContext,
    where: { eventId?: string; inviteeId?: string; groupId?: string },
    reason: DomainEvents['event.invitation_cancelled']['reason'],
    actorId: string | null,
  ): Promise<void> {
    for (const i of await this.deps.repo.cancelPendingInvitations(ctx.tx, where)) {
      await ctx.publish(
        'event.invitation_cancelled',
        { eventId: i.eventId, invitationId: i.id, inviteeId: i.inviteeId, reason },
        actorId,
      );
    }
  }

  /**
   * Takes someone out of the event. A mark the host made in the attendance window (which opens before the start,
   * while people may still leave) goes with them: attending, and the right to rate, belong to people who stayed.
   */
  private async vacate(
    ctx: TxContext,
    eventId: string,
    userId: string,
    status: 'cancelled' | 'kicked',
  ): Promise<void> {
    await this.deps.repo.setParticipant(ctx.tx, eventId, userId, {
      status,
      attendance: null,
      attendanceBy: null,
      attendanceAt: null,
    });
  }

  private async afterSeatChange(ctx: TxContext, event: EventRow, before: ParticipantRow): Promise<void> {
    await this.deps.repo.refreshCounts(ctx.tx, event.id);
    if (before.status === 'going') await this.fillSeats(ctx, event.id);
  }

  private async acceptInTx(
    ctx: TxContext,
    event: EventRow,
    invitation: InvitationRow,
  ): Promise<ParticipantRow> {
    if (!(await this.deps.repo.answerInvitation(ctx.tx, invitation.id, 'accepted'))) throw notPending();
    const status = this.seatFor(event);
    const row = await this.enter(ctx, event, invitation.inviteeId, status, null);
    await ctx.publish(
      'event.invitation_answered',
      { eventId: event.id, invitationId: invitation.id, inviteeId: invitation.inviteeId, accepted: true },
      invitation.inviteeId,
    );
    return row;
  }

  private async enter(
    ctx: TxContext,
    event: EventRow,
    userId: string,
    status: 'going' | 'waitlisted' | 'pending',
    message: string | null,
  ): Promise<ParticipantRow> {
    const row = await this.deps.repo.putParticipant(ctx.tx, { eventId: event.id, userId, status, message });
    await this.deps.repo.refreshCounts(ctx.tx, event.id);
    await ctx.publish('event.joined', { eventId: event.id, userId, status }, userId);
    return row;
  }

  /** Where a newcomer goes: a free seat, else the waitlist, else nowhere. */
  private seatFor(event: EventRow): 'going' | 'waitlisted' {
    if (event.capacity === null || event.goingCount < event.capacity) return 'going';
    if (event.waitlistEnabled) return 'waitlisted';
    throw new AppError('EVENT_FULL', 'The event is full.', {
      details: { capacity: event.capacity, going: event.goingCount },
    });
  }

  private assertOpen(event: EventRow): void {
    if (event.status === 'cancelled') throw new AppError('EVENT_CANCELLED', 'The event is cancelled.');
    if (event.lockedAt) throw new AppError('EVENT_LOCKED', 'The roster is confirmed; the event is locked.');
    if (event.startsAt <= this.deps.clock.now()) {
      throw new AppError('EVENT_STARTED', 'The event has started.');
    }
  }

  /**
   * Someone banned from a group takes part in none of its events, public ones included: no joining, applying,
   * being invited or accepting an invitation until unbanned.
   */
  private async assertNotBanned(
    exec: Executor,
    event: EventRow,
    userId: string,
    who: 'You are' | 'This person is' = 'You are',
  ): Promise<void> {
    if (event.groupId && (await this.deps.groups.bannedGroupIds(exec, userId)).includes(event.groupId)) {
      throw new AppError('BANNED_FROM_GROUP', `${who} banned from the group this event belongs to.`);
    }
  }

  private assertNotIn(event: EventRow, viewer: EventViewer): void {
    if (event.hostId === viewer.userId || (viewer.participant && ACTIVE.has(viewer.participant.status))) {
      throw new AppError('ALREADY_PARTICIPATING', 'Already taking part in this event.', {
        details: { status: viewer.participant?.status ?? 'going' },
      });
    }
  }

  private activeOrThrow(participant: ParticipantRow | null): ParticipantRow {
    if (!participant || !ACTIVE.has(participant.status)) {
      throw new AppError('NOT_PARTICIPATING', 'Not taking part in this event.');
    }
    return participant;
  }
}

const notPending = () =>
  new AppError('INVITATION_NOT_PENDING', 'The invitation was already answered or withdrawn.');
