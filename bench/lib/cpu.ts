import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

/**
 * Placement: the server on core 0 and the load generator (this process) on core 1, so the generator never
 * steals cycles from the server it measures. Needs `taskset` (util-linux) and at least two usable cores; without
 * them nothing is pinned and the report says so, because unpinned figures are not comparable with pinned ones.
 */
export interface Pinning {
  enabled: boolean;
  /** Why pinning is off, for the report. */
  reason?: string;
  /** Command prefix that starts a process on the server core (empty when not pinning). */
  serverPrefix: string[];
  serverCore?: number;
  loadCore?: number;
}

const SERVER_CORE = 0;
const LOAD_CORE = 1;

export function detectPinning(wanted: boolean): Pinning {
  const off = (reason: string): Pinning => ({ enabled: false, reason, serverPrefix: [] });
  if (!wanted) return off('disabled with --no-pin');
  if (process.platform !== 'linux') return off(`taskset is Linux-only (${process.platform})`);
  let allowed: Set<number>;
  try {
    const out = execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' });
    allowed = parseCpuList(out.slice(out.lastIndexOf(':') + 1));
  } catch {
    return off('taskset not found');
  }
  if (!allowed.has(SERVER_CORE) || !allowed.has(LOAD_CORE)) {
    return off(
      `cores ${SERVER_CORE} and ${LOAD_CORE} are not both available (allowed: ${[...allowed].join(',')})`,
    );
  }
  return {
    enabled: true,
    serverPrefix: ['taskset', '-c', String(SERVER_CORE)],
    serverCore: SERVER_CORE,
    loadCore: LOAD_CORE,
  };
}

/** Moves every thread of this process, not only the main one, so autocannon's sockets and GC stay off core 0. */
export function pinSelf(pinning: Pinning): void {
  if (!pinning.enabled || pinning.loadCore === undefined) return;
  execFileSync('taskset', ['-a', '-cp', String(pinning.loadCore), String(process.pid)], { stdio: 'ignore' });
}

function parseCpuList(list: string): Set<number> {
  const cpus = new Set<number>();
  for (const part of list.trim().split(',')) {
    const [from, to] = part.split('-').map(Number);
    if (from === undefined || Number.isNaN(from)) continue;
    for (let c = from; c <= (to ?? from); c++) cpus.add(c);
  }
  return cpus;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (ms, all threads) a process has used so far; undefined where /proc is not available. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses; fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

export function rssMb(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

function machineBusyMs(): number {
  let busy = 0;
  for (const { times } of os.cpus()) busy += times.user + times.nice + times.sys + times.irq;
  return busy;
}

/** Per cent of one core used over a window: by the server, by this process, and by everything else. */
export interface CpuUse {
  server?: number;
  load: number;
  other: number;
}

/**
 * Starts measuring CPU use; the returned function ends the window. "Other" is what the rest of the machine
 * used meanwhile (other people's builds and tests, and in services mode PostgreSQL and Redis), which is how a
 * disturbed round is recognised.
 */
export function cpuWindow(serverPid?: number): () => CpuUse {
  const started = performance.now();
  const machine0 = machineBusyMs();
  const self0 = process.cpuUsage();
  const server0 = serverPid === undefined ? undefined : processCpuMs(serverPid);
  return () => {
    const elapsed = performance.now() - started;
    const self = process.cpuUsage(self0);
    const loadMs = (self.user + self.system) / 1000;
    const server1 = serverPid === undefined ? undefined : processCpuMs(serverPid);
    const serverMs = server0 !== undefined && server1 !== undefined ? server1 - server0 : undefined;
    const otherMs = Math.max(0, machineBusyMs() - machine0 - loadMs - (serverMs ?? 0));
    const pct = (ms: number) => Math.round((ms / elapsed) * 100);
    return {
      ...(serverMs === undefined ? {} : { server: pct(serverMs) }),
      load: pct(loadMs),
      other: pct(otherMs),
    };
  };
}

/**
 * Waits (up to `maxWaitMs`) for a second in which the rest of the machine uses less than `thresholdPct` of a
 * core, so a round does not start in the middle of someone's test run. Returns the last reading.
 */
export async function waitForQuiet(
  serverPids: number[],
  thresholdPct: number,
  maxWaitMs: number,
): Promise<{ otherPct: number; waitedMs: number }> {
  const start = Date.now();
  for (;;) {
    const machine0 = machineBusyMs();
    const self0 = process.cpuUsage();
    const servers0 = serverPids.map((pid) => processCpuMs(pid) ?? 0);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const elapsed = performance.now() - t0;
    const self = process.cpuUsage(self0);
    const ours =
      (self.user + self.system) / 1000 +
      serverPids.reduce((sum, pid, i) => sum + ((processCpuMs(pid) ?? 0) - servers0[i]!), 0);
    const otherPct = Math.round((Math.max(0, machineBusyMs() - machine0 - ours) / elapsed) * 100);
    const waitedMs = Date.now() - start;
    if (otherPct < thresholdPct || waitedMs >= maxWaitMs) return { otherPct, waitedMs };
  }
}

/**
 * Waits (up to `maxWaitMs`) until a server process uses less than `thresholdPct` of a core over a second: after a
 * connect storm a server still works through what each connection started (presence, room reads), and a window
 * opened before that is done measures the storm, not the steady state. Returns how long it waited.
 */
export async function waitForIdleProcess(
  pid: number,
  thresholdPct: number,
  maxWaitMs: number,
): Promise<{ waitedMs: number; lastPct: number }> {
  const start = Date.now();
  for (;;) {
    const cpu0 = processCpuMs(pid) ?? 0;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const lastPct = Math.round((((processCpuMs(pid) ?? 0) - cpu0) / (performance.now() - t0)) * 100);
    const waitedMs = Date.now() - start;
    if (lastPct < thresholdPct || waitedMs >= maxWaitMs) return { waitedMs, lastPct };
  }
}

/**
 * Moves the machine's PostgreSQL and Redis (every process and thread of theirs) off the server's core, onto the
 * load generator's, and returns how to put them back. Without it the kernel wakes a PostgreSQL backend on the core
 * of the process that wrote to it (wake-affine scheduling), so each query preempts the server, and the server's
 * measured latency includes PostgreSQL's CPU: a deployment runs them on hosts of their own. Nothing is moved when
 * pinning is off or the services are not local processes we may re-pin; the report says which.
 */
export function pinServices(pinning: Pinning): { note: string; restore: () => void } {
  const none = (why: string) => ({ note: `PostgreSQL and Redis not pinned (${why})`, restore: () => {} });
  if (!pinning.enabled || pinning.loadCore === undefined) return none('pinning is off');
  const pids: number[] = [];
  for (const name of ['postgres', 'redis-server']) {
    try {
      const out = execFileSync('pgrep', ['-x', name], { encoding: 'utf8' });
      pids.push(...out.split('\n').filter(Boolean).map(Number));
    } catch {
      // pgrep exits 1 when nothing matches.
    }
  }
  if (pids.length === 0) return none('no local postgres or redis-server process found');
  const before = new Map<number, string>();
  for (const pid of pids) {
    try {
      const out = execFileSync('taskset', ['-cp', String(pid)], { encoding: 'utf8' });
      before.set(pid, out.slice(out.lastIndexOf(':') + 1).trim());
      execFileSync('taskset', ['-a', '-cp', String(pinning.loadCore), String(pid)], { stdio: 'ignore' });
    } catch {
      // A backend that exited meanwhile, or a process we may not re-pin.
    }
  }
  if (before.size === 0) return none('taskset was refused');
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    for (const [pid, cpus] of before) {
      try {
        execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });
      } catch {
        // Gone.
      }
    }
  };
  process.once('exit', restore);
  return {
    note: `PostgreSQL and Redis (${before.size} processes) pinned to core ${pinning.loadCore} with the load generator, off the server's core, for the run`,
    restore,
  };
}
