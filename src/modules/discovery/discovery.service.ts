import type { Config } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import type { Executor } from '../../infra/db/database.js';
import type { Actor } from '../../shared/context.js';
import { AppError } from '../../shared/errors.js';
import { distanceMeters } from '../../shared/geo.js';
import type { Region } from '../../shared/regions.js';
import type { GroupDirectory } from '../events/event-access.js';
import { decodeCursor, encodeCursor, filtersDigest } from './discovery.cursor.js';
import { listableInGroup } from './discovery.policy.js';
import type {
  Bound,
  Circle,
  DiscoveryRepository,
  EventCardRow,
  EventFilters,
  Kind,
  LengthBucket,
  MineView,
  PinRow,
  Sort,
  Theme,
  TimeBand,
} from './discovery.repository.js';

/** A person's discovery preferences, as the accounts module keeps them (`PATCH /v1/me`). */
export interface PreferenceSource {
  preferences(
    userId: string,
  ): Promise<{ region: string | null; distanceKm: number | null; interests: string[] } | null>;
}

/** The search request as the routes pass it: query-string values, validated by schema, not yet combined. */
export interface SearchInput {
  q?: string;
  tags?: string[];
  theme?: Theme[];
  kind?: Kind[];
  from?: string;
  to?: string;
  timeOfDay?: TimeBand[];
  region?: Region[];
  lat?: number;
  lng?: number;
  radiusKm?: number;
  bbox?: string;
  length?: LengthBucket[];
  openOnly?: boolean;
  groupId?: string;
  sort?: Sort;
  cursor?: string;
  limit?: number;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const RECOMMEND_HORIZON_DAYS = 30;

/**
 * Finding events: search with filters and keyset pages, map pins, "mine" views and recommendations. Only
 * public events are listed, plus a group's own events for its members; nothing here reveals a private event
 * to someone who could not open it.
 */
export class DiscoveryService {
  constructor(
    private readonly deps: {
      repo: DiscoveryRepository;
      db: Executor;
      clock: Clock;
      groups: GroupDirectory;
      preferences: PreferenceSource;
      config: Config['discovery'];
    },
  ) {}

  async search(actor: Actor | null, input: SearchInput): Promise<Page<EventCardRow>> {
    const viewerId = actor?.userId ?? null;
    const filters = await this.filters(input, viewerId);
    const sort = input.sort ?? (filters.near ? 'nearest' : 'soonest');
    if (sort === 'nearest' && !filters.near) {
      throw invalid('/query/sort', '"nearest" needs lat and lng');
    }
    const limit = input.limit ?? 20;
    // The digest covers the normalized filters, the point included: a cursor cannot be replayed elsewhere.
    const digest = filtersDigest({
      ...filters,
      from: input.from ?? null,
      includeGroupPrivate: undefined,
      sort,
    });
    const after = input.cursor
      ? decodeCursor(input.cursor, {
          sort,
          digest,
          key: sort === 'liked' ? 'int' : sort === 'nearest' ? 'number' : 'time',
        })
      : undefined;
    const now = this.deps.clock.now();
    const rows = await this.deps.repo.search(
      this.deps.db,
      filters,
      { sort, ...(after ? { after: { key: after.key, id: after.id } } : {}) },
      limit + 1,
      { now, viewerId },
    );
    return this.page(rows, limit, (last) => encodeCursor({ sort, key: last.sortKey, id: last.id }, digest));
  }

  /** Light pins in a circle or a bounding box, nearest to its centre first, at most `DISCOVERY_MAP_MAX_PINS`. */
  async map(
    actor: Actor | null,
    input: SearchInput & { limit?: number },
  ): Promise<{ items: PinRow[]; truncated: boolean }> {
    const filters = await this.filters(input, actor?.userId ?? null);
    if (!filters.near) throw invalid('/query', 'give lat, lng and radiusKm, or bbox');
    const cap = Math.min(input.limit ?? this.deps.config.mapMaxPins, this.deps.config.mapMaxPins);
    const rows = await this.deps.repo.pins(this.deps.db, filters, cap + 1, this.deps.clock.now());
    return { items: rows.slice(0, cap), truncated: rows.length > cap };
  }

  async mine(
    actor: Actor,
    view: MineView,
    input: { cursor?: string; limit?: number },
  ): Promise<Page<EventCardRow>> {
    const limit = input.limit ?? 20;
    const digest = filtersDigest({ view });
    const after = input.cursor
      ? decodeCursor(input.cursor, { sort: `mine:${view}`, digest, key: 'time' })
      : undefined;
    const rows = await this.deps.repo.mine(
      this.deps.db,
      actor.userId,
      view,
      after ? { key: after.key as string, id: after.id } : undefined,
      limit + 1,
      this.deps.clock.now(),
    );
    return this.page(rows, limit, (last) =>
      encodeCursor({ sort: `mine:${view}`, key: last.sortKey, id: last.id }, digest),
    );
  }

  /**
   * Open events picked for the person from their preferred region, course length and interests (tags and
   * themes), near a point when one is given. With no preferences at all, the soonest open events (near the
   * point, if any). When the preferences match nothing, the ranking still returns the soonest open events:
   * every criterion adds to a score rather than filtering.
   */
  async recommended(
    actor: Actor,
    input: { lat?: number; lng?: number; radiusKm?: number; limit?: number },
  ): Promise<{
    items: EventCardRow[];
    basedOn: { region: string | null; distanceKm: number | null; interests: string[] };
  }> {
    const prefs = (await this.deps.preferences.preferences(actor.userId)) ?? {
      region: null,
      distanceKm: null,
      interests: [],
    };
    const near = this.circle(input.lat, input.lng, input.radiusKm, 'recommended');
    const items = await this.deps.repo.recommended(this.deps.db, prefs, near, input.limit ?? 20, {
      now: this.deps.clock.now(),
      viewerId: actor.userId,
      horizonDays: RECOMMEND_HORIZON_DAYS,
      bannedFrom: await this.deps.groups.bannedGroupIds(this.deps.db, actor.userId),
    });
    return { items, basedOn: prefs };
  }

  private page(
    rows: EventCardRow[],
    limit: number,
    cursorOf: (last: EventCardRow) => string,
  ): Page<EventCardRow> {
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? cursorOf(last) : null };
  }

  /** Checks and combines the query into filters; a group filter needs the group to be visible to the caller. */
  private async filters(input: SearchInput, viewerId: string | null): Promise<EventFilters> {
    const now = this.deps.clock.now();
    const f: EventFilters = {};
    const q = input.q?.trim();
    if (q) f.q = q;
    if (input.tags?.length) f.tags = [...new Set(input.tags.map((t) => t.trim().toLowerCase()))].sort();
    if (input.theme?.length) f.themes = [...new Set(input.theme)].sort();
    if (input.kind?.length) f.kinds = [...new Set(input.kind)].sort();
    if (input.region?.length) f.regions = [...new Set(input.region)].sort();
    if (input.timeOfDay?.length) f.bands = [...new Set(input.timeOfDay)].sort();
    if (input.length?.length) f.lengths = [...new Set(input.length)].sort();
    // Upcoming by default: discovery is for things one can still go to; a `from` in the past shows history.
    f.from = input.from ? bound(input.from, '/query/from') : { at: now };
    if (input.to) f.to = bound(input.to, '/query/to');
    if (input.openOnly) f.openOnly = true;

    if (input.bbox !== undefined) {
      if (input.lat !== undefined || input.lng !== undefined) {
        throw invalid('/query/bbox', 'give either bbox or lat and lng, not both');
      }
      const box = parseBox(input.bbox);
      const centre = { lat: (box.minLat + box.maxLat) / 2, lng: (box.minLng + box.maxLng) / 2 };
      const radiusM = Math.ceil(distanceMeters(centre, { lat: box.maxLat, lng: box.maxLng })) + 1;
      if (radiusM > this.deps.config.maxRadiusKm * 1000) {
        throw invalid('/query/bbox', `the box must fit in a circle of ${this.deps.config.maxRadiusKm} km`);
      }
      f.near = { ...centre, radiusM };
      f.box = box;
    } else {
      const near = this.circle(input.lat, input.lng, input.radiusKm, 'search');
      if (near) f.near = near;
    }

    if (input.groupId) {
      f.groupId = input.groupId;
      f.includeGroupPrivate = await listableInGroup(this.deps.db, this.deps.groups, input.groupId, viewerId);
    }
    return f;
  }

  private circle(
    lat: number | undefined,
    lng: number | undefined,
    radiusKm: number | undefined,
    use: 'search' | 'recommended',
  ): Circle | null {
    if (lat === undefined && lng === undefined) {
      if (radiusKm !== undefined) throw invalid('/query/radiusKm', 'needs lat and lng');
      return null;
    }
    if (lat === undefined || lng === undefined) throw invalid('/query/lat', 'give both lat and lng');
    const max = this.deps.config.maxRadiusKm;
    const km = radiusKm ?? (use === 'search' ? Math.min(10, max) : Math.min(20, max));
    if (km > max) throw invalid('/query/radiusKm', `must be at most ${max}`);
    return { lat, lng, radiusM: km * 1000 };
  }
}

function bound(raw: string, path: string): Bound {
  if (DAY.test(raw)) {
    if (Number.isNaN(Date.parse(`${raw}T00:00:00Z`))) throw invalid(path, 'is not a date');
    return { day: raw };
  }
  const at = new Date(raw);
  if (Number.isNaN(at.getTime())) throw invalid(path, 'must be a date (YYYY-MM-DD) or an RFC 3339 time');
  return { at };
}

function parseBox(raw: string): NonNullable<EventFilters['box']> {
  const parts = raw.split(',').map((p) => Number(p.trim()));
  const [minLat, minLng, maxLat, maxLng] = parts;
  if (
    parts.length !== 4 ||
    parts.some((n) => !Number.isFinite(n)) ||
    minLat! < -90 ||
    maxLat! > 90 ||
    minLng! < -180 ||
    maxLng! > 180 ||
    minLat! >= maxLat! ||
    minLng! >= maxLng!
  ) {
    throw invalid('/query/bbox', 'must be minLat,minLng,maxLat,maxLng with min < max');
  }
  return { minLat: minLat!, minLng: minLng!, maxLat: maxLat!, maxLng: maxLng! };
}

export function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', 'The request is not valid.', { details: [{ path, message }] });
}
