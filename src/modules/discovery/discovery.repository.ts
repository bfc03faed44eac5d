import { sql, type SQL } from 'drizzle-orm';
import { queryRows, type Executor } from '../../infra/db/database.js';
import type { Region } from '../../shared/regions.js';
import type { EVENT_KINDS, EVENT_THEMES } from '../events/events.schema.js';

export type Kind = (typeof EVENT_KINDS)[number];
export type Theme = (typeof EVENT_THEMES)[number];
export const TIME_BANDS = ['morning', 'afternoon', 'evening', 'night'] as const;
export type TimeBand = (typeof TIME_BANDS)[number];
export const LENGTH_BUCKETS = ['lt5', '5to10', '10to15', '15plus'] as const;
export type LengthBucket = (typeof LENGTH_BUCKETS)[number];
export const SORTS = ['soonest', 'newest', 'nearest', 'liked'] as const;
export type Sort = (typeof SORTS)[number];
export const MINE_VIEWS = ['hosting', 'going', 'waitlisted', 'invited', 'past'] as const;
export type MineView = (typeof MINE_VIEWS)[number];

/** Hours (local time, start inclusive, end exclusive) of each band; night wraps past midnight. */
const BAND_HOURS: Record<TimeBand, [number, number]> = {
  morning: [5, 12],
  afternoon: [12, 17],
  evening: [17, 21],
  night: [21, 5],
};
/** Course lengths in metres, the 5 km steps the group-running app filtered by. */
const LENGTH_RANGES: Record<LengthBucket, [number, number | null]> = {
  lt5: [0, 5000],
  '5to10': [5000, 10_000],
  '10to15': [10_000, 15_000],
  '15plus': [15_000, null],
};

export interface Circle {
  lat: number;
  lng: number;
  radiusM: number;
}

/** A moment, or a calendar day read in the configured time zone (`from` at its start, `to` at its end). */
export type Bound = { at: Date } | { day: string };

/** Which events a listing may contain: every filter is already checked and normalized by the service. */
export interface EventFilters {
  q?: string;
  tags?: string[];
  themes?: Theme[];
  kinds?: Kind[];
  from?: Bound;
  to?: Bound;
  bands?: TimeBand[];
  regions?: Region[];
  /** Within this circle (a bounding box is turned into its enclosing circle plus the box test). */
  near?: Circle;
  box?: { minLat: number; minLng: number; maxLat: number; maxLng: number };
  lengths?: LengthBucket[];
  openOnly?: boolean;
  groupId?: string;
  /** With `groupId`: the viewer is a member, so the group's private events are listed too. */
  includeGroupPrivate?: boolean;
}

export interface Keyset {
  sort: Sort;
  after?: { key: string | number; id: string };
}

/** One event as lists show it: no course, no description, the host's card. */
export interface EventCardRow {
  id: string;
  groupId: string | null;
  hostId: string;
  hostNickname: string;
  hostAvatarUrl: string | null;
  kind: Kind;
  title: string;
  startsAt: Date;
  endsAt: Date;
  applyDeadline: Date | null;
  placeName: string | null;
  lat: number | null;
  lng: number | null;
  region: string | null;
  distanceM: number | null;
  paceSecPerKm: number | null;
  theme: Theme | null;
  tags: string[];
  capacity: number | null;
  goingCount: number;
  visibility: 'public' | 'private';
  status: 'scheduled' | 'cancelled';
  lockedAt: Date | null;
  likeCount: number;
  bookmarkCount: number;
  createdAt: Date;
  /** Metres from the search point, when there is one. */
  away: number | null;
  liked: boolean | null;
  bookmarked: boolean | null;
  /** The participant status or role that puts the event in a "mine" view. */
  myStatus: string | null;
  /** The sort key of this row, for the next cursor. */
  sortKey: string | number;
}

/** A light map pin. */
export interface PinRow {
  id: string;
  lat: number;
  lng: number;
  title: string;
  /** ISO 8601 in UTC, as the API shows it. */
  startsAt: string;
  goingCount: number;
  capacity: number | null;
  open: boolean;
  away: number;
}

/**
 * A value computed once per query: a scalar subquery becomes an InitPlan. Written inline, `ll_to_earth($1, $2)`
 * and `gc_to_sec($3)` would be folded into constants by a custom plan but evaluated on every row by the generic
 * plan of a prepared statement (they are SQL functions with a domain check).
 */
const once = (value: SQL) => sql`(select ${value})`;
/** A point of the request on the earth cube (events keep theirs in the stored `geo` column). */
const point = (c: { lat: number; lng: number }) =>
  once(sql`ll_to_earth(${c.lat}::float8, ${c.lng}::float8)::cube`);
/** earthdistance's `earth()`: the radius its `ll_to_earth`, `gc_to_sec` and `sec_to_gc` use. */
const EARTH_RADIUS_M = 6_378_168;
/**
 * Metres along the surface for a straight-line (chord) distance through the earth, as earthdistance's
 * `sec_to_gc`: computed here for the rows that leave, not by a SQL function call per row.
 */
export const chordToMetres = (chord: number): number =>
  chord < 0
    ? 0
    : chord / (2 * EARTH_RADIUS_M) > 1
      ? Math.PI * EARTH_RADIUS_M
      : 2 * EARTH_RADIUS_M * Math.asin(chord / (2 * EARTH_RADIUS_M));
/** Open for newcomers now: as `isOpen` in events.dto.ts, in SQL. */
const openNow = (now: Date) => sql`(e.status = 'scheduled' and ${openIfScheduled(now)})`;
/** The same for an event known to be scheduled: only columns the covering place-and-time index holds. */
const openIfScheduled = (now: Date) =>
  sql`(e.locked_at is null and (e.starts_at - ${now}::timestamptz) > interval '0'
      and (e.apply_deadline is null or e.apply_deadline > ${now})
      and (e.capacity is null or e.going_count < e.capacity))`;

/** A text array as one SQL value (drizzle would otherwise spread a JS array into a row constructor). */
const textArray = (values: readonly string[]) =>
  sql`array[${sql.join(
    values.map((v) => sql`${v}`),
    sql`, `,
  )}]::text[]`;

/**
 * `%`, `_` and `\` typed by a person are literal characters, not patterns. Lower-cased, as `search_text` is,
 * so a plain LIKE (cheaper than ILIKE on every row) finds any case.
 */
const likePattern = (q: string) => `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
/** PostgreSQL's text for a timestamptz in a UTC session (fractions of a second optional). */
const PG_UTC_TIME = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\+00$/;
/**
 * A timestamptz as the API writes it (`toISOString`: milliseconds, truncated). A map answers 300 of them, and
 * going through `Date` costs about 2 µs each here; the text PostgreSQL sends in UTC is rearranged instead.
 * Anything else (another session time zone, PGlite's values) goes through `Date`.
 */
export function isoTime(value: string | Date): string {
  const m = typeof value === 'string' ? PG_UTC_TIME.exec(value) : null;
  if (!m) return new Date(value).toISOString();
  return `${m[1]}T${m[2]}.${(m[3] ?? '').padEnd(3, '0').slice(0, 3)}Z`;
}
/** What pg_trgm needs to find a LIKE pattern through its index: three word characters in a row. */
const HAS_TRIGRAM = /[\p{L}\p{N}]{3}/u;
/** A start time as the fourth coordinate of `events.geo_time` (events.schema.ts): the same expression. */
const startsCoordinate = (t: SQL) =>
  sql`extract(epoch from (${t} - '1970-01-01 00:00:00+00'::timestamptz)) * 0.1`;
/** Timestamps read back for cursors keep their microseconds, in UTC. */
const timeKey = (column: SQL) => sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** What a card shows of an event (the page's query also reads the points its order may need). */
const CARD_COLUMNS = sql.raw(
  `e.id, e.group_id, e.host_id, e.kind, e.title, e.starts_at, e.ends_at, e.apply_deadline, e.place_name,
   e.lat, e.lng, e.region, e.distance_m, e.pace_sec_per_km, e.theme, e.tags, e.capacity, e.going_count,
   e.visibility, e.status, e.locked_at, e.like_count, e.bookmark_count, e.created_at`,
);

/** The SQL of discovery: searching, the map, "mine" views and recommendations. Reads only. */
export class DiscoveryRepository {
  constructor(private readonly timeZone: string) {}

  async search(
    db: Executor,
    filters: EventFilters,
    keyset: Keyset,
    limit: number,
    ctx: { now: Date; viewerId: string | null },
  ): Promise<EventCardRow[]> {
    const { where, distance } = this.conditions(filters, ctx.now);
    const { order, key, after } = this.order(keyset, distance);
    if (after) where.push(after);
    return this.cards(db, where, order, limit, { ...ctx, distance, key, name: 'discovery_search' });
  }

  /**
   * Pins in a circle (and box), nearest first, capped. Over public events every column read here is in the
   * covering place-and-time index (`events_public_geo_time_idx`), so PostgreSQL answers from the index alone.
   */
  async pins(db: Executor, filters: EventFilters, limit: number, now: Date): Promise<PinRow[]> {
    const { where, distance } = this.conditions(filters, now);
    const rows = await queryRows<
      Omit<PinRow, 'startsAt' | 'away'> & { startsAt: string | Date; chord: number }
    >(
      db,
      sql`select e.id, e.lat, e.lng, e.title, e.starts_at as "startsAt", e.going_count as "goingCount",
            e.capacity, ${openIfScheduled(now)} as open, ${distance!} as chord
          from events e where ${sql.join(where, sql` and `)}
          order by ${distance!}, e.id limit ${limit}`,
      'discovery_pins',
    );
    return rows.map(({ chord, ...r }) => ({
      ...r,
      startsAt: isoTime(r.startsAt),
      away: chordToMetres(chord),
    }));
  }

  /** Events the person hosts, goes to, queues for, is invited to, or went to. */
  async mine(
    db: Executor,
    userId: string,
    view: MineView,
    after: { key: string; id: string } | undefined,
    limit: number,
    now: Date,
  ): Promise<EventCardRow[]> {
    const past = view === 'past';
    const dir = past ? sql`<` : sql`>`;
    const order = past ? sql`e.starts_at desc, e.id desc` : sql`e.starts_at, e.id`;
    const conditions: SQL[] = [];
    let status: SQL;
    switch (view) {
      case 'hosting':
        conditions.push(sql`e.host_id = ${userId}`, sql`e.status = 'scheduled'`, sql`e.ends_at > ${now}`);
        status = sql`'host'`;
        break;
      case 'going':
      case 'waitlisted': {
        const statuses = view === 'going' ? sql`('going')` : sql`('waitlisted', 'pending')`;
        conditions.push(
          sql`e.id in (select p.event_id from event_participants p
                where p.user_id = ${userId} and p.status in ${statuses})`,
          sql`e.status = 'scheduled'`,
          sql`e.ends_at > ${now}`,
        );
        status = sql`(select p.status from event_participants p where p.event_id = e.id and p.user_id = ${userId})`;
        break;
      }
      case 'invited':
        conditions.push(
          sql`e.id in (select i.event_id from event_invitations i
                where i.invitee_id = ${userId} and i.status = 'pending')`,
          sql`e.status = 'scheduled'`,
          sql`e.starts_at > ${now}`,
        );
        status = sql`'invited'`;
        break;
      case 'past':
        conditions.push(
          sql`e.id in (select p.event_id from event_participants p
                where p.user_id = ${userId} and p.status = 'going')`,
          sql`e.status = 'scheduled'`,
          sql`e.ends_at <= ${now}`,
        );
        status = sql`(select case when p.role = 'host' then 'host' else p.status end
                      from event_participants p where p.event_id = e.id and p.user_id = ${userId})`;
        break;
    }
    if (after)
      conditions.push(sql`(e.starts_at, e.id) ${dir} (${after.key}::timestamptz, ${after.id}::uuid)`);
    return this.cards(db, conditions, order, limit, {
      now,
      viewerId: userId,
      key: timeKey(sql`e.starts_at`),
      myStatus: status,
    });
  }

  /**
   * Open public events ranked for a person (never those of a group that banned them, which they could not
   * join): a point each for the preferred region, each shared interest among
   * the tags, an interest naming the theme, and a course length near the preferred one; soonest first among
   * equals. Candidates are the open events of the next `horizonDays`.
   */
  async recommended(
    db: Executor,
    prefs: { region: string | null; distanceKm: number | null; interests: string[] },
    near: Circle | null,
    limit: number,
    ctx: { now: Date; viewerId: string; horizonDays: number; bannedFrom: string[] },
  ): Promise<EventCardRow[]> {
    const interests = prefs.interests.map((i) => i.toLowerCase());
    const score = sql.join(
      [
        prefs.region ? sql`(case when e.region = ${prefs.region} then 3 else 0 end)` : sql`0`,
        interests.length > 0
          ? sql`(select count(*)::int * 2 from unnest(e.tags) t where t = any(${textArray(interests)}))`
          : sql`0`,
        interests.length > 0
          ? sql`(case when e.theme = any(${textArray(interests)}) then 2 else 0 end)`
          : sql`0`,
        prefs.distanceKm
          ? sql`(case when abs(coalesce(e.distance_m, -100000) - ${prefs.distanceKm * 1000}) <= 2500 then 2 else 0 end)`
          : sql`0`,
      ],
      sql` + `,
    );
    const where = [
      sql`e.visibility = 'public'`,
      openNow(ctx.now),
      sql`e.starts_at < ${new Date(ctx.now.getTime() + ctx.horizonDays * 86_400_000)}`,
      sql`e.host_id <> ${ctx.viewerId}`,
      sql`not exists (select 1 from event_participants p where p.event_id = e.id and p.user_id = ${ctx.viewerId})`,
    ];
    if (ctx.bannedFrom.length > 0) {
      where.push(sql`(e.group_id is null or e.group_id::text <> all(${textArray(ctx.bannedFrom)}))`);
    }
    const distance = near ? this.circle(near, where) : undefined;
    return this.cards(db, where, sql`${score} desc, e.starts_at, e.id`, limit, {
      now: ctx.now,
      viewerId: ctx.viewerId,
      distance,
      key: score,
    });
  }

  /**
   * The page is chosen first (the subquery: filters, order, limit), then joined to hosts and the viewer's
   * reactions: twenty lookups, not one per matching event. `order` names only event columns, so it applies
   * to the subquery's rows as well.
   */
  private async cards(
    db: Executor,
    where: SQL[],
    order: SQL,
    limit: number,
    ctx: {
      now: Date;
      viewerId: string | null;
      /** The chord to the search point, when there is one: read back to tell each card how far it is. */
      distance?: SQL | undefined;
      key: SQL;
      myStatus?: SQL;
      /** Prepared under this name on PostgreSQL (see `queryRows`). */
      name?: string;
    },
  ): Promise<EventCardRow[]> {
    const reacted = (kind: string) =>
      ctx.viewerId
        ? sql`exists (select 1 from reactions r where r.target_type = 'event' and r.target_id = e.id
                and r.kind = ${kind} and r.user_id = ${ctx.viewerId})`
        : sql`null::boolean`;
    const rows = await queryRows<Record<string, unknown>>(
      db,
      sql`select ${CARD_COLUMNS}, e.chord, e.my_status, e.sort_key,
            u.nickname as host_nickname, u.avatar_url as host_avatar_url,
            ${reacted('like')} as liked, ${reacted('bookmark')} as bookmarked
          from (select ${CARD_COLUMNS}, e.geo, e.geo_time,
                  ${ctx.distance ?? sql`null::float8`} as chord,
                  ${ctx.myStatus ?? sql`null::text`} as my_status,
                  ${ctx.key} as sort_key
                from events e where ${sql.join(where, sql` and `)} order by ${order} limit ${limit}) e
          join users u on u.id = e.host_id
          order by ${order}`,
      ctx.name,
    );
    const date = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string));
    return rows.map((r) => ({
      id: r.id as string,
      groupId: r.group_id as string | null,
      hostId: r.host_id as string,
      hostNickname: r.host_nickname as string,
      hostAvatarUrl: r.host_avatar_url as string | null,
      kind: r.kind as Kind,
      title: r.title as string,
      startsAt: date(r.starts_at)!,
      endsAt: date(r.ends_at)!,
      applyDeadline: date(r.apply_deadline),
      placeName: r.place_name as string | null,
      lat: r.lat as number | null,
      lng: r.lng as number | null,
      region: r.region as string | null,
      distanceM: r.distance_m as number | null,
      paceSecPerKm: r.pace_sec_per_km as number | null,
      theme: r.theme as Theme | null,
      tags: r.tags as string[],
      capacity: r.capacity as number | null,
      goingCount: r.going_count as number,
      visibility: r.visibility as 'public' | 'private',
      status: r.status as 'scheduled' | 'cancelled',
      lockedAt: date(r.locked_at),
      likeCount: r.like_count as number,
      bookmarkCount: r.bookmark_count as number,
      createdAt: date(r.created_at)!,
      away: r.chord === null ? null : chordToMetres(r.chord as number),
      liked: r.liked as boolean | null,
      bookmarked: r.bookmarked as boolean | null,
      myStatus: r.my_status as string | null,
      sortKey: typeof r.sort_key === 'string' && r.sort_key.includes('T') ? r.sort_key : Number(r.sort_key),
    }));
  }

  /**
   * The WHERE of a listing (visibility first: public events, or a group's events for its members) and, with a
   * point, the expression of each event's chord distance to it.
   */
  private conditions(f: EventFilters, now: Date): { where: SQL[]; distance: SQL | undefined } {
    const w: SQL[] = [sql`e.status = 'scheduled'`];
    if (f.groupId) {
      w.push(sql`e.group_id = ${f.groupId}`);
      if (!f.includeGroupPrivate) w.push(sql`e.visibility = 'public'`);
    } else {
      w.push(sql`e.visibility = 'public'`);
    }
    if (f.q) {
      // LIKE lets the trigram index serve the keyword; a keyword with no trigram (no run of three letters or
      // digits, e.g. a two-syllable Korean word) would make that a scan of the whole index, which a generic
      // plan could still pick, so it is a plain substring test (the same match) on what other filters select.
      w.push(
        HAS_TRIGRAM.test(f.q)
          ? sql`e.search_text like ${likePattern(f.q)}`
          : sql`strpos(e.search_text, ${f.q.toLowerCase()}) > 0`,
      );
    }
    if (f.tags?.length) w.push(sql`e.tags && ${textArray(f.tags)}`);
    if (f.themes?.length) w.push(sql`e.theme = any(${textArray(f.themes)})`);
    if (f.kinds?.length) w.push(sql`e.kind = any(${textArray(f.kinds)})`);
    if (f.regions?.length) w.push(sql`e.region = any(${textArray(f.regions)})`);
    // With a circle over public events, place and time are found together through `geo_time`; the exact
    // bounds are then written as differences, which no index matches, so the planner does not also walk the
    // start-time index across the whole country to intersect it with the circle.
    const placeAndTime = f.near !== undefined && (!f.groupId || !f.includeGroupPrivate);
    const fromBound = f.from ? this.bound(f.from, 'start') : undefined;
    const toBound = f.to ? this.bound(f.to, 'end') : undefined;
    if (fromBound) {
      w.push(
        placeAndTime ? sql`(e.starts_at - ${fromBound}) >= interval '0'` : sql`e.starts_at >= ${fromBound}`,
      );
    }
    if (toBound) {
      w.push(placeAndTime ? sql`(e.starts_at - ${toBound}) < interval '0'` : sql`e.starts_at < ${toBound}`);
    }
    if (f.bands?.length) {
      const hour = sql`extract(hour from e.starts_at at time zone ${this.timeZone})`;
      const parts = f.bands.map((b) => {
        const [from, to] = BAND_HOURS[b];
        return from < to
          ? sql`(${hour} >= ${from} and ${hour} < ${to})`
          : sql`(${hour} >= ${from} or ${hour} < ${to})`;
      });
      w.push(sql`(${sql.join(parts, sql` or `)})`);
    }
    if (f.lengths?.length) {
      const parts = f.lengths.map((b) => {
        const [min, max] = LENGTH_RANGES[b];
        return max === null
          ? sql`e.distance_m >= ${min}`
          : sql`(e.distance_m >= ${min} and e.distance_m < ${max})`;
      });
      w.push(sql`(${sql.join(parts, sql` or `)})`);
    }
    if (f.openOnly) w.push(openNow(now));
    let distance: SQL | undefined;
    if (f.near) {
      const starts = {
        from: fromBound ?? sql`(${now}::timestamptz - interval '3651 days')`,
        to: toBound ?? sql`(${now}::timestamptz + interval '3651 days')`,
      };
      distance = this.circle(f.near, w, placeAndTime ? starts : undefined);
    }
    if (f.box) {
      w.push(sql`e.lat between ${f.box.minLat} and ${f.box.maxLat}`);
      w.push(sql`e.lng between ${f.box.minLng} and ${f.box.maxLng}`);
    }
    return { where: w, distance };
  }

  /**
   * Within a circle: the GiST index narrows to the cube around it (and the dates, in the same index), then the
   * straight-line distance through the earth, compared with the chord of the radius, trims the corners: the
   * same test as the distance along the surface, without trigonometry per row.
   */
  private circle(c: Circle, where: SQL[], starts?: { from: SQL; to: SQL }): SQL {
    const centre = sql`ll_to_earth(${c.lat}::float8, ${c.lng}::float8)`;
    const box = sql`earth_box(${centre}, ${c.radiusM}::float8)`;
    let distance: SQL;
    if (starts) {
      // Public scheduled listings go through the 4-D place-and-time index. The distance is read from it too:
      // to the centre stretched over the date range, which for an event inside the range is exactly the
      // distance between the points (the time coordinate adds zero), so no heap column is needed.
      const [from, to] = [startsCoordinate(starts.from), startsCoordinate(starts.to)];
      where.push(sql`e.geo_time is not null and e.geo_time <@ ${once(sql`cube(${box}, ${from}, ${to})`)}`);
      distance = sql`(e.geo_time <-> ${once(sql`cube(${centre}::cube, ${from}, ${to})`)})`;
    } else {
      // Others (a group's) through `geo`.
      where.push(sql`e.geo is not null and e.geo <@ ${once(box)}`);
      distance = sql`(e.geo <-> ${point(c)})`;
    }
    where.push(sql`${distance} <= ${once(sql`gc_to_sec(${c.radiusM}::float8)`)}`);
    return distance;
  }

  private bound(b: Bound, side: 'start' | 'end'): SQL {
    if ('at' in b) return sql`${b.at}::timestamptz`;
    const day = side === 'start' ? sql`${b.day}::date` : sql`(${b.day}::date + 1)`;
    return once(sql`(${day}::timestamp at time zone ${this.timeZone})`);
  }

  /**
   * ORDER BY, the sort key read back for the cursor, and the keyset condition after a cursor. "nearest" orders
   * by the straight-line (chord) distance between the points on the earth cube, `<->`: it ranks exactly as
   * the great-circle distance does, and lets the GiST index hand rows over nearest first (a KNN scan), so a
   * first page reads about as many rows as it shows.
   */
  private order(keyset: Keyset, distance: SQL | undefined): { order: SQL; key: SQL; after: SQL | undefined } {
    const a = keyset.after;
    switch (keyset.sort) {
      case 'soonest':
        return {
          order: sql`e.starts_at, e.id`,
          key: timeKey(sql`e.starts_at`),
          after: a && sql`(e.starts_at, e.id) > (${a.key}::timestamptz, ${a.id}::uuid)`,
        };
      case 'newest':
        return {
          order: sql`e.created_at desc, e.id desc`,
          key: timeKey(sql`e.created_at`),
          after: a && sql`(e.created_at, e.id) < (${a.key}::timestamptz, ${a.id}::uuid)`,
        };
      case 'liked':
        return {
          order: sql`e.like_count desc, e.id desc`,
          key: sql`e.like_count`,
          after: a && sql`(e.like_count, e.id) < (${a.key}::int, ${a.id}::uuid)`,
        };
      case 'nearest': {
        return {
          order: sql`${distance!}, e.id`,
          key: distance!,
          after: a && sql`(${distance!}, e.id) > (${a.key}::float8, ${a.id}::uuid)`,
        };
      }
    }
  }
}
