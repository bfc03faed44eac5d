import { distanceMeters, type Point } from '../../shared/geo.js';
import type { Redis } from '../redis.js';

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
   * Stores a batch of positions at `atMs`, one command round trip (writes are coalesced by the caller). A shared
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
  /** Whose position it is, and when the node accepted it: the per-person limit across nodes counts these. */
  userId: string;
  acceptedAtMs: number;
}

/**
 * The per-person update limit, enforced by each node on arrival (the ack) and, across nodes, by the shared store
 * on write: at most UPDATE_BURST at once, refilled at UPDATES_PER_SECOND.
 */
export const UPDATES_PER_SECOND = 1;
export const UPDATE_BURST = 3;

export interface StoredPosition {
  share: ShareEntry;
  lat: number;
  lng: number;
  updatedAtMs: number;
  /** Filled by `nearby`: metres from its centre. */
  distanceM?: number;
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

// ---------------------------------------------------------------------------------------------------------------
// Memory: one process. The nearby layer is indexed by a grid of ~1 km cells; other layers are small maps.

const CELL_DEG = 0.01;
const cellOf = (lat: number, lng: number) => `${Math.floor(lat / CELL_DEG)}:${Math.floor(lng / CELL_DEG)}`;

interface MemPosition {
  lat: number;
  lng: number;
  at: number;
  cell: string;
}

export class MemoryLocationStore implements LocationStore {
  private readonly shares = new Map<string, ShareEntry>();
  private readonly byUser = new Map<string, Set<string>>();
  private readonly layers = new Map<string, Map<string, MemPosition>>();
  private readonly grids = new Map<string, Map<string, Set<string>>>();

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
    for (const share of shares) if (this.shares.has(share.shareId)) this.shares.set(share.shareId, share);
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
      if (!this.shares.has(w.shareId)) continue;
      let layer = this.layers.get(w.layer);
      if (!layer) this.layers.set(w.layer, (layer = new Map<string, MemPosition>()));
      const cell = cellOf(w.lat, w.lng);
      const prev = layer.get(w.shareId);
      if (prev && prev.cell !== cell) this.grid(w.layer).get(prev.cell)?.delete(w.shareId);
      if (!prev || prev.cell !== cell) {
        const grid = this.grid(w.layer);
        let ids = grid.get(cell);
        if (!ids) grid.set(cell, (ids = new Set()));
        ids.add(w.shareId);
      }
      if (prev) {
        prev.lat = w.lat;
        prev.lng = w.lng;
        prev.at = atMs;
        prev.cell = cell;
      } else layer.set(w.shareId, { lat: w.lat, lng: w.lng, at: atMs, cell });
    }
    return 0;
  }

  async layer(layer: string, freshAfterMs: number, limit: number): Promise<StoredPosition[]> {
    const out: StoredPosition[] = [];
    for (const [id, p] of this.layers.get(layer) ?? []) {
      const found = this.fresh(layer, id, p, freshAfterMs);
      if (found) out.push(found);
    }
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
    const positions = this.layers.get(layer);
    const grid = this.grids.get(layer);
    if (!positions || !grid) return [];
    const dLat = radiusM / 111_320;
    const dLng = radiusM / (111_320 * Math.max(0.01, Math.cos((centre.lat * Math.PI) / 180)));
    const out: StoredPosition[] = [];
    for (
      let i = Math.floor((centre.lat - dLat) / CELL_DEG);
      i <= Math.floor((centre.lat + dLat) / CELL_DEG);
      i++
    ) {
      for (
        let j = Math.floor((centre.lng - dLng) / CELL_DEG);
        j <= Math.floor((centre.lng + dLng) / CELL_DEG);
        j++
      ) {
        for (const id of grid.get(`${i}:${j}`) ?? []) {
          const p = positions.get(id);
          if (!p) continue;
          const found = this.fresh(layer, id, p, freshAfterMs);
          if (!found) continue;
          const d = distanceMeters(centre, p);
          if (d > radiusM) continue;
          found.distanceM = d;
          out.push(found);
        }
      }
    }
    out.sort((a, b) => a.distanceM! - b.distanceM!);
    return out.slice(0, count);
  }

  private fresh(layer: string, id: string, p: MemPosition, freshAfterMs: number): StoredPosition | null {
    const share = this.shares.get(id);
    if (!share || p.at <= freshAfterMs) {
      // Stale positions are forgotten, not kept hidden.
      this.dropPosition(layer, id);
      return null;
    }
    return { share, lat: p.lat, lng: p.lng, updatedAtMs: p.at };
  }

  private grid(layer: string): Map<string, Set<string>> {
    let grid = this.grids.get(layer);
    if (!grid) this.grids.set(layer, (grid = new Map<string, Set<string>>()));
    return grid;
  }

  private dropPosition(layer: string, shareId: string): void {
    const positions = this.layers.get(layer);
    const p = positions?.get(shareId);
    if (!p) return;
    positions!.delete(shareId);
    const ids = this.grids.get(layer)?.get(p.cell);
    ids?.delete(shareId);
    if (ids?.size === 0) this.grids.get(layer)!.delete(p.cell);
    if (positions!.size === 0) {
      this.layers.delete(layer);
      this.grids.delete(layer);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Redis: every node. Keys (under the deployment prefix): `loc:meta` hash shareId → share (registered shares),
// `loc:user:<id>` set of a person's share ids, `loc:geo:<layer>` GEO set and `loc:seen:<layer>` sorted set of
// update times. Scripts keep each batch and each query to one round trip, and make a write for a share that was
// removed a no-op (Redis runs a script atomically, so "stop" and a late write cannot interleave).

// The write also enforces the per-person limit across nodes: each node limits what it accepts, but a person with
// devices on two nodes could otherwise be stored twice as often. A token bucket per person (`loc:rate:<id>`,
// "tokens:time", expiring once it would be full again) is charged once per batch for each person in it, at the
// time the node accepted the update; a person over the limit has this batch's positions dropped (the ack has
// gone already). One node's writes never trip it: a node writes a subset of what its own bucket accepted, at the
// same times. Returns how many positions were dropped by the limit.
const WRITE_SCRIPT = `
local p = ARGV[1]
local now = ARGV[2]
local perSec = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local allowed = {}
local dropped = 0
for i = 5, #ARGV, 6 do
  local id = ARGV[i]
  local uid = ARGV[i + 4]
  local ok = allowed[uid]
  if ok == nil then
    local t = tonumber(ARGV[i + 5])
    local key = p .. 'loc:rate:' .. uid
    local raw = redis.call('GET', key)
    local tokens = burst
    local at = t
    if raw then
      local sep = string.find(raw, ':', 1, true)
      at = tonumber(string.sub(raw, sep + 1))
      tokens = math.min(burst, tonumber(string.sub(raw, 1, sep - 1)) + math.max(0, t - at) / 1000 * perSec)
      if t > at then at = t end
    end
    ok = tokens >= 1
    if ok then tokens = tokens - 1 end
    redis.call('SET', key, tostring(tokens) .. ':' .. tostring(at), 'PX', math.ceil(burst / perSec * 1000) + 1000)
    allowed[uid] = ok
  end
  if not ok then
    dropped = dropped + 1
  elseif redis.call('HEXISTS', p .. 'loc:meta', id) == 1 then
    local layer = ARGV[i + 1]
    redis.call('GEOADD', p .. 'loc:geo:' .. layer, ARGV[i + 2], ARGV[i + 3], id)
    redis.call('ZADD', p .. 'loc:seen:' .. layer, now, id)
  end
end
return dropped
`;

// Both queries first forget stale positions of the layer (bounded per call), then answer
// [id, lng, lat, updatedAt, distance or '']… flattened, for registered shares only (the caller knows the shares).
const PRUNE = `
local p = ARGV[1]
local geo = p .. 'loc:geo:' .. ARGV[2]
local seen = p .. 'loc:seen:' .. ARGV[2]
local stale = redis.call('ZRANGEBYSCORE', seen, '-inf', ARGV[3], 'LIMIT', 0, 500)
if #stale > 0 then
  redis.call('ZREM', seen, unpack(stale))
  redis.call('ZREM', geo, unpack(stale))
end
`;

const NEARBY_SCRIPT = `${PRUNE}
local res = redis.call('GEOSEARCH', geo, 'FROMLONLAT', ARGV[4], ARGV[5], 'BYRADIUS', ARGV[6], 'm', 'ASC', 'COUNT', ARGV[7], 'WITHCOORD', 'WITHDIST')
local out = {}
for _, r in ipairs(res) do
  if redis.call('HEXISTS', p .. 'loc:meta', r[1]) == 1 then
    out[#out + 1] = r[1]
    out[#out + 1] = r[3][1]
    out[#out + 1] = r[3][2]
    out[#out + 1] = redis.call('ZSCORE', seen, r[1]) or '0'
    out[#out + 1] = r[2]
  end
end
return out
`;

const LAYER_SCRIPT = `${PRUNE}
local ids = redis.call('ZREVRANGEBYSCORE', seen, '+inf', '(' .. ARGV[3], 'WITHSCORES', 'LIMIT', 0, ARGV[4])
local out = {}
for i = 1, #ids, 2 do
  local id = ids[i]
  local pos = redis.call('GEOPOS', geo, id)[1]
  if pos and redis.call('HEXISTS', p .. 'loc:meta', id) == 1 then
    out[#out + 1] = id
    out[#out + 1] = pos[1]
    out[#out + 1] = pos[2]
    out[#out + 1] = ids[i + 1]
    out[#out + 1] = ''
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

type ScriptClient = Redis & {
  locUpdateShares(...args: string[]): Promise<unknown>;
  locWrite(...args: (string | number)[]): Promise<number>;
  locNearby(...args: (string | number)[]): Promise<string[]>;
  locLayer(...args: (string | number)[]): Promise<string[]>;
};

/** Decoded shares kept per node: a share never changes once made, so only its removal matters (checked in Redis). */
const SHARE_CACHE_MAX = 200_000;

export class RedisLocationStore implements LocationStore {
  private readonly redis: ScriptClient;
  private readonly shares = new Map<string, ShareEntry>();
  /** When a cached share that looked ended was last read again. */
  private readonly reread = new Map<string, number>();

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    this.redis = redis as ScriptClient;
    if (typeof this.redis.locWrite !== 'function') {
      redis.defineCommand('locWrite', { numberOfKeys: 0, lua: WRITE_SCRIPT });
      redis.defineCommand('locNearby', { numberOfKeys: 0, lua: NEARBY_SCRIPT });
      redis.defineCommand('locLayer', { numberOfKeys: 0, lua: LAYER_SCRIPT });
      redis.defineCommand('locUpdateShares', { numberOfKeys: 0, lua: UPDATE_SHARES_SCRIPT });
    }
  }

  private key(suffix: string): string {
    return `${this.prefix}loc:${suffix}`;
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
    const multi = this.redis.multi();
    for (const s of shares) {
      this.shares.delete(s.shareId);
      this.reread.delete(s.shareId);
      multi
        .hdel(this.key('meta'), s.shareId)
        .srem(this.key(`user:${s.userId}`), s.shareId)
        .zrem(this.key(`geo:${s.layer}`), s.shareId)
        .zrem(this.key(`seen:${s.layer}`), s.shareId);
    }
    await multi.exec();
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
    const ids = await this.redis.smembers(this.key(`user:${userId}`));
    if (ids.length === 0) return [];
    const raws = await this.redis.hmget(this.key('meta'), ...ids);
    const out: ShareEntry[] = [];
    ids.forEach((id, i) => {
      const share = raws[i] ? decodeShare(id, raws[i]) : null;
      if (share) out.push(share);
    });
    return out;
  }

  async write(batch: PositionWrite[], atMs: number): Promise<number> {
    if (batch.length === 0) return 0;
    const args: (string | number)[] = [this.prefix, atMs, UPDATES_PER_SECOND, UPDATE_BURST];
    for (const w of batch) args.push(w.shareId, w.layer, w.lng, w.lat, w.userId, w.acceptedAtMs);
    return this.redis.locWrite(...args);
  }

  async layer(layer: string, freshAfterMs: number, limit: number): Promise<StoredPosition[]> {
    return this.decode(await this.redis.locLayer(this.prefix, layer, freshAfterMs, limit));
  }

  async nearby(
    layer: string,
    centre: Point,
    radiusM: number,
    count: number,
    freshAfterMs: number,
  ): Promise<StoredPosition[]> {
    return this.decode(
      await this.redis.locNearby(this.prefix, layer, freshAfterMs, centre.lng, centre.lat, radiusM, count),
    );
  }

  private async decode(flat: string[]): Promise<StoredPosition[]> {
    const unknown: string[] = [];
    const wall = Date.now();
    for (let i = 0; i + 4 < flat.length; i += 5) {
      const cached = this.shares.get(flat[i]!);
      // A share still registered past the end this node knows may have been given a later end through
      // another node (its event was rescheduled): read again, at most once a second, until swept or renewed.
      if (!cached || (cached.endsAtMs <= wall && wall - (this.reread.get(cached.shareId) ?? 0) >= 1_000)) {
        unknown.push(flat[i]!);
        if (cached) this.reread.set(cached.shareId, wall);
      }
    }
    if (unknown.length > 0) {
      const raws = await this.redis.hmget(this.key('meta'), ...unknown);
      unknown.forEach((id, i) => {
        const share = raws[i] ? decodeShare(id, raws[i]) : null;
        if (share) this.remember(share);
      });
    }
    const out: StoredPosition[] = [];
    for (let i = 0; i + 4 < flat.length; i += 5) {
      const share = this.shares.get(flat[i]!);
      if (!share) continue;
      const pos: StoredPosition = {
        share,
        lng: Number(flat[i + 1]),
        lat: Number(flat[i + 2]),
        updatedAtMs: Number(flat[i + 3]),
      };
      if (flat[i + 4] !== '') pos.distanceM = Number(flat[i + 4]);
      out.push(pos);
    }
    return out;
  }

  private remember(share: ShareEntry): void {
    // Entries of shares removed through another node linger until this bound; Redis decides what is shown.
    if (this.shares.size >= SHARE_CACHE_MAX) {
      this.shares.clear();
      this.reread.clear();
    }
    this.shares.set(share.shareId, share);
  }
}
