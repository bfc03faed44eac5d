import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { processCpuMs } from './cpu.js';
import { Histogram } from './histogram.js';
import type {
  ClientSpec,
  Command,
  ConnectResult,
  InitMessage,
  Reply,
  Request,
  Stats,
} from './socket-protocol.js';

const WORKER = path.join(import.meta.dirname, 'socket-worker.ts');

const live = new Set<ChildProcess>();
// An interrupted bench must not leave workers holding thousands of sockets.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** One socket.io-client process holds at most this many sockets: beyond it its own GC pauses show in the figures. */
export const SOCKETS_PER_WORKER = 2_500;

export interface FleetOptions {
  url: string;
  /** Absolute path of the scenario module run in every worker. */
  scenario: string;
  clients: ClientSpec[];
  /** Worker processes; default: enough for SOCKETS_PER_WORKER each, at least 2. */
  workers?: number;
  /** Handshakes per second over all workers. */
  connectPerSec: number;
  logFile?: string;
}

export interface MergedStats {
  histograms: Record<string, Histogram>;
  counters: Record<string, number>;
}

interface Worker {
  child: ChildProcess;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
  exited: Promise<void>;
}

/**
 * The simulated clients, spread round-robin over child processes (which inherit the bench's CPU placement: the
 * load core when pinned), so neither one event loop nor one heap's GC pauses limit the load or distort the
 * latencies. Latencies are kept in histograms inside the workers and merged here.
 */
export class SocketFleet {
  private nextId = 1;
  connect: ConnectResult = { connected: 0, failed: 0, errors: [] };

  private constructor(private readonly workers: Worker[]) {}

  static async start(opts: FleetOptions): Promise<SocketFleet> {
    const count = opts.workers ?? Math.max(2, Math.ceil(opts.clients.length / SOCKETS_PER_WORKER));
    const workers: Worker[] = [];
    for (let i = 0; i < count; i++) {
      const child = fork(WORKER, [], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        // Same environment minus what could make a worker talk to the services.
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      });
      live.add(child);
      const w: Worker = {
        child,
        pending: new Map(),
        exited: new Promise((resolve) => child.once('exit', () => resolve())),
      };
      child.on('message', (raw) => {
        const reply = raw as Reply;
        const p = w.pending.get(reply.id);
        if (!p) return;
        w.pending.delete(reply.id);
        if (reply.ok) p.resolve(reply.result);
        else p.reject(new Error(`socket worker ${i}: ${reply.error}`));
      });
      child.once('exit', (code, signal) => {
        live.delete(child);
        for (const p of w.pending.values())
          p.reject(new Error(`socket worker ${i} exited (${code ?? signal})`));
        w.pending.clear();
      });
      workers.push(w);
    }
    const fleet = new SocketFleet(workers);
    const shares: ClientSpec[][] = workers.map(() => []);
    opts.clients.forEach((c, i) => shares[i % count]!.push(c));
    const results = (await Promise.all(
      workers.map((w, i) =>
        fleet.request(w, {
          kind: 'init',
          workerId: i,
          url: opts.url,
          scenario: opts.scenario,
          clients: shares[i]!,
          connectPerSec: opts.connectPerSec / count,
        }),
      ),
    )) as ConnectResult[];
    fleet.connect = {
      connected: results.reduce((s, r) => s + r.connected, 0),
      failed: results.reduce((s, r) => s + r.failed, 0),
      errors: [...new Set(results.flatMap((r) => r.errors))].slice(0, 5),
    };
    return fleet;
  }

  get size(): number {
    return this.workers.length;
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid!);
  }

  private request(w: Worker, msg: InitMessage | Command): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      w.pending.set(id, { resolve, reject });
      w.child.send({ ...msg, id } as Request);
    });
  }

  /** Sends a command to every worker; `perWorker` lets each get its own parameters. */
  all(command: Command | ((worker: number) => Command)): Promise<unknown[]> {
    return Promise.all(
      this.workers.map((w, i) => this.request(w, typeof command === 'function' ? command(i) : command)),
    );
  }

  /** Histograms and counters of all workers since the last reset, merged. */
  async stats(): Promise<MergedStats> {
    const parts = (await this.all({ kind: 'collect' })) as Stats[];
    const names = new Set(parts.flatMap((p) => Object.keys(p.histograms)));
    const histograms: Record<string, Histogram> = {};
    for (const name of names) histograms[name] = Histogram.merge(parts.map((p) => p.histograms[name] ?? []));
    const counters: Record<string, number> = {};
    for (const p of parts)
      for (const [k, v] of Object.entries(p.counters)) counters[k] = (counters[k] ?? 0) + v;
    return { histograms, counters };
  }

  /** CPU time (ms) the workers have used so far. */
  cpuMs(): number {
    return this.pids.reduce((sum, pid) => sum + (processCpuMs(pid) ?? 0), 0);
  }

  async close(): Promise<void> {
    await this.all({ kind: 'close' }).catch(() => undefined);
    const timer = setTimeout(() => {
      for (const w of this.workers) w.child.kill('SIGKILL');
    }, 10_000);
    await Promise.all(this.workers.map((w) => w.exited));
    clearTimeout(timer);
  }
}
