import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Pinning } from './cpu.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * The config maximum. Health probes are exempt from the API-wide limit anyway; this keeps benchmarks of /v1
 * routes, which all come from 127.0.0.1, from measuring 429s.
 */
export const RATE_LIMIT_PER_MINUTE = '1000000';

// Ports come from below the ephemeral range (32768-60999 here), which other processes' outgoing connections
// keep churning through.
const PORT_MIN = 20_000;
const PORT_MAX = 32_767;

async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = randomInt(PORT_MIN, PORT_MAX + 1);
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port between ${PORT_MIN} and ${PORT_MAX}`);
}

/** A scratch folder for one benchmark run, under bench/.tmp (gitignored); removed by `cleanup` on success. */
export interface RunDir {
  path: string;
  sub(name: string): string;
  cleanup(): void;
}

export function runDir(bench: string): RunDir {
  const dir = path.join(ROOT, 'bench', '.tmp', `${bench}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(dir, { recursive: true });
  return {
    path: dir,
    sub(name) {
      const p = path.join(dir, name);
      fs.mkdirSync(p, { recursive: true });
      return p;
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ServerProcess {
  name: string;
  url: string;
  pid: number;
  /** The environment it was started with (benches that sign tokens read its configuration from it). */
  env: Record<string, string>;
  /** SIGTERM, then SIGKILL if the process has not exited in time; resolves once it is gone. */
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT: an idle server's timers (job polling, outbox relay) would otherwise share the core. */
  pause(): void;
  resume(): void;
}

export interface StartOptions {
  /** Label used in messages and as the log file name. */
  name: string;
  /** Script and arguments, run as `node --import tsx <args>` from the repository root. */
  args: string[];
  env?: Record<string, string>;
  /** Path polled until it answers 200. */
  readyPath: string;
  pinning: Pinning;
  /** The process's stdout and stderr go here, for the post-mortem when it fails. */
  logFile: string;
  readyTimeoutMs?: number;
}

const running = new Set<ChildProcess>();

/** Where the logs of servers that died or exited non-zero are kept: the run's scratch folder is removed. */
export const KEPT_LOGS = path.join(ROOT, 'bench', '.logs');
const TAIL_LINES = 100;

/**
 * Copies a server's log out of the scratch folder and prints its last lines, so the cause of an exit under
 * load survives the cleanup (a 10,000-socket run once lost it). Never throws: it runs in an exit handler.
 */
function keepLog(name: string, logFile: string, how: string): void {
  try {
    fs.mkdirSync(KEPT_LOGS, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const kept = path.join(KEPT_LOGS, `${stamp}-${name.replace(/[^\w.-]+/g, '_')}.log`);
    fs.copyFileSync(logFile, kept);
    const tail = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
    console.error(
      `warning: ${name} ${how}; log kept in ${path.relative(process.cwd(), kept)}, last ${TAIL_LINES} lines:\n${tail}\n`,
    );
  } catch (err) {
    console.error(`warning: ${name} ${how}; its log ${logFile} could not be kept:`, err);
  }
}

// A crashed or interrupted benchmark must not leave servers holding ports and PGlite locks behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts a server process and waits until it is ready. The environment is built from scratch rather than
 * inherited, so a DATABASE_URL exported for the services run cannot leak into the embedded one.
 */
export async function startServer(opts: StartOptions): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await startOnPort(opts, port);
    } catch (err) {
      // Another process can take the port between the probe and the server's listen.
      if (attempt < 3 && err instanceof PortTakenError) continue;
      throw err;
    }
  }
}

class PortTakenError extends Error {}

async function startOnPort(opts: StartOptions, port: number): Promise<ServerProcess> {
  const command = [...opts.pinning.serverPrefix, process.execPath, '--import', 'tsx', ...opts.args];
  const log = fs.openSync(opts.logFile, 'a');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    PORT: String(port),
    HOST: '127.0.0.1',
    ...opts.env,
  };
  const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  running.add(child);
  let stopping = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      // Exiting unasked, or not cleanly when asked, is what the log must explain.
      if (!stopping || code !== 0) {
        keepLog(
          opts.name,
          opts.logFile,
          `${stopping ? 'exited' : 'exited unexpectedly'} with ${code ?? signal}`,
        );
      }
      resolve();
    }),
  );

  const url = `http://127.0.0.1:${port}`;
  const alive = () => child.exitCode === null && child.signalCode === null;
  let paused = false;
  const resume = () => {
    if (paused && alive()) child.kill('SIGCONT');
    paused = false;
  };
  const pause = () => {
    if (!paused && alive()) child.kill('SIGSTOP');
    paused = true;
  };
  const stop = async () => {
    if (!alive()) return;
    stopping = true;
    // A stopped process would not act on SIGTERM until continued.
    resume();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  for (;;) {
    if (!alive()) {
      const tail = fs.readFileSync(opts.logFile, 'utf8').slice(-3000);
      if (tail.includes('EADDRINUSE')) throw new PortTakenError(`port ${port} taken`);
      throw new Error(
        `${opts.name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail}`,
      );
    }
    try {
      const res = await fetch(url + opts.readyPath, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${opts.name} was not ready within the timeout; see ${opts.logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { name: opts.name, url, pid: child.pid!, env, stop, pause, resume };
}

export interface MoimOptions {
  name: string;
  dataDir: string;
  logFile: string;
  pinning: Pinning;
  /** Services mode; both unset means the embedded defaults (PGlite, in-process rate limits and fan-out). */
  databaseUrl?: string;
  redisUrl?: string;
  redisPrefix?: string;
  env?: Record<string, string>;
}

/** Moim through its real CLI, as an operator would start it. */
export function startMoim(opts: MoimOptions): Promise<ServerProcess> {
  return startServer({
    name: opts.name,
    args: ['src/main.ts', 'start'],
    readyPath: '/health/ready',
    pinning: opts.pinning,
    logFile: opts.logFile,
    env: {
      DATA_DIR: opts.dataDir,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE,
      // Draining exists for load balancers; here it only slows every stop down.
      SHUTDOWN_DRAIN_MS: '0',
      // Set even when empty: main.ts fills unset variables from a .env file in the working directory.
      DATABASE_URL: opts.databaseUrl ?? '',
      REDIS_URL: opts.redisUrl ?? '',
      ...(opts.redisPrefix ? { REDIS_PREFIX: opts.redisPrefix } : {}),
      ...opts.env,
    },
  });
}

/** Stops servers in reverse start order, reporting but not throwing, so cleanup always runs to the end. */
export async function stopAll(servers: ServerProcess[]): Promise<void> {
  for (const server of [...servers].reverse()) {
    try {
      await server.stop();
    } catch (err) {
      console.error(`warning: stopping ${server.name} failed:`, err);
    }
  }
}
