import { and, asc, desc, eq, gt, inArray, sql } from 'drizzle-orm';
import { queryRows, type Executor } from '../../infra/db/database.js';
import { users } from '../accounts/accounts.schema.js';
import {
  eventInvitations,
  eventParticipants,
  eventRatings,
  events,
  type ParticipantStatus,
} from './events.schema.js';

export type EventRow = typeof events.$inferSelect;
export type NewEvent = typeof events.$inferInsert;
export type ParticipantRow = typeof eventParticipants.$inferSelect;
export type InvitationRow = typeof eventInvitations.$inferSelect;
export type RatingRow = typeof eventRatings.$inferSelect;

export interface PersonCard {
  id: string;
  nickname: string;
  avatarUrl: string | null;
}

export interface ParticipantWithUser extends ParticipantRow {
  nickname: string;
  avatarUrl: string | null;
}

export interface InvitationWithEvent extends InvitationRow {
  eventTitle: string;
  eventStartsAt: Date;
  inviterNickname: string;
}

const person = {
  id: users.id,
  nickname: users.nickname,
  avatarUrl: users.avatarUrl,
};

/** The SQL of events, participants, invitations and ratings. */
export class EventsRepository {
  // events

  async insertEvent(tx: Executor, values: NewEvent): Promise<EventRow> {
    const [row] = await tx.insert(events).values(values).returning();
    return row!;
  }

  async findEvent(db: Executor, id: string): Promise<EventRow | undefined> {
    const [row] = await db.select().from(events).where(eq(events.id, id));
    return row;
  }

  /** Locks the event row for the rest of the transaction: every seat change on one event goes one at a time. */
  async lockEvent(tx: Executor, id: string): Promise<EventRow | undefined> {
    const [row] = await tx.select().from(events).where(eq(events.id, id)).for('update');
    return row;
  }

  async updateEvent(tx: Executor, id: string, fields: Partial<NewEvent>): Promise<EventRow> {
    const [row] = await tx
      .update(events)
      .set({ ...fields, sequence: sql`${events.sequence} + 1`, updatedAt: sql`now()` })
      .where(eq(events.id, id))
      .returning();
    return row!;
  }

  /** Recounts the seats from the participant rows, so the counters can never drift from what they count. */
  async refreshCounts(tx: Executor, id: string): Promise<EventRow> {
    const count = (status: ParticipantStatus) =>
      sql`(select count(*)::int from ${eventParticipants} p where p.event_id = ${id} and p.status = ${status})`;
    const [row] = await tx
      .update(events)
      .set({ goingCount: count('going'), waitlistCount: count('waitlisted'), pendingCount: count('pending') })
      .where(eq(events.id, id))
      .returning();
    return row!;
  }

  async findDuplicate(
    db: Executor,
    hostId: string,
    title: string,
    startsAt: Date,
  ): Promise<{ id: string } | undefined> {
    const [row] = await db
      .select({ id: events.id })
      .from(events)
      .where(
        and(
          eq(events.hostId, hostId),
          eq(events.status, 'scheduled'),
          eq(events.startsAt, startsAt),
          sql`lower(${events.title}) = ${title.toLowerCase()}`,
        ),
      )
      .limit(1);
    return row;
  }

  /** A person who can be invited: exists and has not deleted their account. */
  async isActiveUser(db: Executor, id: string): Promise<boolean> {
    const [row] = await db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.id, id), sql`${users.deletedAt} is null`));
    return row !== undefined;
  }

  async people(db: Executor, ids: string[]): Promise<Map<string, PersonCard>> {
    if (ids.length === 0) return new Map();
    const rows = await db
      .select(person)
      .from(users)
      .where(inArray(users.id, [...new Set(ids)]));
    return new Map(rows.map((r) => [r.id, r]));
  }

  /** Future scheduled events of a group, or hosted by a person, for the rules that close them. */
  async upcomingEventIds(
    db: Executor,
    where: { groupId?: string; hostId?: string; privateOnly?: boolean },
    now: Date,
  ): Promise<string[]> {
    const rows = await db
      .select({ id: events.id })
      .from(events)
      .where(
        and(
          eq(events.status, 'scheduled'),
          gt(events.startsAt, now),
          where.groupId ? eq(events.groupId, where.groupId) : undefined,
          where.hostId ? eq(events.hostId, where.hostId) : undefined,
          where.privateOnly ? eq(events.visibility, 'private') : undefined,
        ),
      );
    return rows.map((r) => r.id);
  }

  /** Future events a person takes part in (not as host), optionally only those of one group. */
  /**
   * Locks a group's upcoming events (in id order, so two such passes cannot deadlock) so that a join that checked the
   * group's bans before a ban committed has either committed, and is seen next, or waits and sees the ban.
   */
  async lockUpcomingGroupEvents(tx: Executor, groupId: string, now: Date): Promise<void> {
    await tx
      .select({ id: events.id })
      .from(events)
      .where(and(eq(events.groupId, groupId), eq(events.status, 'scheduled'), gt(events.startsAt, now)))
      .orderBy(asc(events.id))
      .for('update');
  }

  async upcomingParticipations(
    db: Executor,
    userId: string,
    where: { groupId?: string; privateOnly?: boolean },
    now: Date,
  ): Promise<string[]> {
    const rows = await db
      .select({ id: events.id })
      .from(eventParticipants)
      .innerJoin(events, eq(events.id, eventParticipants.eventId))
      .where(
        and(
          eq(eventParticipants.userId, userId),
          eq(eventParticipants.role, 'participant'),
          inArray(eventParticipants.status, ['going', 'waitlisted', 'pending']),
          eq(events.status, 'scheduled'),
          gt(events.startsAt, now),
          where.groupId ? eq(events.groupId, where.groupId) : undefined,
          where.privateOnly ? eq(events.visibility, 'private') : undefined,
        ),
      );
    return rows.map((r) => r.id);
  }

  /** A group gone private takes its events with it: none may stay public. */
  async makeGroupEventsPrivate(tx: Executor, groupId: string): Promise<string[]> {
    const rows = await tx
      .update(events)
      .set({ visibility: 'private', updatedAt: sql`now()` })
      .where(and(eq(events.groupId, groupId), eq(events.visibility, 'public')))
      .returning({ id: events.id });
    return rows.map((r) => r.id);
  }

  /** Events due for their "starting soon" notice, claimed in the same statement so each is announced once. */
  async claimStartingSoon(
    tx: Executor,
    before: Date,
    after: Date,
    limit: number,
  ): Promise<{ id: string; startsAt: string }[]> {
    return queryRows(
      tx,
      sql`update ${events} set starting_soon_notified_at = now()
          where id in (
            select id from ${events}
            where status = 'scheduled' and starting_soon_notified_at is null
              and starts_at <= ${before} and starts_at > ${after}
            order by starts_at limit ${limit} for update skip locked)
          returning id, starts_at as "startsAt"`,
    );
  }

  async claimEnded(tx: Executor, now: Date, after: Date, limit: number): Promise<{ id: string }[]> {
    return queryRows(
      tx,
      sql`update ${events} set ended_notified_at = now()
          where id in (
            select id from ${events}
            where status = 'scheduled' and ended_notified_at is null
              and ends_at <= ${now} and ends_at > ${after}
            order by ends_at limit ${limit} for update skip locked)
          returning id`,
    );
  }

  // participants

  async findParticipant(db: Executor, eventId: string, userId: string): Promise<ParticipantRow | undefined> {
    const [row] = await db
      .select()
      .from(eventParticipants)
      .where(and(eq(eventParticipants.eventId, eventId), eq(eventParticipants.userId, userId)));
    return row;
  }

  /** Creates the row or moves an existing one (a person who cancelled may come back) to its new status. */
  async putParticipant(
    tx: Executor,
    values: {
      eventId: string;
      userId: string;
      role?: 'host' | 'participant';
      status: ParticipantStatus;
      message?: string | null;
    },
  ): Promise<ParticipantRow> {
    // clock_timestamp, not now(): the queue follows the order seats were asked for, not when transactions began.
    const waitlistedAt = values.status === 'waitlisted' ? sql`clock_timestamp()` : null;
    const [row] = await tx
      .insert(eventParticipants)
      .values({ ...values, waitlistedAt })
      .onConflictDoUpdate({
        target: [eventParticipants.eventId, eventParticipants.userId],
        set: {
          status: values.status,
          message: values.message ?? null,
          waitlistedAt,
          confirmedAt: null,
          attendance: null,
          attendanceBy: null,
          attendanceAt: null,
          updatedAt: sql`now()`,
        },
      })
      .returning();
    return row!;
  }

  /** Moves a participant to another status; joining the waitlist takes the back of the queue. */
  async moveParticipant(
    tx: Executor,
    eventId: string,
    userId: string,
    status: ParticipantStatus,
  ): Promise<ParticipantRow> {
    return this.setParticipant(tx, eventId, userId, {
      status,
      ...(status === 'waitlisted' ? { waitlistedAt: sql`clock_timestamp()` } : {}),
    } as Partial<typeof eventParticipants.$inferInsert>);
  }

  async setParticipant(
    tx: Executor,
    eventId: string,
    userId: string,
    fields: Partial<typeof eventParticipants.$inferInsert>,
  ): Promise<ParticipantRow> {
    const [row] = await tx
      .update(eventParticipants)
      .set({ ...fields, updatedAt: sql`now()` })
      .where(and(eq(eventParticipants.eventId, eventId), eq(eventParticipants.userId, userId)))
      .returning();
    return row!;
  }

  async nextWaitlisted(tx: Executor, eventId: string): Promise<ParticipantRow | undefined> {
    const [row] = await tx
      .select()
      .from(eventParticipants)
      .where(and(eq(eventParticipants.eventId, eventId), eq(eventParticipants.status, 'waitlisted')))
      .orderBy(asc(eventParticipants.waitlistedAt), asc(eventParticipants.userId))
      .limit(1);
    return row;
  }

  async listParticipants(
    db: Executor,
    eventId: string,
    statuses: ParticipantStatus[],
  ): Promise<ParticipantWithUser[]> {
    return db
      .select({ p: eventParticipants, nickname: users.nickname, avatarUrl: users.avatarUrl })
      .from(eventParticipants)
      .innerJoin(users, eq(users.id, eventParticipants.userId))
      .where(and(eq(eventParticipants.eventId, eventId), inArray(eventParticipants.status, statuses)))
      .orderBy(
        desc(sql`${eventParticipants.role} = 'host'`),
        asc(eventParticipants.waitlistedAt),
        asc(eventParticipants.createdAt),
        asc(eventParticipants.userId),
      )
      .then((rows) => rows.map((r) => ({ ...r.p, nickname: r.nickname, avatarUrl: r.avatarUrl })));
  }

  /** Going participants other than the host who have not confirmed the roster yet. */
  async unconfirmedCount(tx: Executor, eventId: string): Promise<number> {
    const [row] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(eventParticipants)
      .where(
        and(
          eq(eventParticipants.eventId, eventId),
          eq(eventParticipants.status, 'going'),
          eq(eventParticipants.role, 'participant'),
          sql`${eventParticipants.confirmedAt} is null`,
        ),
      );
    return row?.n ?? 0;
  }

  // invitations

  async insertInvitation(
    tx: Executor,
    values: { eventId: string; inviterId: string; inviteeId: string },
  ): Promise<InvitationRow> {
    const [row] = await tx.insert(eventInvitations).values(values).returning();
    return row!;
  }

  async findInvitation(db: Executor, id: string): Promise<InvitationRow | undefined> {
    const [row] = await db.select().from(eventInvitations).where(eq(eventInvitations.id, id));
    return row;
  }

  async pendingInvitation(
    db: Executor,
    eventId: string,
    inviteeId: string,
  ): Promise<InvitationRow | undefined> {
    const [row] = await db
      .select()
      .from(eventInvitations)
      .where(
        and(
          eq(eventInvitations.eventId, eventId),
          eq(eventInvitations.inviteeId, inviteeId),
          eq(eventInvitations.status, 'pending'),
        ),
      );
    return row;
  }

  /**
   * Closes a pending invitation; undefined when it is no longer pending. The condition is what makes a withdrawal
   * and an acceptance racing each other (or one invitation accepted twice at once) end with exactly one winner:
   * the loser's update waits for the winner's row lock, then finds the invitation no longer pending.
   */
  async answerInvitation(
    tx: Executor,
    id: string,
    status: 'accepted' | 'rejected' | 'cancelled',
  ): Promise<InvitationRow | undefined> {
    const [row] = await tx
      .update(eventInvitations)
      .set({ status, respondedAt: sql`now()` })
      .where(and(eq(eventInvitations.id, id), eq(eventInvitations.status, 'pending')))
      .returning();
    return row;
  }

  async listEventInvitations(db: Executor, eventId: string): Promise<InvitationRow[]> {
    return db
      .select()
      .from(eventInvitations)
      .where(and(eq(eventInvitations.eventId, eventId), eq(eventInvitations.status, 'pending')))
      .orderBy(asc(eventInvitations.createdAt));
  }

  async listInvitationsFor(db: Executor, inviteeId: string, now: Date): Promise<InvitationWithEvent[]> {
    const rows = await db
      .select({
        i: eventInvitations,
        eventTitle: events.title,
        eventStartsAt: events.startsAt,
        inviterNickname: users.nickname,
      })
      .from(eventInvitations)
      .innerJoin(events, eq(events.id, eventInvitations.eventId))
      .innerJoin(users, eq(users.id, eventInvitations.inviterId))
      .where(
        and(
          eq(eventInvitations.inviteeId, inviteeId),
          eq(eventInvitations.status, 'pending'),
          eq(events.status, 'scheduled'),
          gt(events.startsAt, now),
        ),
      )
      .orderBy(asc(events.startsAt));
    return rows.map((r) => ({
      ...r.i,
      eventTitle: r.eventTitle,
      eventStartsAt: r.eventStartsAt,
      inviterNickname: r.inviterNickname,
    }));
  }

  /**
   * Withdraws pending invitations (of one event, to one person, or to one person for one group's events) and
   * returns them, so the caller can tell each invitee.
   */
  async cancelPendingInvitations(
    tx: Executor,
    where: { eventId?: string; inviteeId?: string; groupId?: string },
  ): Promise<InvitationRow[]> {
    return tx
      .update(eventInvitations)
      .set({ status: 'cancelled', respondedAt: sql`now()` })
      .where(
        and(
          eq(eventInvitations.status, 'pending'),
          where.eventId ? eq(eventInvitations.eventId, where.eventId) : undefined,
          where.inviteeId ? eq(eventInvitations.inviteeId, where.inviteeId) : undefined,
          where.groupId
            ? inArray(
                eventInvitations.eventId,
                tx.select({ id: events.id }).from(events).where(eq(events.groupId, where.groupId)),
              )
            : undefined,
        ),
      )
      .returning();
  }

  /** Moves every participant of the event with status `from` to `to`; returns whom it moved. */
  async moveAll(
    tx: Executor,
    eventId: string,
    from: ParticipantStatus,
    to: ParticipantStatus,
  ): Promise<ParticipantRow[]> {
    return tx
      .update(eventParticipants)
      .set({ status: to, updatedAt: sql`now()` })
      .where(and(eq(eventParticipants.eventId, eventId), eq(eventParticipants.status, from)))
      .returning();
  }

  // ratings

  async insertRating(tx: Executor, values: typeof eventRatings.$inferInsert): Promise<RatingRow> {
    const [row] = await tx.insert(eventRatings).values(values).returning();
    return row!;
  }

  async ratingsBy(db: Executor, eventId: string, raterId: string): Promise<RatingRow[]> {
    return db
      .select()
      .from(eventRatings)
      .where(and(eq(eventRatings.eventId, eventId), eq(eventRatings.raterId, raterId)));
  }

  /** Everything the manner score is computed from, in one round trip. */
  async reputationFacts(
    db: Executor,
    userId: string,
    now: Date,
  ): Promise<{
    good: number;
    bad: number;
    attended: number;
    noShows: number;
    hosted: number;
    reasons: { rateeRole: 'host' | 'attendee'; verdict: 'good' | 'bad'; reason: string; n: number }[];
  }> {
    const [totals] = await queryRows<{
      good: number;
      bad: number;
      attended: number;
      no_shows: number;
      hosted: number;
    }>(
      db,
      sql`select
        (select count(*)::int from ${eventRatings} where ratee_id = ${userId} and verdict = 'good') as good,
        (select count(*)::int from ${eventRatings} where ratee_id = ${userId} and verdict = 'bad') as bad,
        (select count(*)::int from ${eventParticipants} p join ${events} e on e.id = p.event_id
           where p.user_id = ${userId} and p.role = 'participant' and p.status = 'going'
             and p.attendance = 'present'
             and e.status = 'scheduled') as attended,
        (select count(*)::int from ${eventParticipants} p join ${events} e on e.id = p.event_id
           where p.user_id = ${userId} and p.role = 'participant' and p.status = 'going'
             and p.attendance = 'absent'
             and e.status = 'scheduled') as no_shows,
        (select count(*)::int from ${events} e where e.host_id = ${userId} and e.status = 'scheduled'
           and e.ends_at <= ${now}) as hosted`,
    );
    const reasons = await queryRows<{
      rateeRole: 'host' | 'attendee';
      verdict: 'good' | 'bad';
      reason: string;
      n: number;
    }>(
      db,
      sql`select ratee_role as "rateeRole", verdict, reason, count(*)::int as n from ${eventRatings}
          where ratee_id = ${userId} group by ratee_role, verdict, reason
          order by ratee_role, verdict desc, reason`,
    );
    return {
      good: totals?.good ?? 0,
      bad: totals?.bad ?? 0,
      attended: totals?.attended ?? 0,
      noShows: totals?.no_shows ?? 0,
      hosted: totals?.hosted ?? 0,
      reasons,
    };
  }

  /** The latest events a person hosted that have ended, with how many attended. */
  async hostingHistory(
    db: Executor,
    userId: string,
    limit: number,
    now: Date,
  ): Promise<{ id: string; title: string; startsAt: Date; kind: string; attendees: number }[]> {
    const rows = await queryRows<{
      id: string;
      title: string;
      startsAt: string;
      kind: string;
      attendees: number;
    }>(
      db,
      sql`select e.id, e.title, e.starts_at as "startsAt", e.kind,
            (select count(*)::int from ${eventParticipants} p
              where p.event_id = e.id and p.role = 'participant' and p.status = 'going'
                and p.attendance = 'present') as attendees
          from ${events} e
          where e.host_id = ${userId} and e.status = 'scheduled' and e.visibility = 'public'
            and e.ends_at <= ${now}
          order by e.starts_at desc limit ${limit}`,
    );
    // Raw queries return timestamps as text (drizzle maps them only for its own query builder).
    return rows.map((r) => ({ ...r, startsAt: new Date(r.startsAt) }));
  }
}
