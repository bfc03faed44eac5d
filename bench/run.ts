import { auth } from './auth.js';
import { events } from './events.js';
import { chat } from './chat.js';
import { location } from './location.js';
import { http } from './http.js';
import { commandLine, OPTIONS_HELP, parseOptions, UsageError, type BenchEntry } from './lib/bench.js';
import { detectPinning, pinSelf } from './lib/cpu.js';
import { machineLock } from './lib/lock.js';
import { runDir } from './lib/processes.js';
import { codeVersion, machineInfo, recordSection } from './lib/report.js';

/** Adding a benchmark: a file bench/<name>.ts exporting a BenchFn, and one entry here. */
const BENCHMARKS: Record<string, BenchEntry> = {
  http: {
    summary: "framework overhead: Moim's GET /health/live vs bare Fastify hello-world",
    run: http,
  },
  auth: {
    summary: 'GET /v1/me (token check + one read) and POST /v1/auth/refresh on PostgreSQL vs bare Fastify',
    run: auth,
    defaults: { connections: 64 },
  },
  events: {
    summary:
      'event search (keyword + dates + 5 km + open only) and map pins over 100,000 events on PostgreSQL vs bare Fastify',
    run: events,
    defaults: { connections: 32 },
  },
  chat: {
    summary: 'chat:send ack and delivery latency, sockets in conversations of 20, vs a Socket.IO echo server',
    run: chat,
    defaults: { connections: 2000, rate: 500, durationSec: 30, warmupSec: 5 },
  },
  location: {
    summary: 'location:update ack at 1 Hz per socket, nearby frames every 3 s, vs a Socket.IO echo server',
    run: location,
    defaults: { connections: 10_000, durationSec: 30, warmupSec: 5 },
  },
};

function usage(): string {
  const names = Object.entries(BENCHMARKS).map(([name, b]) => `  ${name.padEnd(16)}${b.summary}`);
  return `Usage: npm run bench -- <name> [options]\n\nBenchmarks:\n${names.join('\n')}\n\n${OPTIONS_HELP}`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const entry = name === undefined ? undefined : BENCHMARKS[name];
  if (name === undefined || !entry) {
    const help = name !== undefined && ['help', '--help', '-h'].includes(name);
    if (help) {
      console.log(usage());
      return 0;
    }
    console.error(
      `${name === undefined ? 'Which benchmark?' : `Unknown benchmark "${name}".`}\n\n${usage()}`,
    );
    return 2;
  }
  const options = parseOptions(args, entry.defaults);
  const pinning = detectPinning(options.pin);
  pinSelf(pinning);
  const progress = (line: string) => console.error(line);
  const unlock = await machineLock(commandLine(name, options), progress);
  const dir = runDir(name);
  const notes: string[] = [];
  progress(`bench ${name}: scratch in ${dir.path}`);
  if (!pinning.enabled) progress(`not pinning: ${pinning.reason}`);

  const header = [
    `## ${name}`,
    '',
    `- Command: \`${commandLine(name, options)}\``,
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${machineInfo()}`,
    `- Code: ${codeVersion()}`,
    pinning.enabled
      ? `- Placement: servers pinned to core ${pinning.serverCore} (\`taskset\`), load generator (the bench process and its load processes) to core ${pinning.loadCore}`
      : `- Placement: not pinned (${pinning.reason}); figures are not comparable with pinned runs`,
  ];
  let body: string;
  try {
    body = await entry.run({ options, pinning, dir, progress, note: (line) => notes.push(line) });
  } catch (err) {
    console.error(`\nbench ${name} failed; server logs kept in ${dir.path}`);
    throw err;
  } finally {
    unlock();
  }
  if (!options.keep) dir.cleanup();
  const section = [...header, ...notes.map((n) => `- ${n}`), '', body].join('\n');
  console.log(`\n${section}\n`);
  if (options.record) progress(`recorded in ${await recordSection(name, section)}`);
  return 0;
}

// Interrupted: exit normally so the exit handlers stop the servers and load processes and release the lock.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`${err.message}\n\n${usage()}`);
    process.exitCode = 2;
  } else {
    console.error(err);
    process.exitCode = 1;
  }
}
