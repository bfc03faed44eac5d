import type { Clock } from '../clock.js';
import type { Redis } from '../redis.js';

export interface SocketEntry {
  userId: string;
  socketId: string;
}

/** A person nobody has heard from: their last socket went stale, and `lastSeenAt` is its last heartbeat. */
export interface Departure {
  userId: string;
  lastSeenAt: Date;
}

/**
 * Which people have at least one socket connected, across every node. Each socket's entry carries its last
 * heartbeat; the node holding the socket refreshes it (`renew`). An entry not refreshed for `staleMs` belongs to
 * a node that died: it no longer counts, and `sweep` removes it and reports the people it left with no socket,
 * each to exactly one caller, so that their going offline is announced once however many nodes sweep.
 */
export interface PresenceStore {
  /** Records a socket; true when it is the person's first (they just came online). */
  add(userId: string, socketId: string): Promise<boolean>;
  /** Forgets a socket; true when it was the person's last (they just went offline). */
  remove(userId: string, socketId: string): Promise<boolean>;
  /** Those of `userIds` who are online now. */
  online(userIds: string[]): Promise<Set<string>>;
  /**
   * Refreshes the heartbeat of the sockets this process holds. Returns those whose entry a sweeper had already
   * removed (this node looked dead, e.g. during a long pause); the caller records them again with `add`.
   */
  renew(entries: SocketEntry[]): Promise<SocketEntry[]>;
  /** Removes stale entries; the people left with no socket, claimed for this caller alone. */
  sweep(limit?: number): Promise<Departure[]>;
}

/**
 * One process: a socket set per person. Nothing goes stale: the sockets live in this process, so a crash takes
 * them and this map together, and a restarted process starts with nobody online.
 */
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

  async renew(): Promise<SocketEntry[]> {
    return [];
  }

  async sweep(): Promise<Departure[]> {
    return [];
  }
}

/**
 * Removes the stale entries of one person; when none is left, claims their departure by removing them from the
 * index (only the caller that removes it gets the answer), and returns their last heartbeat.
 * KEYS: the person's set, the index. ARGV: cutoff, user id.
 */
const SWEEP_ONE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if newest[2] then
  redis.call('ZADD', KEYS[2], newest[2], ARGV[2])
  return false
end
local last = redis.call('ZSCORE', KEYS[2], ARGV[2])
if not last then return false end
redis.call('ZREM', KEYS[2], ARGV[2])
return last
`;

/**
 * Forgets a socket (and any stale entry of the person); true when it leaves nobody, and then takes the person off
 * the index so that no sweeper announces them again.
 * KEYS: the person's set, the index. ARGV: socket id, cutoff, user id.
 */
const REMOVE = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
local indexed = redis.call('ZREM', KEYS[2], ARGV[3])
if removed == 1 or indexed == 1 then return 1 end
return 0
`;

/**
 * Refreshes the heartbeats of a batch of sockets, each only if its entry is still there (0 when a sweeper took
 * it: the caller re-adds it only if the socket is still connected, so a socket that just disconnected is not
 * brought back). One call per batch: a heartbeat covers every socket of the node.
 * KEYS: the index, then each socket's person's set. ARGV: now, key TTL, then each socket's id and person.
 * Returns 1 (renewed) or 0 (gone) per socket.
 */
const RENEW = `
local now, ttl = ARGV[1], ARGV[2]
local out = {}
for i = 2, #KEYS do
  local socket, user = ARGV[2 * i - 1], ARGV[2 * i]
  if redis.call('ZSCORE', KEYS[i], socket) then
    redis.call('ZADD', KEYS[i], now, socket)
    redis.call('PEXPIRE', KEYS[i], ttl)
    redis.call('ZADD', KEYS[1], 'GT', now, user)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`;

/** Sockets per `RENEW` call: each call holds Redis for about a millisecond, so other clients' commands interleave. */
const RENEW_BATCH = 1_000;

interface ScriptClient extends Redis {
  presenceRenew(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
  presenceRemove(numKeys: number, ...args: (string | number)[]): Promise<number>;
}

/** In a pipeline a defined command queues, and its reply comes with the pipeline's `exec`. */
interface ScriptPipeline {
  presenceSweepOne(numKeys: number, ...args: (string | number)[]): ScriptPipeline;
}

/**
 * Every node: a sorted set per person (socket id → last heartbeat, ms), and an index of everyone with an entry
 * (person → newest heartbeat) that sweepers scan for the stale. Both are updated in one script or transaction.
 */
export class RedisPresenceStore implements PresenceStore {
  /** Keys outlive staleness by far, so a sweeper finds a dead node's entries; this only bounds forgotten keys. */
  private readonly keyTtlMs: number;

  private readonly redis: ScriptClient;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly clock: Clock,
    private readonly staleMs: number,
  ) {
    this.keyTtlMs = Math.max(10 * staleMs, 3_600_000);
    // Defined once per connection; ioredis then sends EVALSHA, not the script's text with every call.
    this.redis = redis as ScriptClient;
    if (typeof this.redis.presenceRenew !== 'function') {
      redis.defineCommand('presenceRenew', { lua: RENEW });
      redis.defineCommand('presenceRemove', { lua: REMOVE });
      redis.defineCommand('presenceSweepOne', { lua: SWEEP_ONE });
    }
  }

  private key(userId: string): string {
    return `${this.prefix}presence:${userId}`;
  }

  private get index(): string {
    return `${this.prefix}presence-index`;
  }

  async add(userId: string, socketId: string): Promise<boolean> {
    const now = this.clock.now().getTime();
    const key = this.key(userId);
    const res = await this.redis
      .multi()
      .zremrangebyscore(key, '-inf', now - this.staleMs)
      .zadd(key, now, socketId)
      .zcard(key)
      .pexpire(key, this.keyTtlMs)
      .zadd(this.index, 'GT', now, userId)
      .exec();
    return Number(res?.[2]?.[1]) === 1;
  }

  async remove(userId: string, socketId: string): Promise<boolean> {
    const cutoff = this.clock.now().getTime() - this.staleMs;
    const res = await this.redis.presenceRemove(2, this.key(userId), this.index, socketId, cutoff, userId);
    return Number(res) === 1;
  }

  async online(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const cutoff = this.clock.now().getTime() - this.staleMs;
    const pipeline = this.redis.pipeline();
    for (const id of userIds) pipeline.zcount(this.key(id), `(${cutoff}`, '+inf');
    const res = (await pipeline.exec()) ?? [];
    return new Set(userIds.filter((_, i) => Number(res[i]?.[1]) > 0));
  }

  async renew(entries: SocketEntry[]): Promise<SocketEntry[]> {
    const now = this.clock.now().getTime();
    const lost: SocketEntry[] = [];
    for (let i = 0; i < entries.length; i += RENEW_BATCH) {
      const batch = entries.slice(i, i + RENEW_BATCH);
      const keys = [this.index, ...batch.map((e) => this.key(e.userId))];
      const args = batch.flatMap((e) => [e.socketId, e.userId]);
      const renewed = await this.redis.presenceRenew(keys.length, ...keys, now, this.keyTtlMs, ...args);
      batch.forEach((e, j) => {
        if (Number(renewed[j]) === 0) lost.push(e);
      });
    }
    return lost;
  }

  async sweep(limit = 5_000): Promise<Departure[]> {
    const cutoff = this.clock.now().getTime() - this.staleMs;
    const gone: Departure[] = [];
    // In pages: every candidate leaves the stale range (claimed here, by another sweeper, or re-scored).
    for (let seen = 0; seen < limit;) {
      const candidates = await this.redis.zrangebyscore(this.index, '-inf', cutoff, 'LIMIT', 0, 500);
      if (candidates.length === 0) break;
      seen += candidates.length;
      const pipeline = this.redis.pipeline();
      for (const userId of candidates)
        (pipeline as unknown as ScriptPipeline).presenceSweepOne(
          2,
          this.key(userId),
          this.index,
          cutoff,
          userId,
        );
      const res = (await pipeline.exec()) ?? [];
      candidates.forEach((userId, i) => {
        const last = res[i]?.[1];
        if (res[i]?.[0] === null && last !== null && last !== undefined) {
          gone.push({ userId, lastSeenAt: new Date(Number(last)) });
        }
      });
    }
    return gone;
  }
}
