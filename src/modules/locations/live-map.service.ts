import type { Config } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import type { Executor } from '../../infra/db/database.js';
import type { LocationStore, StoredPosition } from '../../infra/geo/location-store.js';
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
/** Nearby queries are shared by subscribers whose centres fall in the same cell of this size (degrees). */
const SHARED_CELL_DEG = 0.005;
/** Half the diagonal of such a cell, in metres (at most): shared queries reach this much further. */
const SHARED_CELL_MARGIN_M = 400;
/** How many results a shared nearby query fetches, so each subscriber can still keep its own 50 nearest. */
const SHARED_QUERY_COUNT = 2 * MAX_PEOPLE;
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
  lastSignature: string;
  checkedAt: number;
  checking: boolean;
}

type Queries = Map<string, Promise<StoredPosition[]>>;
type PinQueries = Map<string, Promise<OpenEventRow[]>>;

/**
 * Live maps on this node: each subscription (a socket watching an event's, a group's, or the nearby layer) gets
 * a frame every LOCATION_PUSH_INTERVAL_MS when what it shows changed. Subscribers of one layer (or one nearby
 * cell and radius) share one store query per tick; every person a frame shows is counted in the access log.
 */
export class LiveMapService {
  private readonly subs = new Map<string, Subscription>();
  private readonly bySocket = new Map<string, Set<string>>();
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

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
  ) {}

  async subscribe(
    socket: MoimSocket,
    viewerId: string,
    layer: Layer,
  ): Promise<{ subscriptionId: string; intervalMs: number; frame: LocationFrame }> {
    const { locations, config, clock } = this.deps;
    const mine = this.bySocket.get(socket.id);
    if ((mine?.size ?? 0) >= MAX_SUBSCRIPTIONS_PER_SOCKET) {
      throw new AppError(
        'LOCATION_SUBSCRIPTION_LIMIT',
        `A socket may watch at most ${MAX_SUBSCRIPTIONS_PER_SOCKET} maps; unsubscribe one first.`,
      );
    }
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
      lastSignature: '',
      checkedAt: now.getTime(),
      checking: false,
    };
    this.subs.set(sub.key, sub);
    const set = mine ?? new Set<string>();
    set.add(sub.key);
    this.bySocket.set(socket.id, set);

    const frame = await this.frameFor(sub, now.getTime(), new Map(), new Map());
    sub.lastSignature = signature(frame);
    this.record(sub, frame, now.getTime());
    return { subscriptionId: id, intervalMs: config.pushIntervalMs, frame };
  }

  unsubscribe(socket: MoimSocket, subscriptionId: string): void {
    const sub = this.subs.get(`${socket.id}:${subscriptionId}`);
    if (!sub) throw new AppError('NOT_FOUND', 'No such subscription.');
    this.remove(sub);
  }

  /** Forgets every subscription of a socket that went away. */
  dropSocket(socketId: string): void {
    for (const key of this.bySocket.get(socketId) ?? []) this.subs.delete(key);
    this.bySocket.delete(socketId);
  }

  get size(): number {
    return this.subs.size;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.config.pushIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One round: every subscription whose frame changed gets it. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = this.deps.clock.now().getTime();
      const queries: Queries = new Map();
      const pins: PinQueries = new Map();
      const work: Promise<void>[] = [];
      for (const sub of this.subs.values()) {
        if (!sub.socket.connected) {
          this.remove(sub);
          continue;
        }
        if (sub.room && !sub.socket.rooms.has(sub.room)) {
          this.end(sub, 'audience_left');
          continue;
        }
        if (sub.closesAtMs !== null && now >= sub.closesAtMs) {
          this.end(sub, 'ended');
          continue;
        }
        if (sub.room && !sub.checking && now - sub.checkedAt >= RECHECK_MS) this.recheck(sub);
        work.push(this.push(sub, now, queries, pins));
      }
      await Promise.all(work);
    } finally {
      this.ticking = false;
    }
  }

  private async push(sub: Subscription, now: number, queries: Queries, pins: PinQueries): Promise<void> {
    try {
      const frame = await this.frameFor(sub, now, queries, pins);
      const sig = signature(frame);
      if (sig === sub.lastSignature || !this.subs.has(sub.key)) return;
      sub.lastSignature = sig;
      sub.socket.emit('location:frame', frame);
      this.record(sub, frame, now);
    } catch (err) {
      this.deps.logger.warn({ err }, 'live map frame failed');
    }
  }

  private async frameFor(
    sub: Subscription,
    now: number,
    queries: Queries,
    pins: PinQueries,
  ): Promise<LocationFrame> {
    const { store, config, repo, db } = this.deps;
    const freshAfter = now - config.staleMs;
    let found: StoredPosition[];
    let events: EventPin[] | undefined;
    if (sub.type === 'nearby') {
      const centre = sub.centre!;
      const cellLat = Math.floor(centre.lat / SHARED_CELL_DEG);
      const cellLng = Math.floor(centre.lng / SHARED_CELL_DEG);
      const cellCentre = { lat: (cellLat + 0.5) * SHARED_CELL_DEG, lng: (cellLng + 0.5) * SHARED_CELL_DEG };
      const key = `${cellLat}:${cellLng}:${sub.radiusM}`;
      let q = queries.get(key);
      if (!q) {
        q = store.nearby(
          sub.layer,
          cellCentre,
          sub.radiusM + SHARED_CELL_MARGIN_M,
          SHARED_QUERY_COUNT,
          freshAfter,
        );
        queries.set(key, q);
      }
      let p = pins.get(key);
      if (!p) {
        p = repo.openEventsNear(
          db,
          cellCentre,
          sub.radiusM + SHARED_CELL_MARGIN_M,
          new Date(now),
          2 * MAX_PINS,
        );
        pins.set(key, p);
      }
      found = await q;
      events = [];
      for (const e of await p) {
        const d = distanceMeters(centre, e);
        if (d > sub.radiusM) continue;
        events.push({
          id: e.id,
          title: e.title,
          lat: e.lat,
          lng: e.lng,
          startsAt: e.startsAt.toISOString(),
          goingCount: e.goingCount,
          capacity: e.capacity,
          distanceM: Math.round(d),
        });
      }
      events.sort((a, b) => a.distanceM - b.distanceM);
      if (events.length > MAX_PINS) events.length = MAX_PINS;
    } else {
      let q = queries.get(sub.layer);
      if (!q) {
        q = store.layer(sub.layer, freshAfter, LAYER_READ_LIMIT);
        queries.set(sub.layer, q);
      }
      found = await q;
    }

    const people: PersonOnMap[] = [];
    for (const pos of found) {
      const share = pos.share;
      if (share.userId === sub.viewerId || share.endsAtMs <= now || pos.updatedAtMs <= freshAfter) continue;
      const d = sub.centre ? distanceMeters(sub.centre, pos) : null;
      if (sub.type === 'nearby' && d! > sub.radiusM) continue;
      people.push({
        userId: share.userId,
        nickname: share.nickname,
        shareId: share.shareId,
        lat: pos.lat,
        lng: pos.lng,
        precision: share.precision,
        distanceM: d === null ? null : Math.round(d),
        updatedAt: new Date(pos.updatedAtMs).toISOString(),
      });
    }
    // Nearest first; without a centre, the most recently updated first (the order the store answered in).
    if (sub.centre) people.sort((a, b) => a.distanceM! - b.distanceM!);
    if (people.length > MAX_PEOPLE) people.length = MAX_PEOPLE;
    const frame: LocationFrame = { subscriptionId: sub.id, at: new Date(now).toISOString(), people };
    if (events) frame.events = events;
    return frame;
  }

  private record(sub: Subscription, frame: LocationFrame, now: number): void {
    for (const p of frame.people) this.deps.locations.recordDelivery(sub.viewerId, p.userId, p.shareId, now);
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
      () => {
        sub.checking = false;
        sub.checkedAt = clock.now().getTime();
      },
      (err: unknown) => {
        sub.checking = false;
        if (err instanceof AppError) this.end(sub, 'audience_left');
        else this.deps.logger.warn({ err }, 'live map recheck failed');
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
    const set = this.bySocket.get(sub.socket.id);
    set?.delete(sub.key);
    if (set?.size === 0) this.bySocket.delete(sub.socket.id);
    if (sub.room && ![...(set ?? [])].some((k) => this.subs.get(k)?.room === sub.room)) {
      void sub.socket.leave(sub.room);
    }
  }
}

/** What a frame shows, as a string: a frame is pushed only when this changes (not for a mere timestamp). */
function signature(frame: LocationFrame): string {
  let s = '';
  for (const p of frame.people) s += `${p.shareId}@${p.lat},${p.lng};`;
  if (frame.events) {
    s += '|';
    for (const e of frame.events) s += `${e.id}:${e.goingCount}:${e.capacity};`;
  }
  return s;
}
