import type { Config } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import type { Executor } from '../../infra/db/database.js';
import type { TxContext, UnitOfWork } from '../../infra/outbox/outbox.js';
import type { RateLimiter } from '../../infra/rate-limit/rate-limiter.js';
import { rateLimitError } from '../../infra/rate-limit/rate-limiter.js';
import type { Actor } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { lineLengthMeters, regionOf, type LineString } from '../../shared/geo.js';
import type { Region } from '../../shared/regions.js';
import { EventAccess, notFound, type GroupDirectory, type LoadedEvent } from './event-access.js';
import type { EventViewer } from './events.policy.js';
import type { EventRow, EventsRepository, NewEvent, PersonCard } from './events.repository.js';
import type { EVENT_KINDS, EVENT_THEMES } from './events.schema.js';
import type { ParticipationService } from './participation.service.js';

export interface EventInput {
  groupId?: string | null;
  kind?: (typeof EVENT_KINDS)[number];
  title: string;
  description?: string | null;
  startsAt: string;
  endsAt: string;
  applyDeadline?: string | null;
  placeName?: string | null;
  lat?: number | null;
  lng?: number | null;
  region?: Region | null;
  course?: LineString | null;
  distanceM?: number | null;
  paceSecPerKm?: number | null;
  theme?: (typeof EVENT_THEMES)[number] | null;
  tags?: string[];
  bring?: string | null;
  parking?: string | null;
  link?: string | null;
  color?: string | null;
  capacity?: number | null;
  waitlistEnabled?: boolean;
  requiresApproval?: boolean;
  visibility?: 'public' | 'private';
}

export type EventPatch = Partial<Omit<EventInput, 'groupId'>>;

/** Creating, editing and cancelling events, and reading one with what the caller is to it. */
export class EventsService {
  private readonly access: EventAccess;

  constructor(
    private readonly deps: {
      repo: EventsRepository;
      db: Executor;
      clock: Clock;
      limiter: RateLimiter;
      unitOfWork: UnitOfWork;
      groups: GroupDirectory;
      participation: ParticipationService;
      config: Config['events'];
    },
  ) {
    this.access = new EventAccess(deps);
  }

  /**
   * Creates an event. Only creations that happen count against the throttle: the hits are taken first (so
   * simultaneous requests cannot overshoot the limit) and given back when the creation is refused.
   */
  async create(actor: Actor, input: EventInput): Promise<LoadedEvent> {
    const { limiter, config } = this.deps;
    const rules = [
      ...(config.createIntervalSeconds > 0
        ? [{ name: 'events:create:interval', limit: 1, windowMs: config.createIntervalSeconds * 1000 }]
        : []),
      { name: 'events:create:day', limit: config.createPerDay, windowMs: 86_400_000 },
    ];
    const taken: typeof rules = [];
    const giveBack = () => Promise.all(taken.map((rule) => limiter.release(rule, actor.userId)));
    try {
      for (const rule of rules) {
        const res = await limiter.consume(rule, actor.userId);
        // The limiter counts a refused hit too; handed back at once, a 429 leaves the window as it found it.
        taken.push(rule);
        if (!res.allowed) throw rateLimitError(rule, res);
      }
      return await this.createInTx(actor, input);
    } catch (err) {
      await giveBack();
      throw err;
    }
  }

  private async createInTx(actor: Actor, input: EventInput): Promise<LoadedEvent> {
    const { repo } = this.deps;
    const fields = this.fieldsOf(input, null);
    const startsAt = fields.startsAt!;
    this.checkTimes(fields.kind ?? 'meetup', startsAt, fields.endsAt!, fields.applyDeadline ?? null);

    return this.deps.unitOfWork(async (ctx) => {
      let visibility = input.visibility ?? 'public';
      if (input.groupId) {
        const group = await this.deps.groups.findGroup(ctx.tx, input.groupId);
        const membership = group && (await this.deps.groups.membership(ctx.tx, group.id, actor.userId));
        if (!group || (!membership && group.visibility === 'private')) {
          throw new AppError('NOT_FOUND', 'No such group.');
        }
        if (!membership) throw new AppError('NOT_A_MEMBER', 'Only members create events in a group.');
        if (group.visibility === 'private') {
          if (input.visibility === 'public') {
            throw new AppError('VISIBILITY_NOT_ALLOWED', 'Events of a private group are private.');
          }
          visibility = 'private';
        }
      }
      if (await repo.findDuplicate(ctx.tx, actor.userId, input.title, startsAt)) {
        throw new AppError('DUPLICATE_EVENT', 'You already host an event with this title at this time.');
      }
      const event = await repo.insertEvent(ctx.tx, {
        ...fields,
        title: input.title.trim(),
        startsAt,
        endsAt: fields.endsAt!,
        groupId: input.groupId ?? null,
        hostId: actor.userId,
        visibility,
      });
      await repo.putParticipant(ctx.tx, {
        eventId: event.id,
        userId: actor.userId,
        role: 'host',
        status: 'going',
      });
      await ctx.publish(
        'event.created',
        { eventId: event.id, groupId: event.groupId, hostId: actor.userId },
        actor.userId,
      );
      return { event, viewer: await this.access.viewer(ctx.tx, event, actor.userId) };
    });
  }

  async get(actor: Actor | null, eventId: string): Promise<LoadedEvent> {
    return this.access.load(this.deps.db, eventId, actor?.userId ?? null);
  }

  /**
   * The host edits an event until it starts, unless the roster is locked. Seats cannot drop below the people
   * going; added seats go to the waitlist first. Everyone taking part hears what changed.
   */
  async update(actor: Actor, eventId: string, patch: EventPatch): Promise<LoadedEvent> {
    return this.deps.unitOfWork(async (ctx) => {
      const { event } = await this.access.loadAsModerator(ctx.tx, eventId, actor.userId);
      this.assertEditable(event);
      const fields = this.fieldsOf(patch, event);
      const changed = (Object.keys(fields) as (keyof NewEvent)[]).filter(
        (k) => JSON.stringify(fields[k]) !== JSON.stringify(event[k]),
      );
      if (changed.length === 0)
        return { event, viewer: await this.access.viewer(ctx.tx, event, actor.userId) };

      const startsAt = fields.startsAt ?? event.startsAt;
      const endsAt = fields.endsAt ?? event.endsAt;
      const deadline = fields.applyDeadline !== undefined ? fields.applyDeadline : event.applyDeadline;
      // Turning an event into a kind with a longer lead time counts as moving it: a meetup an hour away
      // cannot become a run, which must be announced 6 hours ahead.
      const moved = changed.includes('startsAt') || changed.includes('kind');
      if (moved || changed.some((k) => k === 'endsAt' || k === 'applyDeadline')) {
        this.checkTimes(fields.kind ?? event.kind, startsAt, endsAt, deadline, !moved);
      }
      const capacity = fields.capacity !== undefined ? fields.capacity : event.capacity;
      if (capacity !== null && capacity < event.goingCount) {
        throw new AppError('CAPACITY_BELOW_GOING', `${event.goingCount} people are going already.`, {
          details: { going: event.goingCount },
        });
      }
      if (fields.visibility === 'public' && event.groupId) {
        const group = await this.deps.groups.findGroup(ctx.tx, event.groupId);
        if (group?.visibility === 'private') {
          throw new AppError('VISIBILITY_NOT_ALLOWED', 'Events of a private group are private.');
        }
      }
      await this.deps.repo.updateEvent(ctx.tx, event.id, fields);
      await this.deps.participation.fillSeats(ctx, event.id);
      await ctx.publish('event.updated', { eventId: event.id, fields: changed }, actor.userId);
      const updated = (await this.deps.repo.findEvent(ctx.tx, event.id))!;
      return { event: updated, viewer: await this.access.viewer(ctx.tx, updated, actor.userId) };
    });
  }

  /** The host calls an event off before it starts. It stays readable (as cancelled) for those involved. */
  async cancel(actor: Actor, eventId: string): Promise<void> {
    await this.deps.unitOfWork(async (ctx) => {
      const { event } = await this.access.loadAsModerator(ctx.tx, eventId, actor.userId);
      if (event.status === 'cancelled')
        throw new AppError('EVENT_CANCELLED', 'The event is already cancelled.');
      if (event.startsAt <= this.deps.clock.now()) {
        throw new AppError('EVENT_STARTED', 'An event that has started cannot be cancelled.');
      }
      await this.cancelInTx(ctx, event.id, 'host', actor.userId);
    });
  }

  /** Cancels an event inside the caller's transaction (host's request, group deletion, host deletion). */
  async cancelInTx(
    ctx: TxContext,
    eventId: string,
    reason: 'host' | 'group_deleted' | 'host_deleted' | 'host_left_group',
    actorId: string | null,
  ): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.repo.updateEvent(ctx.tx, eventId, { status: 'cancelled', cancelledAt: now });
    await this.deps.repo.cancelPendingInvitations(ctx.tx, { eventId });
    await ctx.publish('event.cancelled', { eventId, reason }, actorId);
  }

  viewerOf(exec: Executor, event: EventRow, userId: string | null): Promise<EventViewer> {
    return this.access.viewer(exec, event, userId);
  }

  /** The event with its host's public card, ready for the presenter. */
  async withHost(loaded: LoadedEvent): Promise<LoadedEvent & { host: PersonCard; now: Date }> {
    const people = await this.deps.repo.people(this.deps.db, [loaded.event.hostId]);
    const host = people.get(loaded.event.hostId) ?? {
      id: loaded.event.hostId,
      nickname: '',
      avatarUrl: null,
    };
    return { ...loaded, host, now: this.deps.clock.now() };
  }

  private assertEditable(event: EventRow): void {
    if (event.status === 'cancelled') throw new AppError('EVENT_CANCELLED', 'The event is cancelled.');
    if (event.lockedAt) throw new AppError('EVENT_LOCKED', 'The roster is confirmed; the event is locked.');
    if (event.startsAt <= this.deps.clock.now()) {
      throw new AppError('EVENT_STARTED', 'An event that has started cannot be changed.');
    }
  }

  /**
   * Start at least the configured lead time ahead (per kind), within the horizon, end after the start, and
   * applications closing between now and the start. An edit that keeps the start only needs it in the future.
   */
  private checkTimes(
    kind: string,
    startsAt: Date,
    endsAt: Date,
    applyDeadline: Date | null,
    startUnchanged = false,
  ): void {
    const { config } = this.deps;
    const now = this.deps.clock.now().getTime();
    const leadMinutes = startUnchanged
      ? 0
      : (config.minLeadMinutes.byKind[kind] ?? config.minLeadMinutes.default);
    if (startsAt.getTime() < now + leadMinutes * 60_000 || startsAt.getTime() <= now) {
      throw new AppError(
        'EVENT_TOO_SOON',
        leadMinutes > 0
          ? `The event must start at least ${leadMinutes} minutes from now.`
          : 'The event must start in the future.',
        { details: { minLeadMinutes: leadMinutes } },
      );
    }
    const horizon = now + config.maxDaysAhead * 86_400_000;
    if (startsAt.getTime() > horizon || endsAt.getTime() > horizon) {
      throw new AppError('EVENT_TOO_FAR', `The event must end within ${config.maxDaysAhead} days.`, {
        details: { maxDaysAhead: config.maxDaysAhead },
      });
    }
    if (endsAt <= startsAt) throw invalid('/body/endsAt', 'must be after startsAt');
    if (applyDeadline && (applyDeadline > startsAt || applyDeadline.getTime() <= now)) {
      throw invalid('/body/applyDeadline', 'must be in the future and not after startsAt');
    }
  }

  /** Turns request fields into columns: parsed times, a derived region and course length, clean tags. */
  private fieldsOf(input: EventPatch, current: EventRow | null): Partial<NewEvent> {
    const out: Partial<NewEvent> = {};
    const set = <K extends keyof NewEvent>(key: K, value: NewEvent[K] | undefined) => {
      if (value !== undefined) out[key] = value;
    };
    set('kind', input.kind);
    set('title', input.title?.trim());
    set('description', input.description);
    set('startsAt', input.startsAt !== undefined ? new Date(input.startsAt) : undefined);
    set('endsAt', input.endsAt !== undefined ? new Date(input.endsAt) : undefined);
    if (input.applyDeadline !== undefined) {
      out.applyDeadline = input.applyDeadline === null ? null : new Date(input.applyDeadline);
    }
    set('placeName', input.placeName);
    set('paceSecPerKm', input.paceSecPerKm);
    set('theme', input.theme);
    set('bring', input.bring);
    set('parking', input.parking);
    set('link', input.link);
    set('color', input.color?.toLowerCase() ?? input.color);
    set('capacity', input.capacity);
    set('waitlistEnabled', input.waitlistEnabled);
    set('requiresApproval', input.requiresApproval);
    set('visibility', input.visibility);
    if (input.tags) {
      set('tags', [...new Set(input.tags.map((t) => t.trim().toLowerCase()).filter(Boolean))]);
    }

    if (input.lat !== undefined || input.lng !== undefined) {
      const lat = input.lat ?? null;
      const lng = input.lng ?? null;
      if ((lat === null) !== (lng === null)) throw invalid('/body/lat', 'give both lat and lng, or neither');
      out.lat = lat;
      out.lng = lng;
      if (input.region === undefined)
        out.region = lat !== null && lng !== null ? regionOf({ lat, lng }) : null;
    }
    set('region', input.region);
    if (input.course !== undefined) {
      out.course = input.course;
      if (input.course && input.distanceM === undefined) out.distanceM = lineLengthMeters(input.course);
    }
    set('distanceM', input.distanceM);
    if (current === null) {
      if (out.startsAt === undefined || out.endsAt === undefined || out.title === undefined) {
        throw invalid('/body', 'title, startsAt and endsAt are required');
      }
    }
    return out;
  }
}

function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', 'The request is not valid.', { details: [{ path, message }] });
}

export { notFound };
