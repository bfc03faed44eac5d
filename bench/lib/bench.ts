import { parseArgs } from 'node:util';
import type { Pinning } from './cpu.js';
import type { RunDir } from './processes.js';
import type { RoundOptions } from './rounds.js';

export interface BenchOptions extends RoundOptions {
  record: boolean;
  pin: boolean;
  /** Keep bench/.tmp/<run> (server logs, data directories) even when the run succeeds. */
  keep: boolean;
  /** Events per second, for benchmarks that send at a fixed rate (chat); undefined for the others. */
  rate?: number;
}

export interface BenchContext {
  options: BenchOptions;
  pinning: Pinning;
  dir: RunDir;
  /** A progress line on stderr; stdout carries only the markdown result. */
  progress: (line: string) => void;
  /** Adds a line to the section's environment list (service versions and the like). */
  note: (line: string) => void;
}

/** A benchmark: returns the body of its markdown section (method and tables); run.ts adds the header. */
export type BenchFn = (ctx: BenchContext) => Promise<string>;

export interface BenchEntry {
  summary: string;
  run: BenchFn;
  /** Defaults that suit this benchmark better than the common ones. */
  defaults?: Partial<Pick<BenchOptions, 'rounds' | 'durationSec' | 'warmupSec' | 'connections' | 'rate'>>;
}

const DEFAULTS = {
  rounds: 3,
  durationSec: 10,
  warmupSec: 3,
  connections: 50,
  quietPct: 15,
  quietWaitSec: 20,
};

export const OPTIONS_HELP = `Options:
  --rounds N        interleaved rounds (default ${DEFAULTS.rounds})
  --duration S      seconds per measured run (default ${DEFAULTS.durationSec})
  --warmup S        seconds of warm-up per target before the rounds (default ${DEFAULTS.warmupSec})
  --connections C   concurrent connections, or sockets (default ${DEFAULTS.connections} unless the benchmark says otherwise)
  --rate R          messages per second in total, for the benchmarks that send at a fixed rate (chat)
  --quiet-pct P     before each run, wait until the rest of the machine uses < P % of a core (default ${DEFAULTS.quietPct})
  --quiet-wait S    ... but no longer than S seconds (default ${DEFAULTS.quietWaitSec})
  --no-pin          do not pin the server to core 0 and the load generator to core 1
  --record          also write the section to bench/RESULTS.md
  --keep            keep bench/.tmp/<run> (server logs, data) after a successful run`;

export class UsageError extends Error {}

function count(raw: string | undefined, name: string, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
  return n;
}

export function parseOptions(args: string[], defaults: BenchEntry['defaults'] = {}): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        rounds: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string' },
        rate: { type: 'string' },
        'quiet-pct': { type: 'string' },
        'quiet-wait': { type: 'string' },
        'no-pin': { type: 'boolean' },
        record: { type: 'boolean' },
        keep: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const d = { ...DEFAULTS, ...defaults };
  return {
    rounds: count(values.rounds, 'rounds', d.rounds, 1),
    durationSec: count(values.duration, 'duration', d.durationSec, 1),
    warmupSec: count(values.warmup, 'warmup', d.warmupSec, 0),
    connections: count(values.connections, 'connections', d.connections, 1),
    ...(values.rate !== undefined || d.rate !== undefined
      ? { rate: count(values.rate, 'rate', d.rate ?? 0, 1) }
      : {}),
    quietPct: count(values['quiet-pct'], 'quiet-pct', d.quietPct, 0),
    quietWaitSec: count(values['quiet-wait'], 'quiet-wait', d.quietWaitSec, 0),
    pin: !values['no-pin'],
    record: values.record ?? false,
    keep: values.keep ?? false,
  };
}

/** The command that reproduces a run, with the options spelled out (service URLs by name only: secrets). */
export function commandLine(name: string, o: BenchOptions): string {
  const env = ['DATABASE_URL', 'REDIS_URL'].filter((v) => process.env[v]).map((v) => `${v}=… `);
  const flags = [
    `--rounds ${o.rounds}`,
    `--duration ${o.durationSec}`,
    `--warmup ${o.warmupSec}`,
    `--connections ${o.connections}`,
    ...(o.rate === undefined ? [] : [`--rate ${o.rate}`]),
    ...(o.pin ? [] : ['--no-pin']),
  ];
  return `${env.join('')}npm run bench -- ${name} ${flags.join(' ')}`;
}
