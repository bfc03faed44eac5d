import fs from 'node:fs';
import os from 'node:os';
import type { BenchContext } from './bench.js';
import { processCpuMs, rssMb, waitForIdleProcess, waitForQuiet } from './cpu.js';
import type { Histogram, Percentiles } from './histogram.js';
import type { ServerProcess } from './processes.js';
import type { ClientSpec } from './socket-protocol.js';
import { SocketFleet, type MergedStats } from './sockets.js';

/** Shared pieces of the realtime benchmarks (chat, location): resource windows, server metrics, tables. */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function machineBusyMs(): number {
  let busy = 0;
  for (const { times } of os.cpus()) busy += times.user + times.nice + times.sys + times.irq;
  return busy;
}

/** PostgreSQL and Redis processes on this machine (shared with other people's test runs). */
function servicePids(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (comm === 'postgres' || comm.startsWith('redis-server')) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** % of one core over a window. */
export interface RealtimeCpu {
  server: number;
  /** The socket workers and the bench process. */
  load: number;
  /** PostgreSQL and Redis, whoever's queries they ran. */
  services: number;
  other: number;
}

/** Starts a CPU window over the server, the load generator and the services; the returned function ends it. */
export function realtimeCpuWindow(serverPid: number, fleet: SocketFleet): () => RealtimeCpu {
  const t0 = performance.now();
  const machine0 = machineBusyMs();
  const server0 = processCpuMs(serverPid) ?? 0;
  const self0 = process.cpuUsage();
  const fleet0 = fleet.cpuMs();
  const services = servicePids();
  const services0 = new Map(services.map((pid) => [pid, processCpuMs(pid) ?? 0]));
  return () => {
    const elapsed = performance.now() - t0;
    const serverMs = Math.max(0, (processCpuMs(serverPid) ?? server0) - server0);
    const self = process.cpuUsage(self0);
    const loadMs = (self.user + self.system) / 1000 + fleet.cpuMs() - fleet0;
    let servicesMs = 0;
    for (const pid of [...services0.keys(), ...servicePids().filter((p) => !services0.has(p))]) {
      const now = processCpuMs(pid);
      if (now !== undefined) servicesMs += now - (services0.get(pid) ?? 0);
    }
    const busy = machineBusyMs() - machine0;
    const pct = (ms: number) => Math.round((ms / elapsed) * 100);
    return {
      server: pct(serverMs),
      load: pct(loadMs),
      services: pct(servicesMs),
      other: pct(Math.max(0, busy - serverMs - loadMs - servicesMs)),
    };
  };
}

export { rssMb };

/** Moim's own view of a window, from /metrics: event-loop delay and garbage collection. */
export interface ServerInternals {
  loopMaxMs: number;
  loopP99Ms: number;
  gcMs: number;
  majorGcMs: number;
  heapMb: number;
}

async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const key = m[1]! + (m[2]?.includes('kind="major"') ? ':major' : '');
    values.set(key, (values.get(key) ?? 0) + Number(m[3]));
  }
  return values;
}

/**
 * Scrapes /metrics at the start (which also resets the event-loop delay monitor) and returns a function that
 * scrapes at the end and reports the window.
 */
export async function internalsWindow(url: string): Promise<() => Promise<ServerInternals | undefined>> {
  const before = await scrape(url).catch(() => undefined);
  return async () => {
    const after = await scrape(url).catch(() => undefined);
    if (!before || !after) return undefined;
    const diff = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    return {
      loopMaxMs: Math.round((after.get('nodejs_eventloop_lag_max_seconds') ?? 0) * 1000),
      loopP99Ms: Math.round((after.get('nodejs_eventloop_lag_p99_seconds') ?? 0) * 1000),
      gcMs: Math.round(diff('nodejs_gc_duration_seconds_sum') * 1000),
      majorGcMs: Math.round(diff('nodejs_gc_duration_seconds_sum:major') * 1000),
      heapMb: Math.round((after.get('nodejs_heap_size_used_bytes') ?? 0) / 2 ** 20),
    };
  };
}

export const fmtMs = (n: number) =>
  Number.isNaN(n) ? '–' : n >= 100 ? String(Math.round(n)) : n >= 10 ? n.toFixed(1) : n.toFixed(2);

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en');

export function percentileCells(h: Histogram | undefined): string[] {
  const p: Percentiles | undefined = h?.percentiles();
  if (!p || p.count === 0) return ['–', '–', '–', '–'];
  return [fmtMs(p.p50), fmtMs(p.p90), fmtMs(p.p99), fmtMs(p.max)];
}

export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [row(header), row(header.map(() => '---')), ...rows.map(row)].join('\n');
}

export interface MeasuredWindow {
  stats: MergedStats;
  seconds: number;
  cpu: RealtimeCpu;
  internals?: ServerInternals;
  rssMb?: number;
}

/**
 * With the load already running: lets it warm up, clears the workers' histograms and counters, and measures
 * for the duration (latencies, counters, CPU, server RSS, and Moim's event loop and GC when `internals`).
 */
export async function measureWindow(
  fleet: SocketFleet,
  server: { pid: number; url: string },
  opts: { warmupSec: number; durationSec: number; internals: boolean },
): Promise<MeasuredWindow> {
  await sleep(opts.warmupSec * 1000);
  await fleet.all({ kind: 'reset' });
  const endInternals = opts.internals ? await internalsWindow(server.url) : undefined;
  const endCpu = realtimeCpuWindow(server.pid, fleet);
  const t0 = performance.now();
  await sleep(opts.durationSec * 1000);
  const stats = await fleet.stats();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = endCpu();
  const internals = await endInternals?.();
  const rss = rssMb(server.pid);
  return {
    stats,
    seconds,
    cpu,
    ...(internals ? { internals } : {}),
    ...(rss === undefined ? {} : { rssMb: rss }),
  };
}

/** Sends still unacknowledged in all workers (after the drain: timeouts too); stops their timeout sweeps. */
export async function unacknowledged(fleet: SocketFleet): Promise<number> {
  const parts = (await fleet.all({ kind: 'query', name: 'pending', arg: null })) as number[];
  return parts.reduce((a, b) => a + b, 0);
}

/** Error acknowledgements by code, failed handshakes and dropped sockets. */
export function errorCount(counters: Record<string, number>, failedHandshakes: number): number {
  return (
    Object.entries(counters)
      .filter(([k]) => k.startsWith('error_'))
      .reduce((s, [, v]) => s + v, 0) +
    failedHandshakes +
    (counters.disconnects ?? 0)
  );
}

/**
 * The kernel's count of connections dropped because a listening socket's accept queue was full (machine-wide):
 * when a server's event loop stalls while handshakes arrive, this is where failed connections come from.
 */
export function listenOverflows(): number | undefined {
  try {
    const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const header = lines.find((l) => l.startsWith('TcpExt:'));
    const values = header && lines[lines.indexOf(header) + 1];
    if (!header || !values) return undefined;
    const i = header.split(' ').indexOf('ListenOverflows');
    return i < 0 ? undefined : Number(values.split(' ')[i]);
  } catch {
    return undefined;
  }
}

/**
 * Extra server settings for an experiment, from BENCH_MOIM_ENV ("DATABASE_POOL_MAX=30 LOCATION_WRITE_BATCH_MS=50"),
 * noted in the report so the figures are never mistaken for the defaults'.
 */
export function moimEnvOverrides(note: (line: string) => void): Record<string, string> {
  const raw = process.env.BENCH_MOIM_ENV?.trim();
  if (!raw) return {};
  const env: Record<string, string> = {};
  for (const pair of raw.split(/\s+/)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`BENCH_MOIM_ENV: expected NAME=value, got "${pair}"`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  note(`Moim started with non-default settings (BENCH_MOIM_ENV): \`${raw}\``);
  return env;
}

/** Whether a server process still runs; when it does not, the last lines of its log say why. */
export function exitedWith(pid: number, logFile: string): string | undefined {
  try {
    process.kill(pid, 0);
    return undefined;
  } catch {
    try {
      const tail = fs.readFileSync(logFile, 'utf8').slice(-4000).split('\n');
      const cause = tail.filter((l) => /Error|at async/.test(l) && !l.startsWith('{')).slice(0, 3);
      return cause.map((l) => l.trim().slice(0, 200)).join(' / ') || 'no error in its log';
    } catch {
      return 'its log could not be read';
    }
  }
}

export interface OpenedFleet {
  fleet: SocketFleet;
  quiet: Awaited<ReturnType<typeof waitForQuiet>>;
  connected: number;
  failed: number;
  /** Connection errors; when sockets failed, with the kernel's accept-queue overflows meanwhile. */
  connectErrors: string[];
  handshake: Histogram | undefined;
  /** From the last handshake to the start of the load: the fixed settle, then until the server was idle. */
  settledMs: number;
}

/** The server counts as settled after a connect storm below this share of a core (its timers idle at ~5 %). */
const SETTLED_CPU_PCT = 25;
const SETTLE_MAX_MS = 60_000;

/**
 * The start of every realtime round: wait for a quiet machine, connect the round's sockets at a steady rate,
 * report the ones that failed, and let the server settle: a fixed pause, then until its CPU falls below
 * SETTLED_CPU_PCT (the work each connection started, presence announcements and room reads, is done), so the
 * measured load starts on a server in its steady state; the connect storm is reported by the handshake figures.
 * The caller closes the fleet.
 */
export async function openFleet(
  ctx: BenchContext,
  run: { round: number; label: string; server: ServerProcess; clients: ClientSpec[] },
  opts: { scenario: string; connectPerSec: number; settleMs: number },
): Promise<OpenedFleet> {
  const { options } = ctx;
  const quiet = await waitForQuiet([run.server.pid], options.quietPct, options.quietWaitSec * 1000);
  ctx.progress(
    `round ${run.round}/${options.rounds} ${run.label}: connecting ${run.clients.length} sockets` +
      (quiet.waitedMs > 1500 ? ` (waited ${Math.round(quiet.waitedMs / 1000)} s for a quiet machine)` : ''),
  );
  const overflows0 = listenOverflows();
  const fleet = await SocketFleet.start({
    url: run.server.url,
    scenario: opts.scenario,
    clients: run.clients,
    connectPerSec: opts.connectPerSec,
  });
  try {
    const { connected, failed, errors } = fleet.connect;
    const overflows = (listenOverflows() ?? 0) - (overflows0 ?? 0);
    if (failed > 0) {
      ctx.progress(
        `  ${failed} sockets failed to connect: ${errors.join('; ')}; accept-queue overflows meanwhile: ${overflows}`,
      );
    }
    const handshake = (await fleet.stats()).histograms.handshake;
    await sleep(opts.settleMs);
    const idle = await waitForIdleProcess(run.server.pid, SETTLED_CPU_PCT, SETTLE_MAX_MS);
    if (idle.waitedMs > 1500) {
      ctx.progress(
        `  the server settled ${Math.round(idle.waitedMs / 1000)} s after the last handshake` +
          (idle.lastPct >= SETTLED_CPU_PCT ? ` (gave up waiting, still at ${idle.lastPct} % of a core)` : ''),
      );
    }
    const connectErrors =
      failed > 0 ? [...errors, `${overflows} accept-queue overflows while connecting`] : errors;
    return {
      fleet,
      quiet,
      connected,
      failed,
      connectErrors,
      handshake,
      settledMs: opts.settleMs + idle.waitedMs,
    };
  } catch (err) {
    await fleet.close();
    throw err;
  }
}
