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
 *
 * Every time here (heartbeats, staleness cutoffs, the `at` of each answer) is read from the store's own clock,
 * never from the calling node's: nodes whose clocks disagree by seconds still agree on who is stale, and the
 * last-seen times the service records from these answers are all on that one clock.
 */
export interface PresenceStore {
  /** Records a socket; `first` when it is the person's first (they just came online). */
  add(userId: string, socketId: string): Promise<{ first: boolean; at: Date }>;
  /** Forgets a socket; `last` when it was the person's last (they just went offline). */
  remove(userId: string, socketId: string): Promise<{ last: boolean; at: Date }>;
  /** Those of `userIds` who are online now. */
  online(userIds: string[]): Promise<Set<string>>;
  /**
   * Refreshes the heartbeat of the sockets this process holds. `lost` are those whose entry a sweeper had
   * already removed (this node looked dead, e.g. during a long pause); the caller records them again with `add`.
   */
  renew(entries: SocketEntry[]): Promise<{ lost: SocketEntry[]; at: Date }>;
  /** Removes stale entries; the people left with no socket, claimed for this caller alone. */
  sweep(limit?: number): Promise<Departure[]>;
}

/**
 * One process: a socket set per person, on the process's clock (there is no other node to disagree with).
 * Nothing goes stale: the sockets live in this process, so a crash takes them and this map together, and a
 * restarted process starts with nobody online.
 */
export class MemoryPresenceStore implements PresenceStore {
  private readonly sockets = new Map<string, Set<string>>();

  constructor(private readonly clock: Clock) {}

  async add(userId: string, socketId: string): Promise<{ first: boolean; at: Date }> {
    const set = this.sockets.get(userId) ?? new Set<string>();
    this.sockets.set(userId, set);
    set.add(socketId);
    return { first: set.size === 1, at: this.clock.now() };
  }

  async remove(userId: string, socketId: string): Promise<{ last: boolean; at: Date }> {
    const at = this.clock.now();
    const set = this.sockets.get(userId);
    if (!set?.delete(socketId)) return { last: false, at };
    if (set.size > 0) return { last: false, at };
    this.sockets.delete(userId);
    return { last: true, at };
  }

  async online(userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => (this.sockets.get(id)?.size ?? 0) > 0));
  }

  async renew(): Promise<{ lost: SocketEntry[]; at: Date }> {
    return { lost: [], at: this.clock.now() };
  }

  async sweep(): Promise<Departure[]> {
    return [];
  }
}

/**
 * Redis's clock in milliseconds, prepended to every script: each node's own clock would make one node's fresh
 * entries look stale to another whose clock runs ahead. (Redis 5+ replicates a script's effects, not the script,
 * so reading TIME before writing is allowed.)
 */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * Records a socket after dropping the person's stale entries; 1 when it is now their only one (they came
 * online), then the time used.
 * KEYS: the person's set, the index. ARGV: socket id, stale ms, key TTL, user id.
 */
const ADD = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], 'GT', now, ARGV[4])
if count == 1 then return {1, now} end
return {0, now}
`;

/**
 * Forgets a socket (and any stale entry of the person); 1 when it leaves nobody, and then takes the person off
 * the index so that no sweeper announces them again. Then the time used.
 * KEYS: the person's set, the index. ARGV: socket id, stale ms, user id.
 */
const REMOVE = `${NOW}
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ARGV[2])
if redis.call('ZCARD', KEYS[1]) > 0 then return {0, now} end
local indexed = redis.call('ZREM', KEYS[2], ARGV[3])
if removed == 1 or indexed == 1 then return {1, now} end
return {0, now}
`;

/**
 * 1 per person with an entry fresher than the staleness cutoff, else 0.
 * KEYS: each person's set. ARGV: stale ms.
 */
const ONLINE = `${NOW}
local fresh = '(' .. string.format('%d', now - ARGV[1])
local out = {}
for i = 1, #KEYS do
  if redis.call('ZCOUNT', KEYS[i], fresh, '+inf') > 0 then out[i] = 1 else out[i] = 0 end
end
return out
`;

/**
 * Refreshes the heartbeats of a batch of sockets, each only if its entry is still there (0 when a sweeper took
 * it: the caller re-adds it only if the socket is still connected, so a socket that just disconnected is not
 * brought back). One call per batch: a heartbeat covers every socket of the node.
 * KEYS: the index, then each socket's person's set. ARGV: key TTL, then each socket's id and person.
 * Returns the time used, then 1 (renewed) or 0 (gone) per socket.
 */
const RENEW = `${NOW}
local ttl = ARGV[1]
local out = {now}
for i = 2, #KEYS do
  local socket, user = ARGV[2 * i - 2], ARGV[2 * i - 1]
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

/**
 * People whose newest heartbeat is older than the staleness cutoff: candidates for `SWEEP_ONE`.
 * KEYS: the index. ARGV: stale ms, page size.
 */
const STALE_PEOPLE = `${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ARGV[1], 'LIMIT', 0, ARGV[2])
`;

/**
 * Removes the stale entries of one person; when none is left, claims their departure by removing them from the
 * index (only the caller that removes it gets the answer), and returns their last heartbeat.
 * KEYS: the person's set, the index. ARGV: stale ms, user id.
 */
const SWEEP_ONE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ARGV[1])
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

/** Sockets (or people) per script call: each call holds Redis for about a millisecond, so other clients' commands interleave. */
const BATCH = 1_000;

/** A sweep claims this many people per round trip. */
const SWEEP_PAGE = 500;

type Args = (string | number)[];

interface ScriptClient extends Redis {
  presenceAdd(numKeys: number, ...args: Args): Promise<[number, number]>;
  presenceRemove(numKeys: number, ...args: Args): Promise<[number, number]>;
  presenceOnline(numKeys: number, ...args: Args): Promise<number[]>;
  presenceRenew(numKeys: number, ...args: Args): Promise<number[]>;
  presenceStalePeople(numKeys: number, ...args: Args): Promise<string[]>;
}

/** In a pipeline a defined command queues, and its reply comes with the pipeline's `exec`. */
interface ScriptPipeline {
  presenceSweepOne(numKeys: number, ...args: Args): ScriptPipeline;
}

/**
 * Every node: a sorted set per person (socket id → last heartbeat, ms on Redis's clock), and an index of everyone
 * with an entry (person → newest heartbeat) that sweepers scan for the stale. Every operation is one script, which
 * reads the time from Redis and updates both.
 */
export class RedisPresenceStore implements PresenceStore {
  /** Keys outlive staleness by far, so a sweeper finds a dead node's entries; this only bounds forgotten keys. */
  private readonly keyTtlMs: number;

  private readonly redis: ScriptClient;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly staleMs: number,
  ) {
    this.keyTtlMs = Math.max(10 * staleMs, 3_600_000);
    // Defined once per connection; ioredis then sends EVALSHA, not the script's text with every call.
    this.redis = redis as ScriptClient;
    if (typeof this.redis.presenceAdd !== 'function') {
      redis.defineCommand('presenceAdd', { lua: ADD });
      redis.defineCommand('presenceRemove', { lua: REMOVE });
      redis.defineCommand('presenceOnline', { lua: ONLINE });
      redis.defineCommand('presenceRenew', { lua: RENEW });
      redis.defineCommand('presenceStalePeople', { lua: STALE_PEOPLE });
      redis.defineCommand('presenceSweepOne', { lua: SWEEP_ONE });
    }
  }

  private key(userId: string): string {
    return `${this.prefix}presence:${userId}`;
  }

  private get index(): string {
    return `${this.prefix}presence-index`;
  }

  async add(userId: string, socketId: string): Promise<{ first: boolean; at: Date }> {
    const [first, at] = await this.redis.presenceAdd(
      2,
      this.key(userId),
      this.index,
      socketId,
      this.staleMs,
      this.keyTtlMs,
      userId,
    );
    return { first: Number(first) === 1, at: new Date(Number(at)) };
  }

  async remove(userId: string, socketId: string): Promise<{ last: boolean; at: Date }> {
    const [last, at] = await this.redis.presenceRemove(
      2,
      this.key(userId),
      this.index,
      socketId,
      this.staleMs,
      userId,
    );
    return { last: Number(last) === 1, at: new Date(Number(at)) };
  }

  async online(userIds: string[]): Promise<Set<string>> {
    const online = new Set<string>();
    for (let i = 0; i < userIds.length; i += BATCH) {
      const batch = userIds.slice(i, i + BATCH);
      const res = await this.redis.presenceOnline(
        batch.length,
        ...batch.map((id) => this.key(id)),
        this.staleMs,
      );
      batch.forEach((id, j) => {
        if (Number(res[j]) === 1) online.add(id);
      });
    }
    return online;
  }

  async renew(entries: SocketEntry[]): Promise<{ lost: SocketEntry[]; at: Date }> {
    if (entries.length === 0) {
      const [seconds, micros] = await this.redis.time();
      return { lost: [], at: new Date(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)) };
    }
    const lost: SocketEntry[] = [];
    let first: number | undefined;
    for (let i = 0; i < entries.length; i += BATCH) {
      const batch = entries.slice(i, i + BATCH);
      const keys = [this.index, ...batch.map((e) => this.key(e.userId))];
      const args = batch.flatMap((e) => [e.socketId, e.userId]);
      const [now, ...renewed] = await this.redis.presenceRenew(keys.length, ...keys, this.keyTtlMs, ...args);
      // The first batch's time: no entry was renewed before it, so no last-seen time claims more than was seen.
      first ??= Number(now);
      batch.forEach((e, j) => {
        if (Number(renewed[j]) === 0) lost.push(e);
      });
    }
    return { lost, at: new Date(first ?? 0) };
  }

  async sweep(limit = 5_000): Promise<Departure[]> {
    const gone: Departure[] = [];
    // In pages: every candidate leaves the stale range (claimed here, by another sweeper, or re-scored).
    for (let seen = 0; seen < limit;) {
      const candidates = await this.redis.presenceStalePeople(1, this.index, this.staleMs, SWEEP_PAGE);
      if (candidates.length === 0) break;
      seen += candidates.length;
      const pipeline = this.redis.pipeline();
      for (const userId of candidates)
        (pipeline as unknown as ScriptPipeline).presenceSweepOne(
          2,
          this.key(userId),
          this.index,
          this.staleMs,
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
