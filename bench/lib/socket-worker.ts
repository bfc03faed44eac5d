/**
 * A socket load worker: a child process of the bench holding a share of the simulated clients, each its own
 * socket.io-client connection (websocket transport only, no multiplexing, no reconnection: a dropped socket is
 * counted, not hidden). Driven over IPC by bench/lib/sockets.ts; what each client does is the scenario's.
 */
import { pathToFileURL } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import { Histogram } from './histogram.js';
import type {
  ClientSpec,
  ConnectResult,
  InitMessage,
  Reply,
  Request,
  Scenario,
  ScenarioFactory,
  Stats,
  WorkerContext,
} from './socket-protocol.js';

const HANDSHAKE_TIMEOUT_MS = 30_000;

const histograms = new Map<string, Histogram>();
const counters = new Map<string, number>();
// performance.now() counts from this process's start; the offset turns it into CLOCK_MONOTONIC, which all
// processes share, without allocating a bigint per reading.
const monoOffset = Number(process.hrtime.bigint()) / 1e6 - performance.now();

let workerId = 0;
const context: WorkerContext = {
  get workerId() {
    return workerId;
  },
  now: () => performance.now() + monoOffset,
  histogram(name) {
    let h = histograms.get(name);
    if (!h) histograms.set(name, (h = new Histogram()));
    return h;
  },
  count(name, n = 1) {
    counters.set(name, (counters.get(name) ?? 0) + n);
  },
};

let scenario: Scenario | undefined;
const sockets: Socket[] = [];

function send(reply: Reply): void {
  process.send?.(reply);
}

async function init(msg: InitMessage): Promise<ConnectResult> {
  workerId = msg.workerId;
  const mod = (await import(pathToFileURL(msg.scenario).href)) as { createScenario: ScenarioFactory };
  scenario = mod.createScenario(context);
  const errors = new Set<string>();
  let connected = 0;
  let failed = 0;
  const gapMs = 1000 / msg.connectPerSec;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const total = msg.clients.length;
    if (total === 0) return resolve();
    const settle = () => {
      if (connected + failed === total) resolve();
    };
    msg.clients.forEach((spec: ClientSpec, index) => {
      // Paced on a schedule rather than chained, so a slow handshake does not slow the ones after it.
      setTimeout(
        () => {
          const socket = io(msg.url, {
            transports: ['websocket'],
            forceNew: true,
            reconnection: false,
            timeout: HANDSHAKE_TIMEOUT_MS,
            auth: { token: spec.token, ...spec.auth },
          });
          sockets.push(socket);
          scenario!.attach(socket, spec, index);
          const t0 = context.now();
          let settled = false;
          socket.once('connect', () => {
            context.histogram('handshake').record(context.now() - t0);
            connected++;
            settled = true;
            settle();
          });
          socket.once('connect_error', (err: Error & { description?: unknown }) => {
            // A transport error's cause (reset, refused, HTTP status) is in `description`.
            const cause = err.description as { message?: string; error?: { message?: string } } | undefined;
            const detail = cause?.error?.message ?? cause?.message;
            if (errors.size < 5) errors.add(detail ? `${err.message} (${detail})` : err.message);
            if (!settled) {
              failed++;
              settled = true;
              settle();
            }
          });
          socket.on('disconnect', (reason: string) => {
            if (!settled) return;
            context.count('disconnects');
            if (errors.size < 5) errors.add(`disconnect: ${reason}`);
          });
        },
        Math.max(0, started + index * gapMs - performance.now()),
      );
    });
  });
  return { connected, failed, errors: [...errors] };
}

function collect(): Stats {
  const out: Stats = { histograms: {}, counters: Object.fromEntries(counters) };
  for (const [name, h] of histograms) out.histograms[name] = h.toSparse();
  return out;
}

async function handle(req: Request): Promise<unknown> {
  switch (req.kind) {
    case 'init':
      return init(req);
    case 'start':
      scenario?.start(req.params);
      return null;
    case 'reset':
      for (const h of histograms.values()) h.reset();
      counters.clear();
      return null;
    case 'stop':
      scenario?.stop();
      return null;
    case 'collect':
      return collect();
    case 'query':
      return scenario?.query?.(req.name, req.arg) ?? null;
    case 'close':
      scenario?.stop();
      for (const s of sockets) s.disconnect();
      // Let the close frames go out before exiting.
      setTimeout(() => process.exit(0), 200);
      return null;
  }
}

process.on('message', (raw) => {
  const req = raw as Request;
  handle(req).then(
    (result) => send({ id: req.id, ok: true, result }),
    (err: unknown) =>
      send({ id: req.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
// The bench process went away: do not linger holding thousands of sockets.
process.on('disconnect', () => process.exit(0));
