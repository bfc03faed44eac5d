import { and, desc, eq, inArray, isNull, lt, lte, ne, sql, type SQL } from 'drizzle-orm';
import { queryRows, type Executor } from '../../infra/db/database.js';
import { users } from '../accounts/accounts.schema.js';
import { eventParticipants, events } from '../events/events.schema.js';
import type { AudienceType, StopReason } from './locations.dto.js';
import { locationAccessLog, locationShares } from './locations.schema.js';

export type ShareRow = typeof locationShares.$inferSelect;
export type NewShare = typeof locationShares.$inferInsert;

export interface EventWindow {
  id: string;
  startsAt: Date;
  endsAt: Date;
  lat: number | null;
  lng: number | null;
  status: 'scheduled' | 'cancelled';
  /** The viewer's participation status, null when none. */
  viewerStatus: string | null;
}

export interface OpenEventRow {
  id: string;
  title: string;
  lat: number;
  lng: number;
  startsAt: Date;
  goingCount: number;
  capacity: number | null;
  distanceM: number;
}

/** Live location's SQL: shares and the access log; the events table is only read. */
export class LocationsRepository {
  /** Stops the person's active share for the same audience (replaced) and inserts the new one. */
  async replaceShare(
    tx: Executor,
    values: NewShare & { startedAt: Date },
  ): Promise<{ share: ShareRow; replaced: ShareRow[] }> {
    const replaced = await tx
      .update(locationShares)
      .set({ stoppedAt: values.startedAt, stopReason: 'replaced' })
      .where(
        and(
          eq(locationShares.userId, values.userId),
          eq(locationShares.audience, values.audience),
          values.audienceId
            ? eq(locationShares.audienceId, values.audienceId)
            : isNull(locationShares.audienceId),
          isNull(locationShares.stoppedAt),
        ),
      )
      .returning();
    const [share] = await tx.insert(locationShares).values(values).returning();
    return { share: share!, replaced };
  }

  async findShare(db: Executor, id: string): Promise<ShareRow | undefined> {
    const [row] = await db.select().from(locationShares).where(eq(locationShares.id, id));
    return row;
  }

  async listShares(db: Executor, userId: string, limit = 100): Promise<ShareRow[]> {
    return db
      .select()
      .from(locationShares)
      .where(eq(locationShares.userId, userId))
      .orderBy(sql`${locationShares.stoppedAt} is null desc`, desc(locationShares.startedAt))
      .limit(limit);
  }

  /** Stops the active shares matching `where`, returning them. */
  async stopWhere(tx: Executor, where: SQL | undefined, at: Date, reason: StopReason): Promise<ShareRow[]> {
    return tx
      .update(locationShares)
      .set({ stoppedAt: at, stopReason: reason })
      .where(and(isNull(locationShares.stoppedAt), where))
      .returning();
  }

  stopOne(tx: Executor, id: string, at: Date, reason: StopReason) {
    return this.stopWhere(tx, eq(locationShares.id, id), at, reason);
  }

  stopOfSession(tx: Executor, sessionId: string, at: Date) {
    return this.stopWhere(tx, eq(locationShares.sessionId, sessionId), at, 'session_ended');
  }

  stopOfUser(tx: Executor, userId: string, at: Date, reason: StopReason) {
    return this.stopWhere(tx, eq(locationShares.userId, userId), at, reason);
  }

  stopOfAudience(
    tx: Executor,
    audience: AudienceType,
    audienceId: string,
    at: Date,
    reason: StopReason,
    userId?: string,
  ) {
    return this.stopWhere(
      tx,
      and(
        eq(locationShares.audience, audience),
        eq(locationShares.audienceId, audienceId),
        userId ? eq(locationShares.userId, userId) : undefined,
      ),
      at,
      reason,
    );
  }

  /** The active shares to an event (locked: a stop or another reschedule of them waits for this one). */
  async activeEventShares(tx: Executor, eventId: string): Promise<ShareRow[]> {
    return tx
      .select()
      .from(locationShares)
      .where(
        and(
          isNull(locationShares.stoppedAt),
          eq(locationShares.audience, 'event'),
          eq(locationShares.audienceId, eventId),
        ),
      )
      .for('update');
  }

  async setEnd(tx: Executor, id: string, endsAt: Date): Promise<ShareRow | undefined> {
    const [row] = await tx
      .update(locationShares)
      .set({ endsAt })
      .where(and(eq(locationShares.id, id), isNull(locationShares.stoppedAt)))
      .returning();
    return row;
  }

  /** Active shares past their end: marked expired (each by one process only). */
  async expireDue(tx: Executor, now: Date): Promise<ShareRow[]> {
    return tx
      .update(locationShares)
      .set({ stoppedAt: locationShares.endsAt, stopReason: 'expired' })
      .where(and(isNull(locationShares.stoppedAt), lte(locationShares.endsAt, now)))
      .returning();
  }

  async activeGroupShares(db: Executor, now: Date): Promise<ShareRow[]> {
    return db
      .select()
      .from(locationShares)
      .where(
        and(
          isNull(locationShares.stoppedAt),
          eq(locationShares.audience, 'group'),
          sql`${locationShares.endsAt} > ${now}`,
        ),
      );
  }

  /** Every active share with its person's nickname (to fill an empty spatial store at start). */
  async activeShares(db: Executor, now: Date): Promise<(ShareRow & { nickname: string })[]> {
    const rows = await db
      .select({ share: locationShares, nickname: users.nickname })
      .from(locationShares)
      .innerJoin(users, eq(users.id, locationShares.userId))
      .where(and(isNull(locationShares.stoppedAt), sql`${locationShares.endsAt} > ${now}`));
    return rows.map((r) => ({ ...r.share, nickname: r.nickname }));
  }

  async nickname(db: Executor, userId: string): Promise<string | null> {
    const [row] = await db
      .select({ nickname: users.nickname, deletedAt: users.deletedAt })
      .from(users)
      .where(eq(users.id, userId));
    return row && !row.deletedAt ? row.nickname : null;
  }

  /** An event's times and point, and what the viewer is to it. */
  async eventWindow(db: Executor, eventId: string, viewerId: string): Promise<EventWindow | null> {
    const [row] = await db
      .select({
        id: events.id,
        startsAt: events.startsAt,
        endsAt: events.endsAt,
        lat: events.lat,
        lng: events.lng,
        status: events.status,
        viewerStatus: eventParticipants.status,
      })
      .from(events)
      .leftJoin(
        eventParticipants,
        and(eq(eventParticipants.eventId, events.id), eq(eventParticipants.userId, viewerId)),
      )
      .where(eq(events.id, eventId));
    return row ?? null;
  }

  /**
   * The event's times if the person is going to it and it is not cancelled, held until the caller's transaction
   * ends: the event row, then the participant row, each `FOR SHARE` (the order participation changes take them
   * in). A departure, cancellation or reschedule waits for the caller to commit, and then sees what it wrote.
   */
  async holdGoing(
    tx: Executor,
    eventId: string,
    userId: string,
  ): Promise<{ startsAt: Date; endsAt: Date } | null> {
    const [event] = await tx
      .select({ startsAt: events.startsAt, endsAt: events.endsAt })
      .from(events)
      .where(and(eq(events.id, eventId), ne(events.status, 'cancelled')))
      .for('share');
    if (!event) return null;
    const [going] = await tx
      .select({ userId: eventParticipants.userId })
      .from(eventParticipants)
      .where(
        and(
          eq(eventParticipants.eventId, eventId),
          eq(eventParticipants.userId, userId),
          eq(eventParticipants.status, 'going'),
        ),
      )
      .for('share');
    return going ? event : null;
  }

  /** Which of `eventIds` the person is still going to. */
  async goingTo(db: Executor, userId: string, eventIds: string[]): Promise<Set<string>> {
    if (eventIds.length === 0) return new Set();
    const rows = await db
      .select({ eventId: eventParticipants.eventId })
      .from(eventParticipants)
      .where(
        and(
          eq(eventParticipants.userId, userId),
          inArray(eventParticipants.eventId, eventIds),
          eq(eventParticipants.status, 'going'),
        ),
      );
    return new Set(rows.map((r) => r.eventId));
  }

  /**
   * Open events around a point: public, scheduled, not started, not full, roster not locked; nearest first.
   * The earth_box test uses the events' GiST index; the distance test trims the box's corners.
   */
  async openEventsNear(
    db: Executor,
    centre: { lat: number; lng: number },
    radiusM: number,
    now: Date,
    limit: number,
  ): Promise<OpenEventRow[]> {
    const here = sql`ll_to_earth(${centre.lat}, ${centre.lng})`;
    const there = sql`ll_to_earth(${events.lat}, ${events.lng})`;
    const rows = await queryRows<{
      id: string;
      title: string;
      lat: number;
      lng: number;
      starts_at: Date | string;
      going_count: number;
      capacity: number | null;
      distance_m: number;
    }>(
      db,
      sql`select ${events.id} as id, ${events.title} as title, ${events.lat} as lat, ${events.lng} as lng,
            ${events.startsAt} as starts_at, ${events.goingCount} as going_count, ${events.capacity} as capacity,
            earth_distance(${there}, ${here}) as distance_m
          from ${events}
          where ${events.lat} is not null
            and earth_box(${here}, ${radiusM}) @> ${there}
            and earth_distance(${there}, ${here}) <= ${radiusM}
            and ${events.visibility} = 'public' and ${events.status} = 'scheduled'
            and ${events.lockedAt} is null and ${events.startsAt} > ${now}
            and (${events.capacity} is null or ${events.goingCount} < ${events.capacity})
          order by distance_m asc
          limit ${limit}`,
    );
    return rows.map((r) => ({
      id: r.id,
      title: r.title,
      lat: Number(r.lat),
      lng: Number(r.lng),
      startsAt: new Date(r.starts_at),
      goingCount: Number(r.going_count),
      capacity: r.capacity === null ? null : Number(r.capacity),
      distanceM: Number(r.distance_m),
    }));
  }

  /**
   * Inserts access-log spans as one statement with one array parameter per column (cheap to build for thousands
   * of rows). Spans whose viewer or share no longer exists are skipped. Answers index in `rows` → new row id.
   */
  async insertAccessSpans(
    db: Executor,
    rows: {
      subjectId: string;
      viewerId: string;
      shareId: string;
      first: number;
      last: number;
      count: number;
    }[],
  ): Promise<Map<number, number>> {
    const ids = new Map<number, number>();
    if (rows.length === 0) return ids;
    const list = (values: (string | number)[]) => `{${values.join(',')}}`;
    const found = await queryRows<{ id: string | number; ord: string | number }>(
      db,
      sql`with input as (
            select * from unnest(${list(rows.map((r) => r.subjectId))}::uuid[], ${list(rows.map((r) => r.viewerId))}::uuid[],
              ${list(rows.map((r) => r.shareId))}::uuid[], ${list(rows.map((r) => Math.round(r.first)))}::bigint[],
              ${list(rows.map((r) => Math.round(r.last)))}::bigint[], ${list(rows.map((r) => r.count))}::int[])
              with ordinality as u(subject, viewer, share, f, l, n, ord)
          ), ins as (
            insert into ${locationAccessLog} (subject_id, viewer_id, share_id, first_seen_at, last_seen_at, deliveries)
            select subject, viewer, share, to_timestamp(f / 1000.0), to_timestamp(l / 1000.0), n from input
            where exists (select 1 from ${locationShares} s where s.id = input.share)
              and exists (select 1 from ${users} v where v.id = input.viewer)
            returning id, viewer_id, share_id, first_seen_at
          )
          select ins.id, input.ord from ins join input
            on input.viewer = ins.viewer_id and input.share = ins.share_id
            and to_timestamp(input.f / 1000.0) = ins.first_seen_at`,
    );
    for (const r of found) ids.set(Number(r.ord) - 1, Number(r.id));
    return ids;
  }

  /** Writes the final last time and count of closed access-log spans. */
  async completeAccessSpans(
    db: Executor,
    rows: { id: number; last: number; count: number }[],
  ): Promise<void> {
    if (rows.length === 0) return;
    const list = (values: number[]) => `{${values.join(',')}}`;
    await db.execute(
      sql`update ${locationAccessLog} l set last_seen_at = to_timestamp(u.last / 1000.0), deliveries = u.n
          from unnest(${list(rows.map((r) => r.id))}::bigint[], ${list(rows.map((r) => Math.round(r.last)))}::bigint[],
            ${list(rows.map((r) => r.count))}::int[]) as u(id, last, n)
          where l.id = u.id`,
    );
  }

  async accessLog(
    db: Executor,
    subjectId: string,
    opts: { beforeId?: number; limit: number },
  ): Promise<
    {
      id: number;
      viewerId: string;
      viewerNickname: string;
      shareId: string;
      audience: AudienceType;
      firstSeenAt: Date;
      lastSeenAt: Date;
      deliveries: number;
    }[]
  > {
    return db
      .select({
        id: locationAccessLog.id,
        viewerId: locationAccessLog.viewerId,
        viewerNickname: users.nickname,
        shareId: locationAccessLog.shareId,
        audience: locationShares.audience,
        firstSeenAt: locationAccessLog.firstSeenAt,
        lastSeenAt: locationAccessLog.lastSeenAt,
        deliveries: locationAccessLog.deliveries,
      })
      .from(locationAccessLog)
      .innerJoin(users, eq(users.id, locationAccessLog.viewerId))
      .innerJoin(locationShares, eq(locationShares.id, locationAccessLog.shareId))
      .where(
        and(
          eq(locationAccessLog.subjectId, subjectId),
          opts.beforeId !== undefined ? lt(locationAccessLog.id, opts.beforeId) : undefined,
        ),
      )
      .orderBy(desc(locationAccessLog.id))
      .limit(opts.limit);
  }

  async purgeAccessLog(db: Executor, before: Date): Promise<number> {
    const rows = await db
      .delete(locationAccessLog)
      .where(lt(locationAccessLog.lastSeenAt, before))
      .returning({ id: locationAccessLog.id });
    return rows.length;
  }
}
