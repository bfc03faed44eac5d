import type { Config } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import type { Executor } from '../../infra/db/database.js';
import {
  UPDATE_EARLY_MS,
  UPDATE_INTERVAL_MS,
  type LocationStore,
  type PositionWrite,
  type ShareEntry,
} from '../../infra/geo/location-store.js';
import type { Logger } from '../../infra/logger.js';
import type { TxContext, UnitOfWork } from '../../infra/outbox/outbox.js';
import type { RealtimePublisher } from '../../infra/realtime/publisher.js';
import type { Actor } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { userRoom } from '../accounts/accounts.module.js';
import type { GroupDirectory } from '../events/event-access.js';
import { AccessLogBuffer } from './access-log.js';
import type { AccessLogView, ShareView, StartShareBody, StopReason } from './locations.dto.js';
import {
  EVENT_MAP_OPENS_BEFORE_MS,
  eventMapOpen,
  layerKey,
  precisionAllowed,
  snapToPrecision,
} from './locations.policy.js';
import type { LocationsRepository, ShareRow } from './locations.repository.js';

/** How long a node trusts its copy of a person's shares (a share started on another node shows up after this). */
const SHARE_CACHE_MS = 5_000;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

interface Sharer {
  /** When the person's next update is due (GCRA's theoretical arrival time). */
  dueAt: number;
  /** When the person last sent one. */
  at: number;
  shares: ShareEntry[] | null;
  loadedAt: number;
  refreshing: boolean;
  /** Bumped when the copy of the shares is invalidated, so a load begun before is discarded. */
  gen: number;
}

export function toShareView(row: ShareRow, now: Date): ShareView {
  return {
    id: row.id,
    audience: { type: row.audience, id: row.audienceId },
    precision: row.precision,
    startedAt: row.startedAt.toISOString(),
    endsAt: row.endsAt.toISOString(),
    active: row.stoppedAt === null && row.endsAt > now,
    stoppedAt: row.stoppedAt?.toISOString() ?? null,
    stopReason: row.stopReason ?? (row.endsAt <= now ? 'expired' : null),
  };
}

const entryOf = (row: ShareRow, nickname: string): ShareEntry => ({
  shareId: row.id,
  userId: row.userId,
  nickname,
  layer: layerKey(row.audience, row.audienceId),
  precision: row.precision,
  endsAtMs: row.endsAt.getTime(),
});

const storeRef = (row: ShareRow) => ({
  shareId: row.id,
  userId: row.userId,
  layer: layerKey(row.audience, row.audienceId),
});

/**
 * Location shares and the updates that feed them. A share is a person's explicit choice of audience, precision
 * and end; an update goes to that person's active shares only, snapped to each share's precision before it is
 * stored, and is dropped (never stored) when there is none. Updates are buffered per node and written in one
 * batch every LOCATION_WRITE_BATCH_MS; the ack does not wait for the write.
 */
export class LocationService {
  private readonly sharers = new Map<string, Sharer>();
  private pending = new Map<string, PositionWrite>();
  private readonly accessLogBuffer: AccessLogBuffer;
  private readonly timers: NodeJS.Timeout[] = [];
  /**
   * Stopped shares the store has not confirmed removing (Redis was unreachable after the commit). Until they
   * are gone from the store it would still accept their updates and show them, so removal is retried.
   */
  private unremoved: ReturnType<typeof storeRef>[] = [];
  /** Positions the shared store refused for the per-person limit across nodes (since start). */
  droppedOverLimit = 0;

  constructor(
    private readonly deps: {
      repo: LocationsRepository;
      db: Executor;
      clock: Clock;
      unitOfWork: UnitOfWork;
      store: LocationStore;
      groups: GroupDirectory;
      realtime: RealtimePublisher;
      logger: Logger;
      config: Config['locations'];
    },
  ) {
    this.accessLogBuffer = new AccessLogBuffer(deps);
  }

  // ---- shares ---------------------------------------------------------------------------------------------

  async startShare(actor: Actor, body: StartShareBody): Promise<ShareView> {
    const { repo, db, clock, config } = this.deps;
    const now = clock.now();
    const { audience, precision } = body;
    if (!precisionAllowed(audience.type, precision)) {
      throw new AppError(
        'LOCATION_PRECISION_NOT_ALLOWED',
        'The nearby layer is seen by strangers: share with it at 100m or 1km precision.',
      );
    }
    const cap = now.getTime() + config.shareMaxMinutes * 60_000;
    let endsAt: number;
    let audienceId: string | null = null;
    const targetId = audience.type === 'event' ? audience.eventId : audience.groupId;
    const idField = audience.type === 'event' ? 'eventId' : 'groupId';
    if (audience.type !== 'nearby' && targetId === undefined) {
      throw new AppError('VALIDATION_FAILED', `Name the ${audience.type}.`, {
        details: [{ path: `/audience/${idField}`, message: 'required' }],
      });
    }
    const eventShareEnd = (event: { endsAt: Date }) =>
      Math.min(
        event.endsAt.getTime(),
        cap,
        body.durationMinutes !== undefined ? now.getTime() + body.durationMinutes * 60_000 : Infinity,
      );
    if (audience.type === 'event') {
      audienceId = targetId!;
      endsAt = eventShareEnd(await this.eventOpenTo(audienceId, actor.userId, now));
    } else {
      if (body.durationMinutes === undefined) {
        throw new AppError('VALIDATION_FAILED', 'Say how long to share.', {
          details: [{ path: '/durationMinutes', message: 'required for group and nearby shares' }],
        });
      }
      if (audience.type === 'group') {
        audienceId = targetId!;
        await this.assertGroupMember(audienceId, actor.userId);
      }
      endsAt = Math.min(cap, now.getTime() + body.durationMinutes * 60_000);
    }
    const nickname = await repo.nickname(db, actor.userId);
    if (nickname === null) throw new AppError('UNAUTHENTICATED');

    const share = await this.deps.unitOfWork(async (ctx) => {
      // Checked above for a clear answer; held here, so that a departure committing meanwhile cannot miss the
      // share (it waits for this commit and then ends it, or it came first and the share is refused).
      if (audience.type === 'event') {
        // Its times as of now, too: a reschedule that committed since the check has already moved the shares.
        const event = await repo.holdGoing(ctx.tx, audienceId!, actor.userId);
        if (!event) throw notGoing();
        assertMapOpen(event, now);
        endsAt = eventShareEnd(event);
      }
      if (
        audience.type === 'group' &&
        !(await this.deps.groups.holdMembership(ctx.tx, audienceId!, actor.userId))
      ) {
        throw notMember();
      }
      const { share, replaced } = await repo.replaceShare(ctx.tx, {
        userId: actor.userId,
        sessionId: actor.sessionId,
        audience: audience.type,
        audienceId,
        precision,
        startedAt: now,
        endsAt: new Date(endsAt),
        durationMinutes: body.durationMinutes ?? null,
      });
      ctx.afterCommit(async () => {
        await this.removeFromStore(replaced.map(storeRef));
        await this.deps.store.putShare(entryOf(share, nickname));
        this.invalidate(actor.userId);
      });
      return share;
    });
    return toShareView(share, now);
  }

  async stopShare(actor: Actor, shareId: string): Promise<ShareView> {
    const { repo, db, clock } = this.deps;
    const existing = await repo.findShare(db, shareId);
    if (!existing || existing.userId !== actor.userId) throw new AppError('NOT_FOUND', 'No such share.');
    const now = clock.now();
    const stopped = await this.deps.unitOfWork(async (ctx) => {
      const rows = await repo.stopOne(ctx.tx, shareId, now, 'stopped');
      this.afterStop(ctx, rows, 'stopped', { notify: false });
      return rows[0];
    });
    return toShareView(stopped ?? existing, now);
  }

  async listShares(actor: Actor): Promise<ShareView[]> {
    const now = this.deps.clock.now();
    return (await this.deps.repo.listShares(this.deps.db, actor.userId)).map((r) => toShareView(r, now));
  }

  /**
   * Ends shares in the caller's transaction: a relay subscriber's (session revoked, account deleted) or the
   * departing request's own (a projection: left or removed from the event or group, the event cancelled, the
   * group deleted).
   */
  async endSessionShares(ctx: TxContext, sessionId: string): Promise<void> {
    const rows = await this.deps.repo.stopOfSession(ctx.tx, sessionId, this.deps.clock.now());
    this.afterStop(ctx, rows, 'session_ended');
  }

  async endUserShares(ctx: TxContext, userId: string): Promise<void> {
    const rows = await this.deps.repo.stopOfUser(ctx.tx, userId, this.deps.clock.now(), 'account_deleted');
    this.afterStop(ctx, rows, 'account_deleted');
  }

  async endAudienceShares(
    ctx: TxContext,
    audience: 'event' | 'group',
    id: string,
    reason: StopReason,
    userId?: string,
  ): Promise<void> {
    const rows = await this.deps.repo.stopOfAudience(
      ctx.tx,
      audience,
      id,
      this.deps.clock.now(),
      reason,
      userId,
    );
    this.afterStop(ctx, rows, reason);
  }

  /**
   * The event was edited: shares to it end at its (new) end, or at the duration their person asked for if that
   * comes first, within the cap. Moved so far that its map is no longer open, they end (`event_rescheduled`).
   * A new end already passed is left to the expiry sweep.
   */
  async eventRescheduled(ctx: TxContext, eventId: string): Promise<void> {
    const { repo, clock, config } = this.deps;
    const event = await repo.eventWindow(ctx.tx, eventId, NIL_UUID);
    if (!event || event.status === 'cancelled') return;
    const rows = await repo.activeEventShares(ctx.tx, eventId);
    if (rows.length === 0) return;
    const now = clock.now();
    if (now.getTime() < event.startsAt.getTime() - EVENT_MAP_OPENS_BEFORE_MS) {
      await this.endAudienceShares(ctx, 'event', eventId, 'event_rescheduled');
      return;
    }
    const changed: ShareEntry[] = [];
    for (const row of rows) {
      const started = row.startedAt.getTime();
      let end = Math.min(event.endsAt.getTime(), started + config.shareMaxMinutes * 60_000);
      if (row.durationMinutes !== null) end = Math.min(end, started + row.durationMinutes * 60_000);
      if (end === row.endsAt.getTime()) continue;
      const updated = await repo.setEnd(ctx.tx, row.id, new Date(end));
      if (updated) changed.push(entryOf(updated, (await repo.nickname(ctx.tx, row.userId)) ?? ''));
    }
    if (changed.length === 0) return;
    ctx.afterCommit(async () => {
      await this.deps.store.updateShares(changed);
      for (const share of changed) this.invalidate(share.userId);
    });
  }

  /** Marks shares past their end as expired and removes them from the store (every few seconds, any node). */
  async expireDue(): Promise<number> {
    return this.deps.unitOfWork(async (ctx) => {
      const rows = await this.deps.repo.expireDue(ctx.tx, this.deps.clock.now());
      this.afterStop(ctx, rows, 'expired');
      return rows.length;
    });
  }

  /**
   * Ends the group shares of people no longer in the group. The group departure topics end them at once; this
   * catches anything those miss, once a minute.
   */
  async recheckGroupShares(): Promise<number> {
    const { repo, db, groups, clock } = this.deps;
    let ended = 0;
    for (const share of await repo.activeGroupShares(db, clock.now())) {
      const member = await groups.membership(db, share.audienceId!, share.userId);
      if (member) continue;
      await this.deps.unitOfWork(async (ctx) => {
        const rows = await repo.stopOne(ctx.tx, share.id, clock.now(), 'audience_left');
        this.afterStop(ctx, rows, 'audience_left');
        ended += rows.length;
      });
    }
    return ended;
  }

  /** Puts every active share in the store (an embedded node starts with an empty one). */
  async loadActiveShares(): Promise<void> {
    const rows = await this.deps.repo.activeShares(this.deps.db, this.deps.clock.now());
    for (let i = 0; i < rows.length; i += 200) {
      await Promise.all(
        rows.slice(i, i + 200).map((row) => this.deps.store.putShare(entryOf(row, row.nickname))),
      );
    }
  }

  private afterStop(ctx: TxContext, rows: ShareRow[], reason: StopReason, opts = { notify: true }): void {
    if (rows.length === 0) return;
    ctx.afterCommit(async () => {
      for (const row of rows) {
        this.invalidate(row.userId);
        this.pending.delete(row.id);
      }
      await this.removeFromStore(rows.map(storeRef));
      if (!opts.notify) return;
      for (const row of rows) {
        this.deps.realtime.emit(userRoom(row.userId), 'location:share_ended', { shareId: row.id, reason });
      }
    });
  }

  private async removeFromStore(refs: ReturnType<typeof storeRef>[]): Promise<void> {
    try {
      await this.deps.store.removeShares(refs);
    } catch (err) {
      this.unremoved.push(...refs);
      throw err;
    }
  }

  /** Retries the removals the store missed (every few seconds, with the expiry sweep). */
  private async retryRemovals(): Promise<void> {
    if (this.unremoved.length === 0) return;
    const refs = this.unremoved;
    this.unremoved = [];
    await this.removeFromStore(refs);
  }

  // ---- policy facts ---------------------------------------------------------------------------------------

  /** The event, if the person is going to it and its live map is open now; 404 for everyone else. */
  async eventOpenTo(eventId: string, userId: string, now: Date) {
    const event = await this.deps.repo.eventWindow(this.deps.db, eventId, userId);
    if (!event || event.viewerStatus !== 'going') throw notGoing();
    if (event.status === 'cancelled') throw new AppError('EVENT_CANCELLED');
    assertMapOpen(event, now);
    return event;
  }

  async assertGroupMember(groupId: string, userId: string): Promise<void> {
    const { groups, db } = this.deps;
    const group = await groups.findGroup(db, groupId);
    const member = group ? await groups.membership(db, groupId, userId) : null;
    if (!member) throw notMember();
  }

  // ---- updates --------------------------------------------------------------------------------------------

  /**
   * Takes one position from a person; answers how many active shares got it. Kept cheap: it runs for every
   * update of every connected person, so it allocates little and awaits the store only when the node's copy
   * of the person's shares is older than a few seconds.
   */
  async update(userId: string, lat: number, lng: number): Promise<number> {
    const now = this.deps.clock.now().getTime();
    let s = this.sharers.get(userId);
    if (!s) {
      s = { dueAt: now, at: now, shares: null, loadedAt: 0, refreshing: false, gen: 0 };
      this.sharers.set(userId, s);
    }
    s.at = now;
    if (now < s.dueAt - UPDATE_EARLY_MS) {
      throw new AppError('LOCATION_RATE_LIMITED', 'At most one location update per second.', {
        details: { retryAfterMs: s.dueAt - UPDATE_EARLY_MS - now },
      });
    }
    s.dueAt = Math.max(s.dueAt, now) + UPDATE_INTERVAL_MS;
    if (s.shares === null) {
      await this.loadShares(userId, s, now);
    } else if (now - s.loadedAt > SHARE_CACHE_MS && !s.refreshing) {
      // Refreshed in the background: the ack never waits for it. A stopped share in the old copy is harmless
      // (the store ignores writes for it); a new one is picked up by the next update.
      void this.loadShares(userId, s, now).catch((err: unknown) =>
        this.deps.logger.warn({ err }, 'location shares refresh failed'),
      );
    }
    let count = 0;
    for (const share of s.shares ?? []) {
      if (share.endsAtMs <= now) continue;
      const p = share.precision === 'exact' ? { lat, lng } : snapToPrecision({ lat, lng }, share.precision);
      const w = this.pending.get(share.shareId);
      if (w) {
        w.lat = p.lat;
        w.lng = p.lng;
      } else
        this.pending.set(share.shareId, {
          shareId: share.shareId,
          layer: share.layer,
          lat: p.lat,
          lng: p.lng,
          userId,
        });
      count++;
    }
    return count;
  }

  /** Forgets this node's copy of a person's shares (not their rate-limit state). */
  private invalidate(userId: string): void {
    const s = this.sharers.get(userId);
    if (!s) return;
    s.shares = null;
    s.gen++;
  }

  private async loadShares(userId: string, s: Sharer, now: number): Promise<void> {
    s.refreshing = true;
    const gen = s.gen;
    try {
      const shares = await this.deps.store.sharesOf(userId);
      // A start or stop on this node meanwhile invalidated the copy: the next update loads it again.
      if (s.gen !== gen) return;
      s.shares = shares;
      s.loadedAt = now;
    } finally {
      s.refreshing = false;
    }
  }

  /**
   * Writes the buffered positions in one batch. The store drops those of people over the limit across nodes
   * (sending through two nodes at once); they are counted, not retried: a newer position supersedes them.
   */
  async flushPositions(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.droppedOverLimit += await this.deps.store.write(batch, this.deps.clock.now().getTime());
  }

  // ---- access log -----------------------------------------------------------------------------------------

  /** Counts one delivery of `subjectId`'s position (share `shareId`) to `viewerId`. */
  recordDelivery(viewerId: string, subjectId: string, shareId: string, atMs: number): void {
    this.accessLogBuffer.record(viewerId, subjectId, shareId, atMs);
  }

  /** Writes what the access log needs now (see AccessLogBuffer); `closeAll` at shutdown. */
  flushAccessLog(closeAll = false): Promise<void> {
    return this.accessLogBuffer.flush(closeAll);
  }

  /**
   * Who received my position, newest first. This node's new spans are written first, so every delivery it made
   * is listed; the counts of spans still open (on any node) are completed when they close.
   */
  async accessLog(
    actor: Actor,
    opts: { cursor?: string; limit: number },
  ): Promise<{ items: AccessLogView[]; nextCursor: string | null }> {
    await this.flushAccessLog();
    const beforeId = opts.cursor !== undefined ? Number(opts.cursor) : undefined;
    if (beforeId !== undefined && !(Number.isSafeInteger(beforeId) && beforeId > 0)) {
      throw new AppError('VALIDATION_FAILED', 'Bad cursor.', {
        details: [{ path: '/cursor', message: 'bad cursor' }],
      });
    }
    const rows = await this.deps.repo.accessLog(this.deps.db, actor.userId, {
      ...(beforeId !== undefined ? { beforeId } : {}),
      limit: opts.limit + 1,
    });
    const page = rows.slice(0, opts.limit);
    return {
      items: page.map((r) => ({
        viewer: { id: r.viewerId, nickname: r.viewerNickname },
        shareId: r.shareId,
        audience: r.audience,
        firstSeenAt: r.firstSeenAt.toISOString(),
        lastSeenAt: r.lastSeenAt.toISOString(),
        deliveries: r.deliveries,
      })),
      nextCursor: rows.length > opts.limit ? String(page.at(-1)!.id) : null,
    };
  }

  async purgeAccessLog(): Promise<number> {
    const before = new Date(this.deps.clock.now().getTime() - this.deps.config.accessLogDays * 86_400_000);
    return this.deps.repo.purgeAccessLog(this.deps.db, before);
  }

  // ---- timers ---------------------------------------------------------------------------------------------

  /** API nodes: batch writes, access-log flushes, share expiry, and forgetting idle sharers. */
  start(): void {
    const { config, logger } = this.deps;
    const every = (ms: number, what: string, fn: () => Promise<unknown>) => {
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        fn()
          .catch((err: unknown) => logger.warn({ err }, `${what} failed`))
          .finally(() => (busy = false));
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(config.writeBatchMs, 'location write batch', () => this.flushPositions());
    every(config.accessLogFlushMs, 'location access log flush', () => this.flushAccessLog());
    every(5_000, 'location share expiry', () => this.expireDue());
    every(5_000, 'location store removal retry', () => this.retryRemovals());
    every(60_000, 'location group share check', () => this.recheckGroupShares());
    every(60_000, 'location sharer sweep', async () => {
      const idleBefore = this.deps.clock.now().getTime() - 5 * 60_000;
      for (const [userId, s] of this.sharers) if (s.at < idleBefore) this.sharers.delete(userId);
    });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    await this.flushPositions().catch(() => undefined);
    await this.flushAccessLog(true).catch(() => undefined);
  }
}

const notGoing = () => new AppError('NOT_FOUND', 'No such event map: only people going to the event see it.');
const notMember = () => new AppError('NOT_FOUND', "No such group map: only the group's members see it.");

function assertMapOpen(event: { startsAt: Date; endsAt: Date }, now: Date): void {
  if (eventMapOpen(event, now)) return;
  throw new AppError(
    'LOCATION_SHARE_NOT_OPEN',
    "An event's live map is open from 30 minutes before its start to its end.",
    {
      details: {
        opensAt: new Date(event.startsAt.getTime() - EVENT_MAP_OPENS_BEFORE_MS).toISOString(),
        closesAt: event.endsAt.toISOString(),
      },
    },
  );
}
