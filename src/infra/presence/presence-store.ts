import type { Clock } from '../clock.js';
import type { Redis } from '../redis.js';

/**
 * Which people have at least one socket connected, across every node. A socket's entry lives `ttlMs` unless its
 * node renews it, so the sockets of a node that died stop counting without anyone cleaning up after it.
 */
export interface PresenceStore {
  /** Records a socket; true when it is the person's first (they just came online). */
  add(userId: string, socketId: string): Promise<boolean>;
  /** Forgets a socket; true when it was the person's last (they just went offline). */
  remove(userId: string, socketId: string): Promise<boolean>;
  /** Those of `userIds` who are online now. */
  online(userIds: string[]): Promise<Set<string>>;
  /** Renews the entries of the sockets this process holds. */
  renew(entries: { userId: string; socketId: string }[]): Promise<void>;
}

export const PRESENCE_TTL_MS = 90_000;

/** One process: a socket set per person. */
export class MemoryPresenceStore implements PresenceStore {
  private readonly sockets = new Map<string, Set<string>>();

  async add(userId: string, socketId: string): Promise<boolean> {
    const set = this.sockets.get(userId) ?? new Set<string>();
    this.sockets.set(userId, set);
    set.add(socketId);
    return set.size === 1;
  }

  async remove(userId: string, socketId: string): Promise<boolean> {
    const set = this.sockets.get(userId);
    if (!set?.delete(socketId)) return false;
    if (set.size > 0) return false;
    this.sockets.delete(userId);
    return true;
  }

  async online(userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => (this.sockets.get(id)?.size ?? 0) > 0));
  }

  async renew(): Promise<void> {
    // Nothing expires in one process: a socket leaves when it disconnects.
  }
}

/** Every node: a sorted set per person, socket ids scored by when they expire. */
export class RedisPresenceStore implements PresenceStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly clock: Clock,
    private readonly ttlMs = PRESENCE_TTL_MS,
  ) {}

  private key(userId: string): string {
    return `${this.prefix}presence:${userId}`;
  }

  async add(userId: string, socketId: string): Promise<boolean> {
    const now = this.clock.now().getTime();
    const key = this.key(userId);
    const res = await this.redis
      .multi()
      .zremrangebyscore(key, '-inf', now)
      .zadd(key, now + this.ttlMs, socketId)
      .zcard(key)
      .pexpire(key, this.ttlMs)
      .exec();
    return Number(res?.[2]?.[1]) === 1;
  }

  async remove(userId: string, socketId: string): Promise<boolean> {
    const now = this.clock.now().getTime();
    const key = this.key(userId);
    const res = await this.redis
      .multi()
      .zrem(key, socketId)
      .zremrangebyscore(key, '-inf', now)
      .zcard(key)
      .exec();
    return Number(res?.[0]?.[1]) === 1 && Number(res?.[2]?.[1]) === 0;
  }

  async online(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const now = this.clock.now().getTime();
    const pipeline = this.redis.pipeline();
    for (const id of userIds) pipeline.zcount(this.key(id), `(${now}`, '+inf');
    const res = (await pipeline.exec()) ?? [];
    return new Set(userIds.filter((_, i) => Number(res[i]?.[1]) > 0));
  }

  async renew(entries: { userId: string; socketId: string }[]): Promise<void> {
    if (entries.length === 0) return;
    const expires = this.clock.now().getTime() + this.ttlMs;
    const pipeline = this.redis.pipeline();
    for (const { userId, socketId } of entries) {
      pipeline.zadd(this.key(userId), 'XX', expires, socketId);
      pipeline.pexpire(this.key(userId), this.ttlMs);
    }
    await pipeline.exec();
  }
}
