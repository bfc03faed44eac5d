import type { Socket } from 'socket.io-client';
import type { ClientSpec, Scenario, WorkerContext } from '../lib/socket-protocol.js';

/**
 * The client of the location benchmark (runs inside the socket workers): each person shares their position with
 * the "people nearby" layer, watches that layer around themselves, and sends a position update once a second, at
 * a phase of its own within the second, moving in a straight line at a speed of their own. Measures the update's acknowledgement, and the
 * frames the server pushes: how many, how far apart, how many people in them.
 */

export interface LocationClient {
  lat: number;
  lng: number;
}

export interface LocationParams {
  intervalMs: number;
  timeoutMs: number;
}

export interface SetupParams {
  radiusM: number;
  shareMinutes: number;
  /** Requests in flight per worker while setting up. */
  concurrency: number;
}

export interface SetupReport {
  shares: number;
  subscriptions: number;
  /** Error codes and how often. */
  errors: Record<string, number>;
}

interface Client {
  socket: Socket;
  lat: number;
  lng: number;
  /** Degrees per update: walking to driving speed in a fixed direction, turned back at the area's edge. */
  dLat: number;
  dLng: number;
  lastFrameAt: number;
}

/** Slots per interval: the clients are spread over them, one tick sends one slot. */
const SLOTS = 100;
const METRES_PER_DEGREE_LAT = 111_320;
/** Where people move: the bench places them in this box (Seoul-sized) and turns them back at its edges. */
export const AREA = { south: 37.44, north: 37.69, west: 126.78, east: 127.18 };
const METRES_PER_DEGREE_LNG =
  METRES_PER_DEGREE_LAT * Math.cos((((AREA.south + AREA.north) / 2) * Math.PI) / 180);
/** Metres per second: from walking to driving in town, so people cross the 100 m cells of their shares. */
const SPEED = { min: 1.5, max: 15 };

type Ack<T> = { ok: true; data: T } | { ok: false; error: { code: string } };

export function createScenario(ctx: WorkerContext): Scenario {
  const clients: Client[] = [];
  const pending = new Map<number, number>();
  let timer: NodeJS.Timeout | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let next = 0;

  const update = (c: Client) => {
    if (!c.socket.connected) return ctx.count('no_socket');
    if (c.lat + c.dLat < AREA.south || c.lat + c.dLat > AREA.north) c.dLat = -c.dLat;
    if (c.lng + c.dLng < AREA.west || c.lng + c.dLng > AREA.east) c.dLng = -c.dLng;
    c.lat += c.dLat;
    c.lng += c.dLng;
    const no = next++;
    const t0 = ctx.now();
    pending.set(no, t0);
    ctx.count('sent');
    c.socket.emit('location:update', { lat: c.lat, lng: c.lng }, (res: Ack<unknown>) => {
      const latency = ctx.now() - t0;
      if (!pending.delete(no)) ctx.count('late_acks');
      if (!res.ok) return ctx.count(`error_${res.error.code}`);
      ctx.histogram('ack').record(latency);
      ctx.count('acked');
    });
  };

  const call = <T>(socket: Socket, event: string, payload: unknown, timeoutMs = 30_000) =>
    new Promise<Ack<T>>((resolve) => {
      socket
        .timeout(timeoutMs)
        .emit(event, payload, (err: Error | null, res: Ack<T>) =>
          resolve(err ? { ok: false, error: { code: 'TIMEOUT' } } : res),
        );
    });

  async function setup(params: SetupParams): Promise<SetupReport> {
    const report: SetupReport = { shares: 0, subscriptions: 0, errors: {} };
    const fail = (code: string) => (report.errors[code] = (report.errors[code] ?? 0) + 1);
    let i = 0;
    const lane = async () => {
      while (i < clients.length) {
        const c = clients[i++]!;
        if (!c.socket.connected) continue;
        const share = await call(c.socket, 'location:share_start', {
          audience: { type: 'nearby' },
          precision: '100m',
          durationMinutes: params.shareMinutes,
        });
        if (share.ok) report.shares++;
        else fail(`share_start: ${share.error.code}`);
        const sub = await call(c.socket, 'location:subscribe', {
          layer: { type: 'nearby', lat: c.lat, lng: c.lng, radiusM: params.radiusM },
        });
        if (sub.ok) {
          report.subscriptions++;
          c.lastFrameAt = ctx.now();
        } else fail(`subscribe: ${sub.error.code}`);
      }
    };
    await Promise.all(Array.from({ length: params.concurrency }, lane));
    return report;
  }

  return {
    attach(socket, raw: ClientSpec) {
      const spec = raw.data as LocationClient;
      const speed = SPEED.min + Math.random() * (SPEED.max - SPEED.min);
      const heading = Math.random() * 2 * Math.PI;
      const c: Client = {
        socket,
        lat: spec.lat,
        lng: spec.lng,
        dLat: (speed * Math.cos(heading)) / METRES_PER_DEGREE_LAT,
        dLng: (speed * Math.sin(heading)) / METRES_PER_DEGREE_LNG,
        lastFrameAt: 0,
      };
      clients.push(c);
      socket.on('location:frame', (frame: { people?: unknown[] }) => {
        const now = ctx.now();
        if (c.lastFrameAt > 0) ctx.histogram('frame_gap').record(now - c.lastFrameAt);
        c.lastFrameAt = now;
        ctx.count('frames');
        ctx.count('frame_people', frame.people?.length ?? 0);
      });
    },

    start(raw) {
      const params = raw as LocationParams;
      const started = ctx.now();
      const slotMs = params.intervalMs / SLOTS;
      let slot = 0;
      timer = setInterval(() => {
        // Catch up the slots that are due, but never more than one interval: after a longer stall of this
        // process each client sends one late update, as a client's own timer would, not a burst of them (which
        // the server's rate limit would rightly refuse).
        const due = Math.floor((ctx.now() - started) / slotMs);
        if (due - slot >= SLOTS) {
          ctx.count('skipped', Math.round(((due - SLOTS + 1 - slot) * clients.length) / SLOTS));
          slot = due - SLOTS + 1;
        }
        for (; slot <= due; slot++) {
          for (let i = slot % SLOTS; i < clients.length; i += SLOTS) update(clients[i]!);
        }
      }, slotMs);
      sweeper = setInterval(() => {
        const limit = ctx.now() - params.timeoutMs;
        for (const [no, t0] of pending) {
          if (t0 < limit) {
            pending.delete(no);
            ctx.count('timeouts');
          }
        }
      }, 250);
    },

    stop() {
      clearInterval(timer);
    },

    query(name, arg) {
      if (name === 'setup') return setup(arg as SetupParams);
      if (name === 'pending') {
        clearInterval(sweeper);
        return pending.size;
      }
      throw new Error(`unknown query ${name}`);
    },
  };
}
