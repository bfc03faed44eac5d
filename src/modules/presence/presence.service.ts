import type { Clock } from '../../infra/clock.js';
import type { Executor } from '../../infra/db/database.js';
import type { Logger } from '../../infra/logger.js';
import type { PresenceStore } from '../../infra/presence/presence-store.js';
import type { RealtimePublisher } from '../../infra/realtime/publisher.js';
import { AppError } from '../../shared/errors.js';
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
  /** The sockets this process holds, renewed in the store so that a crashed node's entries expire. */
  private readonly local = new Map<string, string>();
  /** A socket's disconnect waits for its connect to be recorded, or a quick reconnect could leave a ghost. */
  private readonly connecting = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      store: PresenceStore;
      repo: PresenceRepository;
      db: Executor;
      clock: Clock;
      realtime: RealtimePublisher;
      community: CommunityDirectory;
      logger: Logger;
    },
  ) {}

  async connected(userId: string, socketId: string): Promise<void> {
    this.local.set(socketId, userId);
    const work = (async () => {
      const now = this.deps.clock.now();
      if (await this.deps.store.add(userId, socketId)) {
        await this.deps.repo.touch(this.deps.db, userId, now);
        await this.announce({ userId, online: true, lastSeenAt: now.toISOString() });
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
    const now = this.deps.clock.now();
    if (await this.deps.store.remove(userId, socketId)) {
      await this.deps.repo.touch(this.deps.db, userId, now);
      await this.announce({ userId, online: false, lastSeenAt: now.toISOString() });
    }
  }

  /** Presence of those of `userIds` the viewer shares a group or event with; others are left out. */
  async of(viewerId: string, userIds: string[]): Promise<PresenceView[]> {
    const ids = [...new Set(userIds)];
    const visible = [...(await this.deps.community.sharingCommunity(viewerId, ids))];
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

  /** One person's presence, or 404 when the viewer shares nothing with them. */
  async one(viewerId: string, userId: string): Promise<PresenceView> {
    const [view] = await this.of(viewerId, [userId]);
    if (!view) throw new AppError('NOT_FOUND', 'No such user.');
    return view;
  }

  /** Renews this node's sockets every `everyMs` (a third of the store's TTL). */
  start(everyMs: number): void {
    this.timer = setInterval(() => {
      const entries = [...this.local].map(([socketId, userId]) => ({ userId, socketId }));
      this.deps.store
        .renew(entries)
        .catch((err: unknown) => this.deps.logger.warn({ err }, 'presence renewal failed'));
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async announce(view: PresenceView): Promise<void> {
    const rooms = await this.deps.community.communityRooms(view.userId);
    if (rooms.length > 0) this.deps.realtime.emit(rooms, 'presence:changed', view);
  }
}
