import type { Config } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import type { Executor } from '../../infra/db/database.js';
import type { UnitOfWork } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/context.js';
import { uniqueViolation } from '../accounts/accounts.repository.js';
import { AppError } from '../../shared/errors.js';
import { distanceMeters } from '../../shared/geo.js';
import { EventAccess, type GroupDirectory } from './event-access.js';
import { isHost } from './events.policy.js';
import type { EventRow, EventsRepository, ParticipantWithUser, RatingRow } from './events.repository.js';

/** The reasons a rating may give, by the ratee's role; the first five praise, the last five complain. */
export const RATING_REASONS = {
  host: {
    good: ['good_course', 'good_leading', 'quick_replies', 'helpful_info', 'punctual'],
    bad: ['bad_course', 'poor_leading', 'slow_replies', 'misleading_info', 'late'],
  },
  attendee: {
    good: ['punctual', 'friendly', 'kept_pace', 'well_prepared', 'team_player'],
    bad: ['late', 'unfriendly', 'held_back_group', 'unprepared', 'disruptive'],
  },
} as const;

export const ALL_REASONS = [
  ...new Set(Object.values(RATING_REASONS).flatMap((r) => [...r.good, ...r.bad])),
] as string[];

/** Attendance opens this long before the start. */
const OPENS_BEFORE_MS = 30 * 60_000;
const HOSTING_HISTORY = 10;

export interface Reputation {
  mannerScore: number;
  ratingsReceived: { good: number; bad: number };
  attended: number;
  noShows: number;
  hosted: number;
  reasons: { role: 'host' | 'attendee'; reason: string; verdict: 'good' | 'bad'; count: number }[];
  hostingHistory: { id: string; title: string; startsAt: Date; kind: string; attendees: number }[];
}

/**
 * Attendance and ratings. The host marks who came (by user id) from 30 minutes before the start until the grace
 * period after the end; participants near the meeting point check themselves in. After the event, attendees
 * rate the host and the host rates attendees, once each. The manner score and no-show count are computed from
 * these rows alone: nothing a client sends is a score.
 */
export class AttendanceService {
  private readonly access: EventAccess;

  constructor(
    private readonly deps: {
      repo: EventsRepository;
      db: Executor;
      clock: Clock;
      unitOfWork: UnitOfWork;
      groups: GroupDirectory;
      config: Config['events'];
    },
  ) {
    this.access = new EventAccess(deps);
  }

  async sheet(
    actor: Actor,
    eventId: string,
  ): Promise<{ event: EventRow; participants: ParticipantWithUser[]; opensAt: Date; closesAt: Date }> {
    const { event } = await this.access.loadAsHost(this.deps.db, eventId, actor.userId);
    const participants = (await this.deps.repo.listParticipants(this.deps.db, event.id, ['going'])).filter(
      (p) => p.role === 'participant',
    );
    return { event, participants, ...this.window(event) };
  }

  /** The host marks people present or absent, by user id; marks can be corrected while the window is open. */
  async mark(actor: Actor, eventId: string, marks: { userId: string; present: boolean }[]): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { event } = await this.access.loadAsHost(ctx.tx, eventId, actor.userId);
      this.assertWindowOpen(event);
      const going = new Map(
        (await this.deps.repo.listParticipants(ctx.tx, event.id, ['going']))
          .filter((p) => p.role === 'participant')
          .map((p) => [p.userId, p]),
      );
      const unknown = marks.filter((m) => !going.has(m.userId)).map((m) => m.userId);
      if (unknown.length > 0) {
        throw new AppError('NOT_PARTICIPATING', 'Some of these people are not going to the event.', {
          details: { userIds: unknown },
        });
      }
      const now = this.deps.clock.now();
      for (const m of marks) {
        const attendance = m.present ? 'present' : 'absent';
        if (going.get(m.userId)!.attendance === attendance) continue;
        await this.deps.repo.setParticipant(ctx.tx, event.id, m.userId, {
          attendance,
          attendanceBy: 'host',
          attendanceAt: now,
        });
        await ctx.publish(
          'event.attendance_marked',
          { eventId: event.id, userId: m.userId, present: m.present, by: 'host' },
          actor.userId,
        );
      }
    });
  }

  /** A participant at the meeting point checks in; a mark the host already made stands. */
  async checkIn(
    actor: Actor,
    eventId: string,
    at: { lat: number; lng: number },
  ): Promise<{ distanceM: number; attendance: 'present' | 'absent' }> {
    return this.deps.unitOfWork(async (ctx) => {
      const { event, viewer } = await this.access.load(ctx.tx, eventId, actor.userId, { lock: true });
      if (isHost(event, viewer) || viewer.participant?.status !== 'going') {
        throw new AppError('NOT_PARTICIPATING', 'Only participants going to the event check in.');
      }
      this.assertWindowOpen(event);
      if (event.lat === null || event.lng === null) {
        throw new AppError('NOT_AT_MEETING_POINT', 'This event has no meeting point to check in at.');
      }
      const distanceM = Math.round(distanceMeters(at, { lat: event.lat, lng: event.lng }));
      const radius = this.deps.config.checkInRadiusMeters;
      if (distanceM > radius) {
        throw new AppError('NOT_AT_MEETING_POINT', `Check in within ${radius} m of the meeting point.`, {
          details: { distanceM, radiusM: radius },
        });
      }
      const current = viewer.participant;
      if (current.attendanceBy === 'host') return { distanceM, attendance: current.attendance ?? 'present' };
      if (current.attendance !== 'present') {
        await this.deps.repo.setParticipant(ctx.tx, event.id, actor.userId, {
          attendance: 'present',
          attendanceBy: 'self',
          attendanceAt: this.deps.clock.now(),
        });
        await ctx.publish(
          'event.attendance_marked',
          { eventId: event.id, userId: actor.userId, present: true, by: 'self' },
          actor.userId,
        );
      }
      return { distanceM, attendance: 'present' };
    });
  }

  /**
   * After the event and within the rating window: an attendee rates the host, the host rates an attendee.
   * The reason must be one of the ten for the ratee's role, and agree with the verdict.
   */
  async rate(
    actor: Actor,
    eventId: string,
    input: { userId: string; verdict: 'good' | 'bad'; reason: string },
  ): Promise<RatingRow> {
    try {
      return await this.deps.unitOfWork(async (ctx) => {
        const { event, viewer } = await this.access.load(ctx.tx, eventId, actor.userId);
        this.assertRatingOpen(event);
        let rateeRole: 'host' | 'attendee';
        if (isHost(event, viewer)) {
          const ratee = await this.deps.repo.findParticipant(ctx.tx, event.id, input.userId);
          if (ratee?.role !== 'participant' || ratee.status !== 'going' || ratee.attendance !== 'present') {
            throw new AppError('NOT_ATTENDED', 'The host rates only people who attended.');
          }
          rateeRole = 'attendee';
        } else {
          if (viewer.participant?.status !== 'going' || viewer.participant.attendance !== 'present') {
            throw new AppError('NOT_ATTENDED', 'Only people who attended rate the host.');
          }
          if (input.userId !== event.hostId) {
            throw new AppError('FORBIDDEN', 'Attendees rate the host only.');
          }
          rateeRole = 'host';
        }
        const allowed: readonly string[] = RATING_REASONS[rateeRole][input.verdict];
        if (!allowed.includes(input.reason)) {
          throw new AppError('VALIDATION_FAILED', 'The reason does not fit this rating.', {
            details: [{ path: '/body/reason', message: `must be one of ${allowed.join(', ')}` }],
          });
        }
        const rating = await this.deps.repo.insertRating(ctx.tx, {
          eventId: event.id,
          raterId: actor.userId,
          rateeId: input.userId,
          rateeRole,
          verdict: input.verdict,
          reason: input.reason,
        });
        await ctx.publish(
          'event.rated',
          { eventId: event.id, raterId: actor.userId, rateeId: input.userId, verdict: input.verdict },
          actor.userId,
        );
        return rating;
      });
    } catch (err) {
      if (uniqueViolation(err) !== undefined) {
        throw new AppError('ALREADY_RATED', 'You have already rated this person for this event.');
      }
      throw err;
    }
  }

  /** Whom the caller may still rate for this event, and the ratings they gave. */
  async myRatings(
    actor: Actor,
    eventId: string,
  ): Promise<{ canRate: string[]; given: RatingRow[]; opensAt: Date; closesAt: Date }> {
    const { event, viewer } = await this.access.load(this.deps.db, eventId, actor.userId);
    const given = await this.deps.repo.ratingsBy(this.deps.db, event.id, actor.userId);
    const rated = new Set(given.map((r) => r.rateeId));
    let candidates: string[] = [];
    if (isHost(event, viewer)) {
      const going = await this.deps.repo.listParticipants(this.deps.db, event.id, ['going']);
      candidates = going
        .filter((p) => p.role === 'participant' && p.attendance === 'present')
        .map((p) => p.userId);
    } else if (viewer.participant?.status === 'going' && viewer.participant.attendance === 'present') {
      candidates = [event.hostId];
    }
    const { opensAt, closesAt } = this.ratingWindow(event);
    const now = this.deps.clock.now();
    const open = event.status === 'scheduled' && now >= opensAt && now < closesAt;
    return { canRate: open ? candidates.filter((id) => !rated.has(id)) : [], given, opensAt, closesAt };
  }

  /**
   * The public reputation: 50, plus one per good rating and per attendance, minus one per bad rating and two
   * per no-show, kept between 0 and 100. A no-show is a participant the host marked absent.
   */
  async reputation(userId: string): Promise<Reputation> {
    if (!(await this.deps.repo.isActiveUser(this.deps.db, userId))) {
      throw new AppError('NOT_FOUND', 'No such user.');
    }
    const now = this.deps.clock.now();
    const facts = await this.deps.repo.reputationFacts(this.deps.db, userId, now);
    const raw = 50 + facts.good - facts.bad + facts.attended - 2 * facts.noShows;
    return {
      mannerScore: Math.max(0, Math.min(100, raw)),
      ratingsReceived: { good: facts.good, bad: facts.bad },
      attended: facts.attended,
      noShows: facts.noShows,
      hosted: facts.hosted,
      reasons: facts.reasons.map((r) => ({
        role: r.rateeRole,
        reason: r.reason,
        verdict: r.verdict,
        count: r.n,
      })),
      hostingHistory: await this.deps.repo.hostingHistory(this.deps.db, userId, HOSTING_HISTORY, now),
    };
  }

  private window(event: EventRow): { opensAt: Date; closesAt: Date } {
    return {
      opensAt: new Date(event.startsAt.getTime() - OPENS_BEFORE_MS),
      closesAt: new Date(event.endsAt.getTime() + this.deps.config.attendanceGraceMinutes * 60_000),
    };
  }

  private ratingWindow(event: EventRow): { opensAt: Date; closesAt: Date } {
    return {
      opensAt: event.endsAt,
      closesAt: new Date(event.endsAt.getTime() + this.deps.config.ratingWindowDays * 86_400_000),
    };
  }

  private assertWindowOpen(event: EventRow): void {
    if (event.status === 'cancelled') throw new AppError('EVENT_CANCELLED', 'The event is cancelled.');
    const { opensAt, closesAt } = this.window(event);
    const now = this.deps.clock.now();
    if (now < opensAt || now > closesAt) {
      throw new AppError('ATTENDANCE_CLOSED', 'Attendance is open from 30 minutes before the start.', {
        details: { opensAt: opensAt.toISOString(), closesAt: closesAt.toISOString() },
      });
    }
  }

  private assertRatingOpen(event: EventRow): void {
    if (event.status === 'cancelled') throw new AppError('EVENT_CANCELLED', 'The event is cancelled.');
    const { opensAt, closesAt } = this.ratingWindow(event);
    const now = this.deps.clock.now();
    if (now < opensAt || now >= closesAt) {
      throw new AppError('RATING_CLOSED', 'Ratings open when the event ends, for a limited time.', {
        details: { opensAt: opensAt.toISOString(), closesAt: closesAt.toISOString() },
      });
    }
  }
}
