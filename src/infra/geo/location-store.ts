import type { Point } from '../../shared/geo.js';
import type { Clock } from '../clock.js';
import type { Redis } from '../redis.js';
import { PositionGrid } from './position-grid.js';

/**
 * Live positions, by layer (`event:<id>`, `group:<id>`, `nearby`), across every node (Redis) or in this process
 * (memory). A position is stored under its share, already snapped to the share's precision, and only while the
 * share is registered here: removing a share deletes its position, and a write for a share that is not (or no
 * longer) registered is ignored, so a late update cannot bring a stopped share back.
 */
export interface LocationStore {
  putShare(share: ShareEntry): Promise<void>;
  removeShares(shares: Pick<ShareEntry, 'shareId' | 'userId' | 'layer'>[]): Promise<void>;
  /** Replaces the entries of shares still registered (a new end); ignores the others, so a stop always wins. */
  updateShares(shares: ShareEntry[]): Promise<void>;
  /** The registered shares of a person (those past their end included: callers check `endsAtMs`). */
  sharesOf(userId: string): Promise<ShareEntry[]>;
  /**
   * Stores a batch of positions, one command round trip (writes are coalesced by the caller). A single-process
   * store stamps them `atMs`; a shared one with its own clock, so no two nodes' clocks are ever compared. A shared
   * store also drops the positions of people over the per-person limit across nodes; answers how many it dropped.
   */
  write(batch: PositionWrite[], atMs: number): Promise<number>;
  /** The positions of a layer updated after `freshAfterMs`, at most `limit`, most recent first. */
  layer(layer: string, freshAfterMs: number, limit: number): Promise<StoredPosition[]>;
  /** The positions of a layer within `radiusM` of `centre`, updated after `freshAfterMs`, nearest first. */
  nearby(
    layer: string,
    centre: Point,
    radiusM: number,
    count: number,
    freshAfterMs: number,
  ): Promise<StoredPosition[]>;
}

export interface ShareEntry {
  shareId: string;
  userId: string;
  nickname: string;
  layer: string;
  precision: 'exact' | '100m' | '1km';
  endsAtMs: number;
}

export interface PositionWrite {
  shareId: string;
  layer: string;
  lat: number;
  lng: number;
  /** Whose position it is: the per-person limit across nodes counts these. */
  userId: string;
}

/**
 * The per-person update limit: one update a second, no bursts. An update may arrive up to UPDATE_EARLY_MS before
 * its second is up (timers and networks jitter), and the next one pays that back (GCRA, the generic cell rate
 * algorithm): never two updates within 800 ms, at most n + 1 in any n seconds, and one a second on average over
 * any span. Each node enforces it on arrival (the ack); the shared store again across nodes on write.
 */
export const UPDATE_INTERVAL_MS = 1_000;
export const UPDATE_EARLY_MS = 200;

/** Positions are shared by every answer that holds them (and by a node's mirror): never changed once made. */
export interface StoredPosition {
  share: ShareEntry;
  lat: number;
  lng: number;
  /** In this node's clock. */
  updatedAtMs: number;
  /** `updatedAtMs` as ISO text, made once by the first frame that shows it. */
  updatedAtIso?: string;
}

function encodeShare(s: ShareEntry): string {
  return `${s.userId}|${s.layer}|${s.precision}|${s.endsAtMs}|${s.nickname}`;
}

function decodeShare(shareId: string, raw: string): ShareEntry | null {
  const parts = raw.split('|');
  if (parts.length < 5) return null;
  const [userId, layer, precision, endsAt] = parts as [string, string, ShareEntry['precision'], string];
  return {
    shareId,
    userId,
    layer,
    precision,
    endsAtMs: Number(endsAt),
    nickname: parts.slice(4).join('|'),
  };
}

/**
 * The `count` positions of `grid` nearest to `centre` within `radiusM`, updated after `freshAfterMs`; stale ones
 * are forgotten on the way, not kept hidden.
 */
function nearest(
  grid: PositionGrid<StoredPosition>,
  centre: Point,
  radiusM: number,
  count: number,
  freshAfterMs: number,
): StoredPosition[] {
  const found: { pos: StoredPosition; d: number }[] = [];
  grid.within(centre, radiusM, (id, pos, d) => {
    if (pos.updatedAtMs <= freshAfterMs) grid.delete(id);
    else found.push({ pos, d });
  });
  found.sort((a, b) => a.d - b.d);
  if (found.length > count) found.length = count;
  return found.map((f) => f.pos);
}

// ---------------------------------------------------------------------------------------------------------------
// Memory: one process. Each layer is a grid of positions.

export class MemoryLocationStore implements LocationStore {
  private readonly shares = new Map<string, ShareEntry>();
  private readonly byUser = new Map<string, Set<string>>();
  private readonly layers = new Map<string, PositionGrid<StoredPosition>>();

  async putShare(share: ShareEntry): Promise<void> {
    this.shares.set(share.shareId, share);
    const set = this.byUser.get(share.userId) ?? new Set<string>();
    set.add(share.shareId);
    this.byUser.set(share.userId, set);
  }

  async removeShares(shares: Pick<ShareEntry, 'shareId' | 'userId' | 'layer'>[]): Promise<void> {
    for (const s of shares) {
      this.shares.delete(s.shareId);
      const set = this.byUser.get(s.userId);
      set?.delete(s.shareId);
      if (set?.size === 0) this.byUser.delete(s.userId);
      this.dropPosition(s.layer, s.shareId);
    }
  }

  async updateShares(shares: ShareEntry[]): Promise<void> {
    for (const share of shares) {
      if (!this.shares.has(share.shareId)) continue;
      this.shares.set(share.shareId, share);
      const grid = this.layers.get(share.layer);
      const pos = grid?.get(share.shareId);
      if (pos) grid!.put(share.shareId, { share, lat: pos.lat, lng: pos.lng, updatedAtMs: pos.updatedAtMs });
    }
  }

  async sharesOf(userId: string): Promise<ShareEntry[]> {
    const out: ShareEntry[] = [];
    for (const id of this.byUser.get(userId) ?? []) {
      const share = this.shares.get(id);
      if (share) out.push(share);
    }
    return out;
  }

  /** One process: its own limit on arrival is the whole limit, so nothing is dropped here. */
  async write(batch: PositionWrite[], atMs: number): Promise<number> {
    for (const w of batch) {
      const share = this.shares.get(w.shareId);
      if (!share) continue;
      let grid = this.layers.get(w.layer);
      if (!grid) this.layers.set(w.layer, (grid = new PositionGrid()));
      grid.put(w.shareId, { share, lat: w.lat, lng: w.lng, updatedAtMs: atMs });
    }
    return 0;
  }

  async layer(layer: string, freshAfterMs: number, limit: number): Promise<StoredPosition[]> {
    const grid = this.layers.get(layer);
    if (!grid) return [];
    const out: StoredPosition[] = [];
    for (const [id, pos] of grid.entries()) {
      if (pos.updatedAtMs <= freshAfterMs) grid.delete(id);
      else out.push(pos);
    }
    if (grid.size === 0) this.layers.delete(layer);
    out.sort((a, b) => b.updatedAtMs - a.updatedAtMs);
    return out.slice(0, limit);
  }

  async nearby(
    layer: string,
    centre: Point,
    radiusM: number,
    count: number,
    freshAfterMs: number,
  ): Promise<StoredPosition[]> {
    const grid = this.layers.get(layer);
    if (!grid) return [];
    const found = nearest(grid, centre, radiusM, count, freshAfterMs);
    if (grid.size === 0) this.layers.delete(layer);
    return found;
  }

  private dropPosition(layer: string, shareId: string): void {
    const grid = this.layers.get(layer);
    if (grid?.delete(shareId) && grid.size === 0) this.layers.delete(layer);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Redis: every node. Keys (under the deployment prefix): `loc:meta` hash shareId → share (registered shares),
// `loc:user:<id>` set of a person's share ids, `loc:geo:<layer>` GEO set and `loc:seen:<layer>` sorted set of
// update stamps, `loc:gone:<layer>` sorted set of shares removed in the last GONE_KEEP_MS, `loc:hw:<layer>` the
// layer's last stamp, `loc:rate:<person>`
// the per-person limit's state, `loc:epoch` when this data set began. Scripts keep each batch and each query to
// one round trip, and make a write for a share that was removed a no-op (Redis runs a script atomically, so
// "stop" and a late write cannot interleave).
//
// Every time in Redis is Redis's own (TIME): nodes' clocks may differ by seconds, and comparing them would make
// one node's people look stale to another or trip the limit across nodes. Each script adds ARGV[2], the offset of
// the node's Clock from the real time (0 in production; tests move a manual clock), and the node converts the
// times it reads back to its own clock by the difference it measured on the same answer.

/** How long removals are listed for mirrors; a mirror that has not caught up for half of it starts over. */
const GONE_KEEP_MS = 10 * 60_000;
/** Positions a mirror reads per round trip while catching up. */
const CHANGES_PAGE = 20_000;
/** How often a mirror forgets positions that went stale where no query looked. */
const MIRROR_SWEEP_MS = 10_000;
/** Positions per write script call (a call's arguments are passed on the stack). */
const WRITE_CHUNK = 2_000;
/** Shares read per HMGET. */
const READ_CHUNK = 5_000;
/** The write batch's own delay, and Redis's, on top of what a node lets an update come early. */
const WRITE_DELAY_SLACK_MS = 250;

const ms = (v: string) => `string.format('%.0f', ${v})`;
const NOW = `
local p = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
-- The time a change of a layer is stamped with: never before an earlier stamp of that layer, so a mirror that has
-- read up to a stamp misses nothing written or removed after it, even when the clock (or a node's offset) steps
-- back a little. A step back of more than a minute starts a new epoch instead: every mirror starts over.
local stamps = {}
local function stamp(layer)
  if stamps[layer] then return stamps[layer] end
  local key = p .. 'loc:hw:' .. layer
  local hw = tonumber(redis.call('GET', key) or '0')
  if now >= hw or hw - now > 60000 then
    if now < hw then redis.call('SET', p .. 'loc:epoch', (redis.call('GET', p .. 'loc:epoch') or '') .. '+') end
    hw = now
    redis.call('SET', key, ${ms('hw')})
  end
  stamps[layer] = hw
  return hw
end
`;

// The write also enforces the per-person limit across nodes: each node limits what it accepts, but a person with
// devices on two nodes could otherwise be stored twice as often. The same GCRA as on arrival, keyed per person
// (`loc:rate:<id>` holds the theoretical arrival time), is charged once per batch for each person in it, at
// Redis's time; the tolerance adds the write batch's delay, so one node's writes (a subset of what it accepted,
// at most a batch late) never trip it. A person over the limit has this batch's positions dropped (the ack has
// gone already). Returns how many positions were dropped.
const WRITE_SCRIPT = `${NOW}
local interval = tonumber(ARGV[3])
local tolerance = tonumber(ARGV[4])
local allowed = {}
local dropped = 0
for i = 5, #ARGV, 5 do
  local id = ARGV[i]
  local uid = ARGV[i + 4]
  local ok = allowed[uid]
  if ok == nil then
    local key = p .. 'loc:rate:' .. uid
    local tat = tonumber(redis.call('GET', key) or '0')
    ok = now >= tat - tolerance
    if ok then
      tat = math.max(tat, now) + interval
      redis.call('SET', key, ${ms('tat')}, 'PX', ${ms('tat - now')})
    end
    allowed[uid] = ok
  end
  if not ok then
    dropped = dropped + 1
  elseif redis.call('HEXISTS', p .. 'loc:meta', id) == 1 then
    local layer = ARGV[i + 1]
    redis.call('GEOADD', p .. 'loc:geo:' .. layer, ARGV[i + 2], ARGV[i + 3], id)
    redis.call('ZADD', p .. 'loc:seen:' .. layer, stamp(layer), id)
  end
end
return dropped
`;

// Removal is listed in the layer's `gone` set, so other nodes' mirrors drop the position on their next catch-up.
const REMOVE_SCRIPT = `${NOW}
for i = 3, #ARGV, 3 do
  local id, uid, layer = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('HDEL', p .. 'loc:meta', id)
  redis.call('SREM', p .. 'loc:user:' .. uid, id)
  redis.call('ZREM', p .. 'loc:geo:' .. layer, id)
  redis.call('ZREM', p .. 'loc:seen:' .. layer, id)
  local gone = p .. 'loc:gone:' .. layer
  redis.call('ZADD', gone, stamp(layer), id)
  redis.call('ZREMRANGEBYSCORE', gone, '-inf', ${ms(`now - ${GONE_KEEP_MS}`)})
  redis.call('PEXPIRE', gone, ${GONE_KEEP_MS})
end
return 0
`;

// Both reads first forget stale positions of the layer ARGV[3] (older than ARGV[4] ms; bounded per call), then
// answer positions as `positions` lists them.
const PRUNE = `${NOW}
local geo = p .. 'loc:geo:' .. ARGV[3]
local seen = p .. 'loc:seen:' .. ARGV[3]
local stale = redis.call('ZRANGEBYSCORE', seen, '-inf', ${ms('now - tonumber(ARGV[4])')}, 'LIMIT', 0, 500)
if #stale > 0 then
  redis.call('ZREM', seen, unpack(stale))
  redis.call('ZREM', geo, unpack(stale))
end
-- {id, lng, lat, updatedAt}… of the positions of a WITHSCORES answer of \`seen\`.
local function positions(list)
  local out = {}
  for i = 1, #list, 2 do
    local pos = redis.call('GEOPOS', geo, list[i])[1]
    if pos then
      out[#out + 1] = list[i]
      out[#out + 1] = pos[1]
      out[#out + 1] = pos[2]
      out[#out + 1] = list[i + 1]
    end
  end
  return out
end
`;

// A small layer (an event's, a group's), most recent first: {now, {id, lng, lat, updatedAt}…}.
const LAYER_SCRIPT = `${PRUNE}
local ids = redis.call('ZREVRANGEBYSCORE', seen, '+inf', '(' .. ${ms('now - tonumber(ARGV[4])')}, 'WITHSCORES', 'LIMIT', 0, ARGV[5])
return {now, positions(ids)}
`;

// A mirror's catch-up: the positions stamped at or after ARGV[5] (at most ARGV[6]) and the shares removed since:
// {now, the layer's stamp, epoch, how many read, {id, lng, lat, updatedAt}…, {removed id}…}. Only registered
// shares have positions (removal deletes them in the same script that lists it), so none is checked.
const CHANGES_SCRIPT = `${PRUNE}
redis.call('SET', p .. 'loc:epoch', ${ms('now')}, 'NX')
local epoch = redis.call('GET', p .. 'loc:epoch')
local at = stamp(ARGV[3])
local changed = redis.call('ZRANGEBYSCORE', seen, ARGV[5], '+inf', 'WITHSCORES', 'LIMIT', 0, ARGV[6])
local removed = redis.call('ZRANGEBYSCORE', p .. 'loc:gone:' .. ARGV[3], ARGV[5], '+inf')
return {now, at, epoch, #changed / 2, positions(changed), removed}
`;

// A person's registered shares, {id, encoded share}…, in one round trip (every node reads them every few seconds
// for each person sending updates through it).
const SHARES_OF_SCRIPT = `
local meta = ARGV[1] .. 'loc:meta'
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'loc:user:' .. ARGV[2])) do
  local raw = redis.call('HGET', meta, id)
  if raw then
    out[#out + 1] = id
    out[#out + 1] = raw
  end
end
return out
`;

const UPDATE_SHARES_SCRIPT = `
local meta = ARGV[1] .. 'loc:meta'
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', meta, ARGV[i]) == 1 then redis.call('HSET', meta, ARGV[i], ARGV[i + 1]) end
end
return 0
`;

type Flat = (string | number)[];
type ScriptClient = Redis & {
  locUpdateShares(...args: string[]): Promise<unknown>;
  locSharesOf(prefix: string, userId: string): Promise<string[]>;
  locWrite(...args: (string | number)[]): Promise<number>;
  locRemove(...args: (string | number)[]): Promise<unknown>;
  locLayer(...args: (string | number)[]): Promise<[number, string[]]>;
  locChanges(...args: (string | number)[]): Promise<[number, number, string, number, string[], string[]]>;
};

/** Decoded shares kept per node: a share never changes once made, so only its removal matters (checked in Redis). */
const SHARE_CACHE_MAX = 200_000;

/**
 * A node's copy of a layer's positions, kept up to date from Redis by catch-ups (what was written or removed
 * since the last one), so that its nearby queries are answered in memory: one catch-up per tick serves every
 * subscriber of the node, instead of one GEOSEARCH per subscriber (or cell) whose answers cost more to decode
 * than the positions that changed.
 */
interface Mirror {
  layer: string;
  grid: PositionGrid<StoredPosition>;
  /** Read positions stamped at or after this, but for `readAtCursor`: those of that stamp already read (a page
   * cut inside it). */
  cursor: number;
  readAtCursor: Set<string>;
  epoch: string | null;
  /** When (this node's clock) the last catch-up answered. */
  caughtUpAt: number;
  sweptAt: number;
  staleMs: number;
  /** The catch-up running now, and whether callers may still join it (it was started in their turn). */
  running?: { promise: Promise<void>; open: boolean };
  /** The catch-up queued behind it, which every later caller joins. */
  queued?: Promise<void>;
}

export class RedisLocationStore implements LocationStore {
  private readonly redis: ScriptClient;
  private readonly shares = new Map<string, ShareEntry>();
  /** When a cached share that looked ended was last read again. */
  private readonly reread = new Map<string, number>();
  private readonly mirrors = new Map<string, Mirror>();
  /** Redis's clock minus this node's, as last measured. */
  private skew = 0;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly clock: Clock,
    private readonly opts: {
      writeBatchMs: number;
      /** The machine's clock; tests set it to play a node whose clock is off. */
      wallClock?: () => number;
    },
  ) {
    this.redis = redis as ScriptClient;
    if (typeof this.redis.locChanges !== 'function') {
      redis.defineCommand('locWrite', { numberOfKeys: 0, lua: WRITE_SCRIPT });
      redis.defineCommand('locRemove', { numberOfKeys: 0, lua: REMOVE_SCRIPT });
      redis.defineCommand('locLayer', { numberOfKeys: 0, lua: LAYER_SCRIPT });
      redis.defineCommand('locChanges', { numberOfKeys: 0, lua: CHANGES_SCRIPT });
      redis.defineCommand('locUpdateShares', { numberOfKeys: 0, lua: UPDATE_SHARES_SCRIPT });
      redis.defineCommand('locSharesOf', { numberOfKeys: 0, lua: SHARES_OF_SCRIPT });
    }
  }

  private key(suffix: string): string {
    return `${this.prefix}loc:${suffix}`;
  }

  /** The node clock's offset from the real time, which the scripts add to Redis's (see above). */
  private offset(): number {
    return this.clock.now().getTime() - (this.opts.wallClock ?? Date.now)();
  }

  /** Measures the skew from a script's `now` as its answer arrives. */
  private measured(redisNow: number): number {
    this.skew = redisNow - this.clock.now().getTime();
    return this.skew;
  }

  async putShare(share: ShareEntry): Promise<void> {
    this.remember(share);
    const userKey = this.key(`user:${share.userId}`);
    await this.redis
      .multi()
      .hset(this.key('meta'), share.shareId, encodeShare(share))
      .sadd(userKey, share.shareId)
      .exec();
  }

  async removeShares(shares: Pick<ShareEntry, 'shareId' | 'userId' | 'layer'>[]): Promise<void> {
    if (shares.length === 0) return;
    const args: (string | number)[] = [this.prefix, this.offset()];
    for (const s of shares) {
      this.forget(s.shareId, s.layer);
      args.push(s.shareId, s.userId, s.layer);
    }
    await this.redis.locRemove(...args);
  }

  async updateShares(shares: ShareEntry[]): Promise<void> {
    if (shares.length === 0) return;
    const args = [this.prefix];
    for (const share of shares) {
      this.remember(share);
      args.push(share.shareId, encodeShare(share));
    }
    await this.redis.locUpdateShares(...args);
  }

  async sharesOf(userId: string): Promise<ShareEntry[]> {
    const flat = await this.redis.locSharesOf(this.prefix, userId);
    const out: ShareEntry[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const share = decodeShare(flat[i]!, flat[i + 1]!);
      if (share) out.push(share);
    }
    return out;
  }

  async write(batch: PositionWrite[]): Promise<number> {
    if (batch.length === 0) return 0;
    const tolerance = UPDATE_EARLY_MS + this.opts.writeBatchMs + WRITE_DELAY_SLACK_MS;
    const head = [this.prefix, this.offset(), UPDATE_INTERVAL_MS, tolerance];
    // Calls of at most WRITE_CHUNK positions, each person's all in one (the limit charges a person once a call).
    const byPerson = new Map<string, PositionWrite[]>();
    for (const w of batch) {
      const list = byPerson.get(w.userId);
      if (list) list.push(w);
      else byPerson.set(w.userId, [w]);
    }
    const calls: (string | number)[][] = [];
    let args: (string | number)[] = [...head];
    for (const writes of byPerson.values()) {
      if (args.length > head.length && (args.length - head.length) / 5 + writes.length > WRITE_CHUNK) {
        calls.push(args);
        args = [...head];
      }
      for (const w of writes) args.push(w.shareId, w.layer, w.lng, w.lat, w.userId);
    }
    calls.push(args);
    const dropped = await Promise.all(calls.map((c) => this.redis.locWrite(...c)));
    return dropped.reduce((sum, n) => sum + n, 0);
  }

  async layer(layer: string, freshAfterMs: number, limit: number): Promise<StoredPosition[]> {
    const staleMs = this.clock.now().getTime() - freshAfterMs;
    const [now, flat] = await this.redis.locLayer(this.prefix, this.offset(), layer, staleMs, limit);
    const skew = this.measured(now);
    await this.learnShares(flat);
    const out: StoredPosition[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      const share = this.shares.get(flat[i]!);
      if (!share) continue;
      out.push({
        share,
        lng: Number(flat[i + 1]),
        lat: Number(flat[i + 2]),
        updatedAtMs: Number(flat[i + 3]) - skew,
      });
    }
    return out;
  }

  async nearby(
    layer: string,
    centre: Point,
    radiusM: number,
    count: number,
    freshAfterMs: number,
  ): Promise<StoredPosition[]> {
    let mirror = this.mirrors.get(layer);
    if (!mirror) {
      mirror = {
        layer,
        grid: new PositionGrid(),
        cursor: 0,
        readAtCursor: new Set(),
        epoch: null,
        caughtUpAt: 0,
        sweptAt: 0,
        staleMs: 0,
      };
      this.mirrors.set(layer, mirror);
    }
    mirror.staleMs = Math.max(mirror.staleMs, this.clock.now().getTime() - freshAfterMs);
    await this.caughtUp(mirror);
    return nearest(mirror.grid, centre, radiusM, count, freshAfterMs);
  }

  /**
   * Resolves once a catch-up that reached Redis after this call has finished, so a share removed before the call
   * (on any node) is never shown. Callers in one turn (a tick's queries) share one catch-up.
   */
  private caughtUp(m: Mirror): Promise<void> {
    if (m.queued) return m.queued;
    if (m.running?.open) return m.running.promise;
    if (!m.running) return this.startCatchUp(m);
    const queued = m.running.promise
      .catch(() => undefined)
      .then(() => {
        m.queued = undefined;
        return this.startCatchUp(m);
      });
    m.queued = queued;
    return queued;
  }

  private startCatchUp(m: Mirror): Promise<void> {
    const run = { open: true, promise: Promise.resolve() };
    run.promise = this.catchUp(m).finally(() => {
      if (m.running === run) m.running = undefined;
    });
    m.running = run;
    queueMicrotask(() => (run.open = false));
    return run.promise;
  }

  private async catchUp(m: Mirror): Promise<void> {
    const local = this.clock.now().getTime();
    // Removals are listed for GONE_KEEP_MS: a mirror that missed part of that list must start over.
    if (m.caughtUpAt > 0 && local - m.caughtUpAt > GONE_KEEP_MS / 2) this.restart(m);
    for (;;) {
      const limit = m.readAtCursor.size + CHANGES_PAGE;
      const [now, at, epoch, read, flat, removed] = await this.redis.locChanges(
        this.prefix,
        this.offset(),
        m.layer,
        m.staleMs,
        m.cursor,
        limit,
      );
      const skew = this.measured(now);
      // Another data set (Redis was emptied, or its clock went far back): start over.
      if (m.epoch !== null && epoch !== m.epoch) {
        this.restart(m);
        m.epoch = epoch;
        continue;
      }
      m.epoch = epoch;
      for (const id of removed) {
        m.grid.delete(id);
        this.shares.delete(id);
        this.reread.delete(id);
      }
      await this.learnShares(flat);
      for (let i = 0; i + 3 < flat.length; i += 4) {
        const id = flat[i]!;
        const stamped = Number(flat[i + 3]);
        if (stamped === m.cursor && m.readAtCursor.has(id)) continue;
        // The share this node knows, or the one the mirror holds (removal comes through `removed`, not a miss).
        const share = this.shares.get(id) ?? m.grid.get(id)?.share;
        if (!share) m.grid.delete(id);
        else {
          m.grid.put(id, {
            share,
            lng: Number(flat[i + 1]),
            lat: Number(flat[i + 2]),
            updatedAtMs: stamped - skew,
          });
        }
      }
      if (read < limit || flat.length === 0) {
        m.cursor = at;
        m.readAtCursor = new Set();
        break;
      }
      // A full page: go on from its last stamp, leaving out the positions of that stamp already read (by id, not
      // by count: one may have been written again or removed in between, which would shift a count).
      const last = Number(flat.at(-1));
      const readAtLast = last === m.cursor ? m.readAtCursor : new Set<string>();
      for (let i = flat.length - 4; i >= 0 && Number(flat[i + 3]) === last; i -= 4) readAtLast.add(flat[i]!);
      m.cursor = last;
      m.readAtCursor = readAtLast;
    }
    m.caughtUpAt = this.clock.now().getTime();
    if (m.caughtUpAt - m.sweptAt >= MIRROR_SWEEP_MS) {
      m.sweptAt = m.caughtUpAt;
      const freshAfter = m.caughtUpAt - m.staleMs;
      for (const [id, pos] of m.grid.entries()) if (pos.updatedAtMs <= freshAfter) m.grid.delete(id);
    }
  }

  private restart(m: Mirror): void {
    m.grid.clear();
    m.cursor = 0;
    m.readAtCursor = new Set();
  }

  /**
   * Reads the shares of `flat` (positions, 4 fields each) this node does not know yet. A share still registered
   * past the end this node knows may have been given a later end through another node (its event was
   * rescheduled): read again, at most once a second, until swept or renewed.
   */
  private async learnShares(flat: Flat): Promise<void> {
    const unknown: string[] = [];
    const wall = this.clock.now().getTime();
    for (let i = 0; i + 3 < flat.length; i += 4) {
      const id = flat[i] as string;
      const cached = this.shares.get(id);
      if (!cached || (cached.endsAtMs <= wall && wall - (this.reread.get(id) ?? 0) >= 1_000)) {
        unknown.push(id);
        if (cached) this.reread.set(id, wall);
      }
    }
    for (let from = 0; from < unknown.length; from += READ_CHUNK) {
      const ids = unknown.slice(from, from + READ_CHUNK);
      const raws = await this.redis.hmget(this.key('meta'), ...ids);
      ids.forEach((id, i) => {
        const share = raws[i] ? decodeShare(id, raws[i]) : null;
        if (share) this.remember(share);
        else {
          this.shares.delete(id);
          this.reread.delete(id);
        }
      });
    }
  }

  private remember(share: ShareEntry): void {
    // Entries of shares removed through another node linger until this bound; Redis decides what is shown.
    if (this.shares.size >= SHARE_CACHE_MAX) {
      // The oldest tenth goes (a Map iterates in insertion order); a mirror keeps its positions' shares itself.
      let n = 0;
      for (const id of this.shares.keys()) {
        this.shares.delete(id);
        this.reread.delete(id);
        if (++n >= SHARE_CACHE_MAX / 10) break;
      }
    }
    this.shares.set(share.shareId, share);
    const mirror = this.mirrors.get(share.layer);
    const pos = mirror?.grid.get(share.shareId);
    if (pos && pos.share !== share) {
      mirror!.grid.put(share.shareId, { share, lat: pos.lat, lng: pos.lng, updatedAtMs: pos.updatedAtMs });
    }
  }

  private forget(shareId: string, layer: string): void {
    this.shares.delete(shareId);
    this.reread.delete(shareId);
    this.mirrors.get(layer)?.grid.delete(shareId);
  }
}
