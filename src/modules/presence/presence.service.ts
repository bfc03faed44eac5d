import type { Executor } from '../../infra/db/database.js';
import type { Logger } from '../../infra/logger.js';
import type { PresenceStore } from '../../infra/presence/presence-store.js';
import type { RealtimePublisher } from '../../infra/realtime/publisher.js';
import { AppError } from '../../shared/errors.js';
import { userRoom } from '../accounts/accounts.module.js';
import type { BlockDirectory } from '../blocks/blocks.service.js';
import type { PresenceRepository } from './presence.repository.js';

/** Who shares a group or an event with whom, and the rooms that hear about a person (the chat module knows). */
export interface CommunityDirectory {
  sharingCommunity(viewerId: string, userIds: string[]): Promise<Set<string>>;
  communityRooms(userId: string): Promise<string[]>;
}

export interface PresenceView {
  userId: string;
  online: boolean;
  lastSeenAt: string | null;
}

/**
 * Online, offline and last seen, across devices and nodes. A person is online while any of their sockets is
 * connected anywhere; the change is announced only to the rooms of the groups and events they belong to, and
 * reading someone's presence needs a group or event in common: a family sees who is at home in the app, a
 * stranger sees nothing.
 */
export class PresenceService {
  /** The sockets this process holds (socket id → user id), refreshed by the heartbeat. */
  private readonly local = new Map<string, string>();
  /** A socket's disconnect waits for its connect to be recorded, or a quick reconnect could leave a ghost. */
  private readonly connecting = new Map<string, Promise<void>>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly busy = new Set<string>();
  /** Last-seen times waiting for the next write, and that write (see `touch`). */
  private readonly seen = new Map<string, Date>();
  private nextWrite: Promise<void> | undefined;
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: {
      store: PresenceStore;
      repo: PresenceRepository;
      db: Executor;
      realtime: RealtimePublisher;
      community: CommunityDirectory;
      blocks: BlockDirectory;
      logger: Logger;
      intervals: { heartbeatMs: number; sweepMs: number };
    },
  ) {}

  async connected(userId: string, socketId: string): Promise<void> {
    this.local.set(socketId, userId);
    const work = (async () => {
      const { first, at } = await this.deps.store.add(userId, socketId);
      if (first) {
        await this.touch(userId, at);
        await this.announce({ userId, online: true, lastSeenAt: at.toISOString() });
      }
    })();
    this.connecting.set(socketId, work);
    try {
      await work;
    } finally {
      this.connecting.delete(socketId);
    }
  }

  async disconnected(userId: string, socketId: string): Promise<void> {
    await this.connecting.get(socketId)?.catch(() => undefined);
    this.local.delete(socketId);
    const { last, at } = await this.deps.store.remove(userId, socketId);
    // Even when another socket remains: if that one's node dies, this is the last time the person was seen.
    await this.touch(userId, at);
    if (last) await this.announce({ userId, online: false, lastSeenAt: at.toISOString() });
  }

  /** Presence of those of `userIds` the viewer shares a group or event with, and no block; others are left out. */
  async of(viewerId: string, userIds: string[]): Promise<PresenceView[]> {
    const ids = [...new Set(userIds)];
    const [sharing, blocked] = await Promise.all([
      this.deps.community.sharingCommunity(viewerId, ids),
      this.deps.blocks.related(viewerId),
    ]);
    for (const id of blocked) sharing.delete(id);
    const visible = [...sharing];
    const [online, lastSeen] = await Promise.all([
      this.deps.store.online(visible),
      this.deps.repo.lastSeen(this.deps.db, visible),
    ]);
    return visible.map((userId) => ({
      userId,
      online: online.has(userId),
      lastSeenAt: lastSeen.get(userId)?.toISOString() ?? null,
    }));
  }

  /** One person's presence, or 404 when the viewer may not see it. */
  async one(viewerId: string, userId: string): Promise<PresenceView> {
    const [view] = await this.of(viewerId, [userId]);
    if (!view) throw new AppError('NOT_FOUND', 'No such user.');
    return view;
  }

  /**
   * Starts this node's two timers: the heartbeat, which refreshes its sockets' entries in the store and their
   * last-seen times in the database (so that a crash leaves the last heartbeat, not the connect time), and the
   * sweeper, which announces offline the people a dead node left behind (the store hands each to one sweeper).
   */
  start(): void {
    this.stop();
    const { heartbeatMs, sweepMs } = this.deps.intervals;
    this.heartbeatTimer = setInterval(
      () => void this.guard('heartbeat', () => this.heartbeat()),
      heartbeatMs,
    );
    this.sweepTimer = setInterval(() => void this.guard('sweep', () => this.sweep()), sweepMs);
    this.heartbeatTimer.unref();
    this.sweepTimer.unref();
  }

  stop(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.sweepTimer);
    this.heartbeatTimer = this.sweepTimer = undefined;
  }

  async heartbeat(): Promise<void> {
    const entries = [...this.local].map(([socketId, userId]) => ({ userId, socketId }));
    if (entries.length === 0) return;
    const { lost, at } = await this.deps.store.renew(entries);
    await this.deps.repo.touch(this.deps.db, new Map(entries.map((e) => [e.userId, at])));
    // Entries a sweeper took while this node was silent: record again those still connected.
    for (const { userId, socketId } of lost) {
      if (this.local.get(socketId) !== userId) continue;
      const again = await this.deps.store.add(userId, socketId);
      if (again.first) {
        await this.announce({ userId, online: true, lastSeenAt: again.at.toISOString() });
      }
    }
  }

  /** Announces offline, once across all nodes, each person whose every socket went stale. */
  async sweep(): Promise<void> {
    for (const { userId, lastSeenAt } of await this.deps.store.sweep()) {
      await this.touch(userId, lastSeenAt);
      const [seen] = [...(await this.deps.repo.lastSeen(this.deps.db, [userId])).values()];
      await this.announce({ userId, online: false, lastSeenAt: (seen ?? lastSeenAt).toISOString() });
    }
  }

  /**
   * Records a last-seen time, resolving once it is written. Writes go one at a time, each carrying everything
   * that arrived while the previous one ran: 10,000 sockets closing at once (a node restarting, a network blip)
   * cost a few statements on one pooled connection instead of 10,000 writes queueing for the whole pool.
   */
  private touch(userId: string, at: Date): Promise<void> {
    const known = this.seen.get(userId);
    if (!known || known < at) this.seen.set(userId, at);
    if (!this.nextWrite) {
      const write = this.lastWrite.then(async () => {
        this.nextWrite = undefined;
        const batch = new Map(this.seen);
        this.seen.clear();
        await this.deps.repo.touch(this.deps.db, batch);
      });
      this.nextWrite = write;
      this.lastWrite = write.catch(() => undefined);
    }
    return this.nextWrite;
  }

  private async guard(what: string, fn: () => Promise<void>): Promise<void> {
    if (this.busy.has(what)) return;
    this.busy.add(what);
    try {
      await fn();
    } catch (err) {
      this.deps.logger.warn({ err }, `presence ${what} failed`);
    } finally {
      this.busy.delete(what);
    }
  }

  /** To the rooms of the person's groups and events, leaving out anyone on either side of a block with them. */
  private async announce(view: PresenceView): Promise<void> {
    const [rooms, blocked] = await Promise.all([
      this.deps.community.communityRooms(view.userId),
      this.deps.blocks.related(view.userId),
    ]);
    if (rooms.length > 0) {
      this.deps.realtime.emit(rooms, 'presence:changed', view, { except: blocked.map(userRoom) });
    }
  }
}
