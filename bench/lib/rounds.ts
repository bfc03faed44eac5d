import { cpuWindow, rssMb, waitForQuiet, type CpuUse } from './cpu.js';
import { runLoad, warmUp, type LoadOptions, type LoadResult } from './load.js';
import type { ServerProcess } from './processes.js';

export interface Target {
  label: string;
  server: ServerProcess;
  /** Called before every run, so stateful request sequences start fresh each round. */
  load: () => Omit<LoadOptions, 'connections' | 'durationSec'>;
}

export interface RoundOptions {
  rounds: number;
  durationSec: number;
  warmupSec: number;
  connections: number;
  /** A round waits (up to quietWaitSec) until the rest of the machine uses less than this % of a core. */
  quietPct: number;
  quietWaitSec: number;
}

export interface RoundResult extends LoadResult {
  round: number;
  label: string;
  cpu: CpuUse;
  rssMb?: number;
  /** CPU % of a core the rest of the machine used in the second before the round. */
  otherBefore: number;
}

/**
 * Runs every target once per round, in the same order each round (baseline first), so host drift over the run
 * hits baseline and candidate alike and the ratio stays meaningful even when the absolute numbers move. The
 * targets not being measured are paused meanwhile: all servers share one core.
 */
export async function interleavedRounds(
  targets: Target[],
  opts: RoundOptions,
  progress: (line: string) => void,
): Promise<RoundResult[]> {
  const alone = async <T>(target: Target, run: () => Promise<T>): Promise<T> => {
    const others = targets.filter((t) => t !== target);
    for (const t of others) t.server.pause();
    try {
      return await run();
    } finally {
      for (const t of others) t.server.resume();
    }
  };
  for (const target of targets) {
    progress(`warm-up ${target.label} (${opts.warmupSec} s)`);
    await alone(target, () =>
      warmUp({ ...target.load(), connections: opts.connections, durationSec: opts.warmupSec }),
    );
  }
  const pids = targets.map((t) => t.server.pid);
  const results: RoundResult[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    for (const target of targets) {
      const quiet = await waitForQuiet(pids, opts.quietPct, opts.quietWaitSec * 1000);
      if (quiet.waitedMs > 1500) {
        progress(
          `  waited ${Math.round(quiet.waitedMs / 1000)} s for a quiet machine (other CPU ${quiet.otherPct} %)`,
        );
      }
      const endCpu = cpuWindow(target.server.pid);
      const load = await runLoad({
        ...target.load(),
        connections: opts.connections,
        durationSec: opts.durationSec,
      });
      const cpu = endCpu();
      const rss = rssMb(target.server.pid);
      const result: RoundResult = {
        ...load,
        round,
        label: target.label,
        cpu,
        ...(rss === undefined ? {} : { rssMb: rss }),
        otherBefore: quiet.otherPct,
      };
      results.push(result);
      progress(
        `round ${round}/${opts.rounds} ${target.label}: ${Math.round(load.reqPerSec).toLocaleString('en')} req/s, ` +
          `p50 ${load.p50} ms, p99 ${load.p99} ms, errors ${load.errors}, non-2xx ${load.non2xx}, ` +
          `server CPU ${cpu.server ?? '?'} %, load CPU ${cpu.load} %, other CPU ${cpu.other} %`,
      );
    }
  }
  return results;
}
