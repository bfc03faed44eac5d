import { and, asc, eq, isNull, sql, type SQL } from 'drizzle-orm';
import { queryRows, type Executor } from '../../infra/db/database.js';
import { users } from '../accounts/accounts.schema.js';
import { calendarColors, calendarFeeds } from './calendar.schema.js';

export type FeedRow = typeof calendarFeeds.$inferSelect;

/** The caller's part in an event: host, or their participation status. */
export type CalendarRole = 'host' | 'going' | 'waitlisted' | 'pending';

/**
 * Whose calendar: a person's own (every event they host, go to, are waitlisted or applied for), or a group's as
 * one viewer sees it (all its events for members, its public events for everyone else).
 */
export type CalendarScope =
  | { kind: 'user'; userId: string }
  | { kind: 'group'; groupId: string; viewerId: string | null; member: boolean };

/** A local-time interval [from, to) in the schedule time zone, as `YYYY-MM-DD HH:MI:SS` wall-clock times. */
export interface LocalRange {
  from: string;
  to: string;
  timeZone: string;
}

export interface CalendarEventRow {
  id: string;
  groupId: string | null;
  hostId: string;
  hostNickname: string;
  hostAvatarUrl: string | null;
  kind: string;
  title: string;
  description: string | null;
  startsAt: Date;
  endsAt: Date;
  placeName: string | null;
  lat: number | null;
  lng: number | null;
  region: string | null;
  status: 'scheduled' | 'cancelled';
  visibility: 'public' | 'private';
  locked: boolean;
  hostColor: string | null;
  myColor: string | null;
  capacity: number | null;
  goingCount: number;
  waitlistCount: number;
  sequence: number;
  createdAt: Date;
  updatedAt: Date;
  /** The last change of the event, of the viewer's part in it or of their colour for it. */
  revisedAt: Date;
  role: CalendarRole | null;
}

/** A compact entry of the month view, once per local day the event touches. */
export interface MonthEntryRow {
  day: string;
  id: string;
  title: string;
  startsAt: Date;
  endsAt: Date;
  status: 'scheduled' | 'cancelled';
  color: string | null;
  role: CalendarRole | null;
}

const ACTIVE = sql`('going', 'waitlisted', 'pending')`;

/** The events of a scope with the viewer's part and colour: `from … where …`, ready for a range condition. */
function scoped(scope: CalendarScope): SQL {
  if (scope.kind === 'user') {
    return sql`from events e
      join users h on h.id = e.host_id
      join event_participants p on p.event_id = e.id and p.user_id = ${scope.userId} and p.status in ${ACTIVE}
      left join calendar_colors c on c.event_id = e.id and c.user_id = ${scope.userId}
      where true`;
  }
  // An anonymous viewer matches no participant or colour row: `user_id = null` is never true.
  const viewer = scope.viewerId;
  return sql`from events e
    join users h on h.id = e.host_id
    left join event_participants p on p.event_id = e.id and p.user_id = ${viewer}::uuid and p.status in ${ACTIVE}
    left join calendar_colors c on c.event_id = e.id and c.user_id = ${viewer}::uuid
    where e.group_id = ${scope.groupId} ${scope.member ? sql`` : sql`and e.visibility = 'public'`}`;
}

const ROLE = sql`case when p.role = 'host' then 'host' else p.status end`;

/** Instants of the range's ends, computed by PostgreSQL from the time-zone database (daylight saving included). */
const fromInstant = (r: LocalRange) => sql`(${r.from}::timestamp at time zone ${r.timeZone})`;
const toInstant = (r: LocalRange) => sql`(${r.to}::timestamp at time zone ${r.timeZone})`;

type Raw<T> = { [K in keyof T]: T[K] extends Date ? string | Date : T[K] };
const toDate = (v: string | Date): Date => (v instanceof Date ? v : new Date(v));

/** The SQL of calendar views, per-person colours and feeds. */
export class CalendarRepository {
  /** The UTC instants where a local range starts and ends. */
  async instants(db: Executor, range: LocalRange): Promise<{ from: Date; to: Date }> {
    const [row] = await queryRows<{ from: string | Date; to: string | Date }>(
      db,
      sql`select ${fromInstant(range)} as "from", ${toInstant(range)} as "to"`,
    );
    return { from: toDate(row!.from), to: toDate(row!.to) };
  }

  /**
   * One compact row per (event, local day it touches) within the range, days computed in the schedule time
   * zone: an event from 22:00 to 02:00 shows on both days, one ending at midnight only on the first.
   */
  async monthEntries(db: Executor, scope: CalendarScope, range: LocalRange): Promise<MonthEntryRow[]> {
    const tz = range.timeZone;
    const rows = await queryRows<Raw<MonthEntryRow>>(
      db,
      sql`with ev as (
            select e.id, e.title, e.starts_at, e.ends_at, e.status, coalesce(c.color, e.color) as color,
                   ${ROLE} as role
            ${scoped(scope)}
              and e.starts_at < ${toInstant(range)} and e.ends_at > ${fromInstant(range)}
          )
          select to_char(d, 'YYYY-MM-DD') as day, ev.id, ev.title, ev.starts_at as "startsAt",
                 ev.ends_at as "endsAt", ev.status, ev.color, ev.role
          from ev cross join lateral generate_series(
            greatest(date_trunc('day', ev.starts_at at time zone ${tz}), ${range.from}::timestamp),
            least(date_trunc('day', (ev.ends_at - interval '1 microsecond') at time zone ${tz}),
                  ${range.to}::timestamp - interval '1 day'),
            interval '1 day') d
          order by day, ev.starts_at, ev.ends_at, ev.id`,
    );
    return rows.map((r) => ({ ...r, startsAt: toDate(r.startsAt), endsAt: toDate(r.endsAt) }));
  }

  /** Every event of the scope overlapping the range (or starting from `from` when `to` is null), in order. */
  async events(
    db: Executor,
    scope: CalendarScope,
    window: { from: Date; to: Date | null },
    limit: number,
  ): Promise<CalendarEventRow[]> {
    const rows = await queryRows<Raw<CalendarEventRow>>(
      db,
      sql`select e.id, e.group_id as "groupId", e.host_id as "hostId", h.nickname as "hostNickname",
                 h.avatar_url as "hostAvatarUrl", e.kind, e.title, e.description, e.starts_at as "startsAt",
                 e.ends_at as "endsAt", e.place_name as "placeName", e.lat, e.lng, e.region, e.status,
                 e.visibility, e.locked_at is not null as locked, e.color as "hostColor", c.color as "myColor",
                 e.capacity, e.going_count as "goingCount", e.waitlist_count as "waitlistCount", e.sequence,
                 e.created_at as "createdAt", e.updated_at as "updatedAt",
                 greatest(e.updated_at, p.updated_at, c.updated_at) as "revisedAt", ${ROLE} as role
          ${scoped(scope)}
            and e.ends_at > ${window.from}
            ${window.to === null ? sql`` : sql`and e.starts_at < ${window.to}`}
          order by e.starts_at, e.ends_at, e.id
          limit ${limit}`,
    );
    return rows.map((r) => ({
      ...r,
      startsAt: toDate(r.startsAt),
      endsAt: toDate(r.endsAt),
      createdAt: toDate(r.createdAt),
      updatedAt: toDate(r.updatedAt),
      revisedAt: toDate(r.revisedAt),
    }));
  }

  // per-person colours

  async setColor(db: Executor, userId: string, eventId: string, color: string): Promise<void> {
    await db
      .insert(calendarColors)
      .values({ userId, eventId, color })
      .onConflictDoUpdate({
        target: [calendarColors.userId, calendarColors.eventId],
        set: { color, updatedAt: sql`now()` },
      });
  }

  async clearColor(db: Executor, userId: string, eventId: string): Promise<void> {
    await db
      .delete(calendarColors)
      .where(and(eq(calendarColors.userId, userId), eq(calendarColors.eventId, eventId)));
  }

  async clearColorsOf(db: Executor, userId: string): Promise<void> {
    await db.delete(calendarColors).where(eq(calendarColors.userId, userId));
  }

  // feeds

  async insertFeed(
    db: Executor,
    values: { ownerId: string; groupId: string | null; tokenHash: string },
  ): Promise<FeedRow | undefined> {
    const [row] = await db.insert(calendarFeeds).values(values).onConflictDoNothing().returning();
    return row;
  }

  async findOwnFeed(db: Executor, ownerId: string, groupId: string | null): Promise<FeedRow | undefined> {
    const [row] = await db
      .select()
      .from(calendarFeeds)
      .where(
        and(
          eq(calendarFeeds.ownerId, ownerId),
          groupId === null ? isNull(calendarFeeds.groupId) : eq(calendarFeeds.groupId, groupId),
        ),
      );
    return row;
  }

  async listFeeds(db: Executor, ownerId: string): Promise<FeedRow[]> {
    return db
      .select()
      .from(calendarFeeds)
      .where(eq(calendarFeeds.ownerId, ownerId))
      .orderBy(asc(calendarFeeds.createdAt), asc(calendarFeeds.id));
  }

  /** Replaces the secret's hash: from this statement on, the old URL finds nothing. */
  async rotateFeed(db: Executor, id: string, tokenHash: string): Promise<FeedRow | undefined> {
    const [row] = await db
      .update(calendarFeeds)
      .set({ tokenHash, rotatedAt: sql`now()`, lastUsedAt: null })
      .where(eq(calendarFeeds.id, id))
      .returning();
    return row;
  }

  async findFeed(db: Executor, id: string): Promise<FeedRow | undefined> {
    const [row] = await db.select().from(calendarFeeds).where(eq(calendarFeeds.id, id));
    return row;
  }

  async deleteFeed(db: Executor, id: string): Promise<void> {
    await db.delete(calendarFeeds).where(eq(calendarFeeds.id, id));
  }

  async deleteFeedsOf(db: Executor, where: { ownerId?: string; groupId?: string }): Promise<void> {
    await db
      .delete(calendarFeeds)
      .where(
        and(
          where.ownerId ? eq(calendarFeeds.ownerId, where.ownerId) : undefined,
          where.groupId ? eq(calendarFeeds.groupId, where.groupId) : undefined,
        ),
      );
  }

  /** The feed a secret opens, with its owner's nickname; nothing when the owner's account is deleted. */
  async feedByTokenHash(
    db: Executor,
    tokenHash: string,
  ): Promise<(FeedRow & { ownerNickname: string }) | undefined> {
    const [row] = await db
      .select({ feed: calendarFeeds, ownerNickname: users.nickname })
      .from(calendarFeeds)
      .innerJoin(users, eq(users.id, calendarFeeds.ownerId))
      .where(and(eq(calendarFeeds.tokenHash, tokenHash), isNull(users.deletedAt)));
    return row ? { ...row.feed, ownerNickname: row.ownerNickname } : undefined;
  }

  /** Records a fetch, at most once an hour per feed (a poll every few minutes need not write every time). */
  async touchFeed(db: Executor, id: string): Promise<void> {
    await db
      .update(calendarFeeds)
      .set({ lastUsedAt: sql`now()` })
      .where(
        and(
          eq(calendarFeeds.id, id),
          sql`(${calendarFeeds.lastUsedAt} is null or ${calendarFeeds.lastUsedAt} < now() - interval '1 hour')`,
        ),
      );
  }
}
