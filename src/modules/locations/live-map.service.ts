import type { Config } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import type { Executor } from '../../infra/db/database.js';
import type { LocationStore, ShareEntry, StoredPosition } from '../../infra/geo/location-store.js';
import type { Logger } from '../../infra/logger.js';
import type { MoimSocket } from '../../realtime/gateway.js';
import { AppError } from '../../shared/errors.js';
import { distanceMeters, type Point } from '../../shared/geo.js';
import type { EventPin, Layer, LocationFrame, PersonOnMap } from './locations.dto.js';
import { layerKey } from './locations.policy.js';
import type { LocationsRepository, OpenEventRow } from './locations.repository.js';
import type { LocationService } from './locations.service.js';

export const MAX_PEOPLE = 50;
export const MAX_PINS = 50;
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 4;
/** How often a subscription's right to its layer is checked again (groups announce no departures yet). */
const RECHECK_MS = 30_000;
/**
 * How many positions a nearby query asks for: enough that each subscriber still has its 50 nearest after its own
 * position and ended shares are left out.
 */
const NEARBY_QUERY_COUNT = 2 * MAX_PEOPLE;
/** How many positions of an event or group layer are read per tick (most recent first). */
const LAYER_READ_LIMIT = 500;

/** The socket room a subscription to an event's or group's map holds: leaving it ends the subscription. */
export const mapRoom = (type: 'event' | 'group', id: string) => `locmap:${type}:${id}`;

interface Subscription {
  key: string;
  id: string;
  socket: MoimSocket;
  viewerId: string;
  type: Layer['type'];
  layer: string;
  room: string | null;
  targetId: string | null;
  centre: Point | null;
  radiusM: number;
  /** Event layers: when the map closes. */
  closesAtMs: number | null;
  lastSignature: number;
  /** Which slice of the push interval this subscription is handled in. */
  slice: number;
  checkedAt: number;
  checking: boolean;
}

/** Open events by grid cell. */
type PinIndex = Map<string, OpenEventRow[]>;
const PIN_CELL_DEG = 0.01;
/** Most open events a node loads around its nearby subscribers (soonest first). */
const PIN_LOAD_LIMIT = 5_000;
/** Subscriptions are spread over slices this far apart within the push interval. */
const SLICE_MS = 100;

/**
 * Live maps on this node: each subscription (a socket watching an event's, a group's, or the nearby layer) gets
 * a frame every LOCATION_PUSH_INTERVAL_MS when what it shows changed. Subscribers of one event or group layer
 * share one store query per tick; nearby ones query the store's in-memory grid around their own centre. Every
 * person a frame shows is counted in the access log.
 */
export class LiveMapService {
  private readonly subs = new Map<string, Subscription>();
  private readonly bySocket = new Map<string, Set<string>>();
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  private readonly ticking = new Set<number>();
  private readonly slices: number;
  /** The subscriptions of each slice, so a slice's tick does not walk every subscription of the node. */
  private readonly bySlice = new Map<number, Set<Subscription>>();
  private pinCache: { index: PinIndex; loadedAt: number; centre: Point; reach: number } | undefined;
  private pinLoading: Promise<PinIndex> | undefined;
  private readonly pinRefreshMs: number;
  /** The last frame time as text: every frame of a tick has the same. */
  private atIso: { ms: number; text: string } | undefined;

  constructor(
    private readonly deps: {
      repo: LocationsRepository;
      db: Executor;
      clock: Clock;
      store: LocationStore;
      locations: LocationService;
      logger: Logger;
      config: Config['locations'];
    },
  ) {
    this.slices = Math.max(1, Math.round(deps.config.pushIntervalMs / SLICE_MS));
    // Pins are reloaded at most about once a push interval (and at most every second).
    this.pinRefreshMs = Math.min(1_000, deps.config.pushIntervalMs / 2);
  }

  async subscribe(
    socket: MoimSocket,
    viewerId: string,
    layer: Layer,
  ): Promise<{ subscriptionId: string; intervalMs: number; frame: LocationFrame }> {
    const { locations, config, clock } = this.deps;
    this.assertRoomFor(socket);
    const now = clock.now();
    let centre: Point | null =
      layer.lat !== undefined && layer.lng !== undefined ? { lat: layer.lat, lng: layer.lng } : null;
    let room: string | null = null;
    let targetId: string | null = null;
    let closesAtMs: number | null = null;
    let radiusM = 0;
    if (layer.type === 'event') {
      const event = await locations.eventOpenTo(layer.eventId, viewerId, now);
      targetId = layer.eventId;
      room = mapRoom('event', layer.eventId);
      closesAtMs = event.endsAt.getTime();
      if (!centre && event.lat !== null && event.lng !== null) centre = { lat: event.lat, lng: event.lng };
    } else if (layer.type === 'group') {
      await locations.assertGroupMember(layer.groupId, viewerId);
      targetId = layer.groupId;
      room = mapRoom('group', layer.groupId);
    } else {
      if (layer.radiusM > config.nearbyMaxRadiusM) {
        throw new AppError('VALIDATION_FAILED', 'The radius is too large.', {
          details: [{ path: '/layer/radiusM', message: `at most ${config.nearbyMaxRadiusM}` }],
        });
      }
      radiusM = layer.radiusM;
    }
    if (room) await socket.join(room);
    // The socket may have gone while the checks ran: then there is nothing to watch for.
    if (!socket.connected) throw new AppError('BAD_REQUEST', 'The socket is closing.');
    // Checked again: other subscribe calls of this socket may have finished while this one awaited.
    this.assertRoomFor(socket);

    const id = `s${(this.nextId++).toString(36)}`;
    const sub: Subscription = {
      key: `${socket.id}:${id}`,
      id,
      socket,
      viewerId,
      type: layer.type,
      layer: layerKey(layer.type, targetId),
      room,
      targetId,
      centre,
      radiusM,
      closesAtMs,
      lastSignature: -1,
      slice: 0,
      checkedAt: now.getTime(),
      checking: false,
    };
    // Subscribers that share a query are handled in the same slice, so the query is made once per interval
    // for all of them; different queries spread over the slices.
    sub.slice = stringHash(this.queryKey(sub)) % this.slices;
    this.subs.set(sub.key, sub);
    this.sliceSet(sub.slice).add(sub);
    const set = this.bySocket.get(socket.id) ?? new Set<string>();
    set.add(sub.key);
    this.bySocket.set(socket.id, set);

    const at = now.getTime();
    try {
      const [found, pins] = await Promise.all([
        this.query(sub, at),
        sub.type === 'nearby' ? this.pins(at, sub) : null,
      ]);
      const parts = this.framePartsFor(sub, at, found, pins, false)!;
      this.record(sub, parts, at);
      return {
        subscriptionId: id,
        intervalMs: config.pushIntervalMs,
        frame: this.frameObject(sub, at, parts),
      };
    } catch (err) {
      // The client is told it failed: it must not receive frames of a subscription it does not know.
      this.remove(sub);
      throw err;
    }
  }

  private assertRoomFor(socket: MoimSocket): void {
    if ((this.bySocket.get(socket.id)?.size ?? 0) >= MAX_SUBSCRIPTIONS_PER_SOCKET) {
      throw new AppError(
        'LOCATION_SUBSCRIPTION_LIMIT',
        `A socket may watch at most ${MAX_SUBSCRIPTIONS_PER_SOCKET} maps; unsubscribe one first.`,
      );
    }
  }

  unsubscribe(socket: MoimSocket, subscriptionId: string): void {
    const sub = this.subs.get(`${socket.id}:${subscriptionId}`);
    if (!sub) throw new AppError('NOT_FOUND', 'No such subscription.');
    this.remove(sub);
  }

  /** Forgets every subscription of a socket that went away. */
  dropSocket(socketId: string): void {
    for (const key of this.bySocket.get(socketId) ?? []) {
      const sub = this.subs.get(key);
      if (sub) this.bySlice.get(sub.slice)?.delete(sub);
      this.subs.delete(key);
    }
    this.bySocket.delete(socketId);
  }

  private sliceSet(slice: number): Set<Subscription> {
    let set = this.bySlice.get(slice);
    if (!set) this.bySlice.set(slice, (set = new Set()));
    return set;
  }

  get size(): number {
    return this.subs.size;
  }

  start(): void {
    const sliceMs = this.deps.config.pushIntervalMs / this.slices;
    const started = performance.now();
    let done = -1;
    // A timer that fires late (a busy loop) must not skip slices: every slice that came due since the last run
    // is handled now, each at most once per run.
    this.timer = setInterval(() => {
      const due = Math.floor((performance.now() - started) / sliceMs);
      done = Math.max(done, due - this.slices);
      for (; done < due;) {
        this.tick(++done % this.slices).catch((err: unknown) =>
          this.deps.logger.warn({ err }, 'live map tick failed'),
        );
      }
    }, sliceMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * One round for one slice of the subscriptions (all of them without `slice`): every subscription whose frame
   * changed gets it. Subscriptions are spread over slices ~100 ms apart, so a node with thousands of them
   * builds and sends a small share of the frames at a time instead of stalling its event loop every interval.
   */
  async tick(slice?: number): Promise<void> {
    const key = slice ?? -1;
    if (this.ticking.has(key)) return;
    this.ticking.add(key);
    try {
      const now = this.deps.clock.now().getTime();
      const groups = new Map<string, Subscription[]>();
      for (const sub of slice !== undefined ? (this.bySlice.get(slice) ?? []) : this.subs.values()) {
        if (!sub.socket.connected) {
          this.remove(sub);
          continue;
        }
        if (sub.room && !sub.socket.rooms.has(sub.room)) {
          this.end(sub, 'audience_left');
          continue;
        }
        if (sub.closesAtMs !== null && now >= sub.closesAtMs) {
          // The event may have been rescheduled to end later: asked again before the map is closed.
          if (!sub.checking) this.recheck(sub);
          continue;
        }
        if (sub.room && !sub.checking && now - sub.checkedAt >= RECHECK_MS) this.recheck(sub);
        const q = this.queryKey(sub);
        const list = groups.get(q);
        if (list) list.push(sub);
        else groups.set(q, [sub]);
      }
      if (groups.size === 0) return;
      const pins = [...groups.values()].some((g) => g[0]!.type === 'nearby')
        ? await this.pinsOrLast(now)
        : null;
      await Promise.all(
        [...groups.values()].map(async (subs) => {
          try {
            const found = await this.query(subs[0]!, now);
            for (const sub of subs) {
              if (!this.subs.has(sub.key)) continue;
              const parts = this.framePartsFor(sub, now, found, pins, true);
              if (!parts) continue;
              sendEncoded(sub.socket, this.framePacket(sub, now, parts));
              this.record(sub, parts, now);
            }
          } catch (err) {
            this.deps.logger.warn({ err }, 'live map frame failed');
          }
        }),
      );
    } finally {
      this.ticking.delete(key);
    }
  }

  /**
   * Subscribers with the same key share one store query per tick: those of one event or group layer. Nearby
   * queries are answered in memory (the embedded grid, or a services node's mirror of the layer), so each
   * subscriber asks for its own centre and radius.
   */
  private queryKey(sub: Subscription): string {
    return sub.type === 'nearby' ? sub.key : sub.layer;
  }

  private query(sub: Subscription, now: number): Promise<StoredPosition[]> {
    const { store, config } = this.deps;
    const freshAfter = now - config.staleMs;
    if (sub.type !== 'nearby') return store.layer(sub.layer, freshAfter, LAYER_READ_LIMIT);
    return store.nearby(sub.layer, sub.centre!, sub.radiusM, NEARBY_QUERY_COUNT, freshAfter);
  }

  /**
   * Pins for a tick: when they cannot be reloaded (the database is slow or down), the last ones still serve and
   * people keep seeing each other; a tick must never fail, or take the process down, over pins.
   */
  private async pinsOrLast(now: number): Promise<PinIndex | null> {
    try {
      return await this.pins(now);
    } catch (err) {
      this.deps.logger.warn({ err }, 'live map pins could not be reloaded');
      return this.pinCache?.index ?? null;
    }
  }

  /**
   * The open events around every nearby subscriber of this node, in a grid: one query for all of them, at most
   * once per PIN_REFRESH, instead of one per subscriber or cell.
   */
  private async pins(now: number, newcomer?: Subscription): Promise<PinIndex> {
    const wall = Date.now();
    const cache = this.pinCache;
    const covered =
      !newcomer ||
      (cache !== undefined &&
        distanceMeters(cache.centre, newcomer.centre!) + newcomer.radiusM <= cache.reach);
    if (cache && covered && wall - cache.loadedAt < this.pinRefreshMs) return cache.index;
    if (this.pinLoading && !newcomer) return this.pinLoading;
    if (this.pinLoading) await this.pinLoading.catch(() => undefined);
    this.pinLoading = (async () => {
      let south = 90;
      let north = -90;
      let west = 180;
      let east = -180;
      let radius = 0;
      for (const sub of this.subs.values()) {
        if (sub.type !== 'nearby') continue;
        const c = sub.centre!;
        south = Math.min(south, c.lat);
        north = Math.max(north, c.lat);
        west = Math.min(west, c.lng);
        east = Math.max(east, c.lng);
        radius = Math.max(radius, sub.radiusM);
      }
      const index: PinIndex = new Map();
      const centre = { lat: (south + north) / 2, lng: (west + east) / 2 };
      let reach = 0;
      if (radius > 0) {
        reach = distanceMeters(centre, { lat: north, lng: east }) + radius;
        const rows = await this.deps.repo.openEventsNear(
          this.deps.db,
          centre,
          reach,
          new Date(now),
          PIN_LOAD_LIMIT,
        );
        for (const row of rows) {
          const cell = pinCell(row.lat, row.lng);
          const list = index.get(cell);
          if (list) list.push(row);
          else index.set(cell, [row]);
        }
      }
      this.pinCache = { index, loadedAt: wall, centre, reach };
      return index;
    })().finally(() => (this.pinLoading = undefined));
    return this.pinLoading;
  }

  /**
   * What a subscription's frame shows now; with `onlyIfChanged`, null when it shows what it showed last time
   * (checked on a hash before anything is built, since most of a busy node's subscriptions are checked often).
   */
  private framePartsFor(
    sub: Subscription,
    now: number,
    found: StoredPosition[],
    pins: PinIndex | null,
    onlyIfChanged: boolean,
  ): FrameParts | null {
    const freshAfter = now - this.deps.config.staleMs;
    const centre = sub.centre;
    let picked: StoredPosition[] = [];
    let distances: number[] = [];
    for (const pos of found) {
      const share = pos.share;
      if (share.userId === sub.viewerId || share.endsAtMs <= now || pos.updatedAtMs <= freshAfter) continue;
      const d = centre ? distanceMeters(centre, pos) : -1;
      if (sub.type === 'nearby' && d > sub.radiusM) continue;
      picked.push(pos);
      distances.push(d);
      // A nearby answer is nearest first from this very centre already; an event's or group's is not.
      if (sub.type === 'nearby' && picked.length === MAX_PEOPLE) break;
    }
    if (centre && sub.type !== 'nearby') {
      const order = picked.map((_, i) => i).sort((a, b) => distances[a]! - distances[b]!);
      const [byPos, byD] = [picked, distances];
      picked = order.map((i) => byPos[i]!);
      distances = order.map((i) => byD[i]!);
    }
    // Without a centre, the most recently updated first (the order the store answered in).
    if (picked.length > MAX_PEOPLE) picked.length = distances.length = MAX_PEOPLE;

    let events: EventPin[] | undefined;
    if (sub.type === 'nearby' && pins) {
      const near: { row: OpenEventRow; d: number }[] = [];
      const c = centre!;
      const dLat = sub.radiusM / 111_320;
      const dLng = sub.radiusM / (111_320 * Math.max(0.01, Math.cos((c.lat * Math.PI) / 180)));
      for (
        let i = Math.floor((c.lat - dLat) / PIN_CELL_DEG);
        i <= Math.floor((c.lat + dLat) / PIN_CELL_DEG);
        i++
      ) {
        for (
          let j = Math.floor((c.lng - dLng) / PIN_CELL_DEG);
          j <= Math.floor((c.lng + dLng) / PIN_CELL_DEG);
          j++
        ) {
          for (const row of pins.get(`${i}:${j}`) ?? []) {
            if (row.startsAt.getTime() <= now) continue;
            const d = distanceMeters(c, row);
            if (d <= sub.radiusM) near.push({ row, d });
          }
        }
      }
      near.sort((a, b) => a.d - b.d);
      if (near.length > MAX_PINS) near.length = MAX_PINS;
      events = near.map(({ row: e, d }): EventPin => ({
        id: e.id,
        title: e.title,
        lat: e.lat,
        lng: e.lng,
        startsAt: e.startsAt.toISOString(),
        goingCount: e.goingCount,
        capacity: e.capacity,
        distanceM: Math.round(d),
      }));
    }

    let h1 = 0x811c9dc5;
    let h2 = 0x01000193;
    for (const pos of picked) {
      h1 = mix(h1, shareHash(pos.share));
      h1 = mix(h1, Math.round(pos.lat * 1e6));
      h2 = mix(h2, Math.round(pos.lng * 1e6));
      h2 = mix(h2, h1);
    }
    if (events) {
      h2 = mix(h2, 0x5bd1e995);
      for (const e of events) {
        h2 = mix(h2, stringHash(e.id));
        h2 = mix(h2, e.goingCount);
      }
    }
    const signature = h1 * 0x200000 + (h2 & 0x1fffff);
    if (onlyIfChanged && signature === sub.lastSignature) return null;
    sub.lastSignature = signature;

    return { picked, distances: centre ? distances : null, ...(events ? { events } : {}) };
  }

  private frameAt(now: number): string {
    if (this.atIso?.ms !== now) this.atIso = { ms: now, text: new Date(now).toISOString() };
    return this.atIso.text;
  }

  /** The frame as an object (a subscribe's answer). */
  private frameObject(sub: Subscription, now: number, parts: FrameParts): LocationFrame {
    const people: PersonOnMap[] = parts.picked.map((pos, i) => ({
      userId: pos.share.userId,
      nickname: pos.share.nickname,
      shareId: pos.share.shareId,
      lat: pos.lat,
      lng: pos.lng,
      precision: pos.share.precision,
      distanceM: parts.distances ? Math.round(parts.distances[i]!) : null,
      updatedAt: updatedAtText(pos),
    }));
    const frame: LocationFrame = { subscriptionId: sub.id, at: this.frameAt(now), people };
    if (parts.events) frame.events = parts.events;
    return frame;
  }

  /**
   * The frame as the Socket.IO packet `frameObject` would be encoded to, built from each person's part encoded
   * once per position (a position is in the frames of every subscriber around it, ~30 of them at 10,000 people)
   * instead of one JSON.stringify of the whole frame per subscriber, and without the encoder's walk for binary
   * data there is none of.
   */
  private framePacket(sub: Subscription, now: number, parts: FrameParts): string {
    // Pieces joined once: a string grown by `+=` is a rope that the socket's byteLength flattens again, which
    // cost more than encoding the frame had.
    const pieces: (string | number)[] = [
      `2["location:frame",{"subscriptionId":"${sub.id}","at":"${this.frameAt(now)}","people":[`,
    ];
    for (let i = 0; i < parts.picked.length; i++) {
      if (i > 0) pieces.push(',');
      pieces.push(
        personJson(parts.picked[i]!),
        parts.distances ? Math.round(parts.distances[i]!) : 'null',
        '}',
      );
    }
    pieces.push(']', parts.events ? `,"events":${JSON.stringify(parts.events)}` : '', '}]');
    return pieces.join('');
  }

  private record(sub: Subscription, parts: FrameParts, now: number): void {
    for (const pos of parts.picked) {
      this.deps.locations.recordDelivery(sub.viewerId, pos.share.userId, pos.share.shareId, now);
    }
  }

  /** Checks again, off the tick, that the subscriber still belongs to the event or group. */
  private recheck(sub: Subscription): void {
    sub.checking = true;
    const { locations, clock } = this.deps;
    const check =
      sub.type === 'event'
        ? locations.eventOpenTo(sub.targetId!, sub.viewerId, clock.now())
        : locations.assertGroupMember(sub.targetId!, sub.viewerId);
    check.then(
      (event) => {
        sub.checking = false;
        sub.checkedAt = clock.now().getTime();
        if (event) sub.closesAtMs = event.endsAt.getTime();
      },
      (err: unknown) => {
        sub.checking = false;
        if (err instanceof AppError) {
          this.end(sub, err.code === 'LOCATION_SHARE_NOT_OPEN' ? 'ended' : 'audience_left');
        } else this.deps.logger.warn({ err }, 'live map recheck failed');
      },
    );
  }

  private end(sub: Subscription, reason: 'audience_left' | 'ended'): void {
    if (!this.subs.has(sub.key)) return;
    this.remove(sub);
    sub.socket.emit('location:unsubscribed', { subscriptionId: sub.id, reason });
  }

  private remove(sub: Subscription): void {
    this.subs.delete(sub.key);
    this.bySlice.get(sub.slice)?.delete(sub);
    const set = this.bySocket.get(sub.socket.id);
    set?.delete(sub.key);
    if (set?.size === 0) this.bySocket.delete(sub.socket.id);
    if (sub.room && ![...(set ?? [])].some((k) => this.subs.get(k)?.room === sub.room)) {
      void sub.socket.leave(sub.room);
    }
  }
}

/** What a frame shows: people nearest first (with their distances when the frame has a centre), and pins. */
interface FrameParts {
  picked: StoredPosition[];
  distances: number[] | null;
  events?: EventPin[];
}

const updatedAtText = (pos: StoredPosition) => (pos.updatedAtIso ??= new Date(pos.updatedAtMs).toISOString());

/** A person's part of a frame as JSON, up to the value of `distanceM` (each viewer's own), made once per position. */
function personJson(pos: StoredPosition & { json?: string }): string {
  const s = pos.share;
  return (pos.json ??=
    `{"userId":${JSON.stringify(s.userId)},"nickname":${JSON.stringify(s.nickname)},` +
    `"shareId":${JSON.stringify(s.shareId)},"lat":${JSON.stringify(pos.lat)},"lng":${JSON.stringify(pos.lng)},` +
    `"precision":"${s.precision}","updatedAt":"${updatedAtText(pos)}","distanceM":`);
}

/**
 * Writes an encoded Socket.IO packet to one socket, as Socket.IO's own broadcasts and adapters do
 * (`Client.writeToEngine`, the same path `socket.emit` ends in).
 */
function sendEncoded(socket: MoimSocket, packet: string): void {
  (socket.client as unknown as { writeToEngine(p: string, o: { compress: boolean }): void }).writeToEngine(
    packet,
    { compress: true },
  );
}

const mix = (h: number, v: number) => Math.imul(h ^ (v | 0), 0x01000193) >>> 0;

function stringHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A share's id hashed once per store answer (every subscriber of the answer reuses it). */
function shareHash(share: ShareEntry & { hash?: number }): number {
  return (share.hash ??= stringHash(share.shareId));
}

const pinCell = (lat: number, lng: number) =>
  `${Math.floor(lat / PIN_CELL_DEG)}:${Math.floor(lng / PIN_CELL_DEG)}`;
