import type { Executor } from '../../infra/db/database.js';
import type { Actor } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import type { GroupDirectory } from '../events/event-access.js';
import type { EventsService } from '../events/events.service.js';
import { groupCalendarAccess } from './calendar.policy.js';
import type {
  CalendarEventRow,
  CalendarRepository,
  CalendarScope,
  LocalRange,
  MonthEntryRow,
} from './calendar.repository.js';

/** A month view lists at most this many entries per day; `count` is always exact. */
export const MONTH_ITEMS_PER_DAY = 20;
/** A day never holds more than this many events in its detail (a busy public group included). */
const DAY_LIMIT = 500;

export interface MonthView {
  month: string;
  timeZone: string;
  from: Date;
  to: Date;
  total: number;
  days: { date: string; count: number; items: MonthEntryRow[] }[];
}

export interface DayView {
  date: string;
  timeZone: string;
  from: Date;
  to: Date;
  items: (CalendarEventRow & { hostDisplayName: string | null })[];
}

/** Whose calendar a request asks for: the caller's own, or a group's. */
export type CalendarTarget = { kind: 'me' } | { kind: 'group'; groupId: string };

const MONTH = /^(\d{4})-(\d{2})$/;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const pad = (n: number, size = 2) => String(n).padStart(size, '0');
const wallClock = (y: number, m: number, d: number) => `${pad(y, 4)}-${pad(m)}-${pad(d)} 00:00:00`;

function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', 'The request is not valid.', { details: [{ path, message }] });
}

/** `2026-05` → the local wall-clock interval of that month. The route's pattern has checked the shape. */
export function monthRange(month: string, timeZone: string): LocalRange {
  const m = MONTH.exec(month);
  const year = Number(m?.[1]);
  const mon = Number(m?.[2]);
  if (!m || mon < 1 || mon > 12 || year < 1900 || year > 2999) {
    throw invalid('/params/month', 'must be a month as YYYY-MM between 1900-01 and 2999-12');
  }
  const next = mon === 12 ? [year + 1, 1] : [year, mon + 1];
  return { from: wallClock(year, mon, 1), to: wallClock(next[0]!, next[1]!, 1), timeZone };
}

/** `2026-05-03` → the local wall-clock interval of that day; impossible dates (02-30) are refused. */
export function dayRange(date: string, timeZone: string): LocalRange {
  const m = DAY.exec(date);
  const [year, mon, day] = [Number(m?.[1]), Number(m?.[2]), Number(m?.[3])];
  const utc = new Date(Date.UTC(year, mon - 1, day));
  if (
    !m ||
    year < 1900 ||
    year > 2999 ||
    utc.getUTCFullYear() !== year ||
    utc.getUTCMonth() !== mon - 1 ||
    utc.getUTCDate() !== day
  ) {
    throw invalid('/params/date', 'must be a calendar date as YYYY-MM-DD between 1900 and 2999');
  }
  const next = new Date(utc.getTime() + 86_400_000);
  return {
    from: wallClock(year, mon, day),
    to: wallClock(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate()),
    timeZone,
  };
}

/**
 * Month views and day details of a person's calendar (what they host, go to, are waitlisted or applied for)
 * and of a group's, with days and month boundaries in the configured schedule time zone; and each person's own
 * colour for an event.
 */
export class CalendarService {
  constructor(
    private readonly deps: {
      repo: CalendarRepository;
      db: Executor;
      groups: GroupDirectory;
      events: Pick<EventsService, 'get'>;
      timeZone: string;
    },
  ) {}

  async month(viewer: Actor | null, target: CalendarTarget, month: string): Promise<MonthView> {
    const { repo, db, timeZone } = this.deps;
    const range = monthRange(month, timeZone);
    const scope = await this.scope(viewer, target);
    const [bounds, entries] = await Promise.all([
      repo.instants(db, range),
      repo.monthEntries(db, scope, range),
    ]);
    const days = new Map<string, MonthView['days'][number]>();
    for (const entry of entries) {
      let day = days.get(entry.day);
      if (!day) days.set(entry.day, (day = { date: entry.day, count: 0, items: [] }));
      day.count += 1;
      if (day.items.length < MONTH_ITEMS_PER_DAY) day.items.push(entry);
    }
    return {
      month,
      timeZone,
      ...bounds,
      total: new Set(entries.map((e) => e.id)).size,
      days: [...days.values()],
    };
  }

  async day(viewer: Actor | null, target: CalendarTarget, date: string): Promise<DayView> {
    const { repo, db, timeZone } = this.deps;
    const range = dayRange(date, timeZone);
    const scope = await this.scope(viewer, target);
    const bounds = await repo.instants(db, range);
    const rows = await repo.events(db, scope, bounds, DAY_LIMIT);
    // In a group, the host is shown by the name they go by there ("Mom"), as the family app did.
    const names = new Map<string, string | null>();
    if (scope.kind === 'group') {
      for (const hostId of new Set(rows.map((r) => r.hostId))) {
        const membership = await this.deps.groups.membership(db, scope.groupId, hostId);
        names.set(hostId, membership?.displayName ?? null);
      }
    }
    return {
      date,
      timeZone,
      ...bounds,
      items: rows.map((r) => ({ ...r, hostDisplayName: names.get(r.hostId) ?? null })),
    };
  }

  /**
   * Sets (or, with null, clears) the caller's own colour for an event they can see; nobody else sees it. The
   * host's colour is the event's own, changed by editing the event.
   */
  async setColor(
    actor: Actor,
    eventId: string,
    color: string | null,
  ): Promise<{ eventId: string; hostColor: string | null; myColor: string | null }> {
    const { event } = await this.deps.events.get(actor, eventId);
    const myColor = color?.toLowerCase() ?? null;
    if (myColor === null) await this.deps.repo.clearColor(this.deps.db, actor.userId, event.id);
    else await this.deps.repo.setColor(this.deps.db, actor.userId, event.id, myColor);
    return { eventId: event.id, hostColor: event.color, myColor };
  }

  /** Resolves the target to a scope, refusing with 404 a group the viewer may not see. */
  async scope(viewer: Actor | null, target: CalendarTarget): Promise<CalendarScope> {
    if (target.kind === 'me') {
      if (!viewer) throw new AppError('UNAUTHENTICATED');
      return { kind: 'user', userId: viewer.userId };
    }
    const { groups, db } = this.deps;
    const group = await groups.findGroup(db, target.groupId);
    const membership = group && viewer ? await groups.membership(db, group.id, viewer.userId) : null;
    const access = groupCalendarAccess(group, membership);
    if (!access) throw new AppError('NOT_FOUND', 'No such group.');
    return {
      kind: 'group',
      groupId: target.groupId,
      viewerId: viewer?.userId ?? null,
      member: access.member,
    };
  }
}
