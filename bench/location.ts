import path from 'node:path';
import type { BenchContext } from './lib/bench.js';
import { pinServices } from './lib/cpu.js';
import type { Histogram } from './lib/histogram.js';
import { startMoim, startServer, stopAll, type ServerProcess } from './lib/processes.js';
import {
  errorCount,
  exitedWith,
  fmtInt,
  moimEnvOverrides,
  openFleet,
  fmtMs,
  markdownTable,
  measureWindow,
  percentileCells,
  sleep,
  unacknowledged,
  type RealtimeCpu,
  type ServerInternals,
} from './lib/realtime.js';
import { median } from './lib/report.js';
import { mintTokens, seedUsers } from './lib/seed.js';
import { freshDatabase, redisScope, type BenchDatabase, type BenchRedis } from './lib/services.js';
import type { ClientSpec } from './lib/socket-protocol.js';
import {
  AREA,
  type LocationClient,
  type LocationParams,
  type SetupParams,
  type SetupReport,
} from './scenarios/location.js';

const SCENARIO = path.join(import.meta.dirname, 'scenarios', 'location.ts');
const BASELINE = 'Socket.IO echo + 3 s push (baseline)';
const MOIM = 'Moim live location, services (PostgreSQL + Redis)';
const INTERVAL_MS = 1_000;
const PUSH_INTERVAL_MS = 3_000;
const RADIUS_M = 1_000;
const ACK_TIMEOUT_MS = 5_000;
const CONNECT_PER_SEC = 400;
const SETTLE_MS = 3_000;
const DRAIN_MS = ACK_TIMEOUT_MS + 1_000;
/** AREA is Seoul-sized: 0.4° of longitude by 0.25° of latitude around the city centre, about 35 × 28 km. */
const AREA_KM2 = 35.2 * 27.8;
const GOAL_ACK_P99 = 100;

interface LocationRound {
  round: number;
  label: string;
  connected: number;
  failed: number;
  connectErrors: string[];
  setup: SetupReport;
  handshake: Histogram | undefined;
  ack: Histogram | undefined;
  frameGap: Histogram | undefined;
  updatesPerSec: number;
  framesPerSec: number;
  peoplePerFrame: number;
  counters: Record<string, number>;
  unacked: number;
  cpu: RealtimeCpu;
  rssMb?: number;
  internals?: ServerInternals;
}

/**
 * Live location at 1 Hz: N people each share their position with the "people nearby" layer (100 m precision),
 * watch that layer within 1 km of themselves, and send an update every second; the server pushes frames every
 * 3 s when what a subscriber sees changed. Beside a plain Socket.IO server that acknowledges at once and pushes
 * a frame-sized payload to every socket every 3 s, with the same clients and load, in interleaved rounds.
 */
export async function location(ctx: BenchContext): Promise<string> {
  const { options, pinning, dir } = ctx;
  const databaseUrl = process.env.DATABASE_URL;
  const redisUrl = process.env.REDIS_URL;
  if (!databaseUrl || !redisUrl) {
    throw new Error('The location benchmark runs in services mode: set DATABASE_URL and REDIS_URL.');
  }
  const sockets = options.connections;
  // The baseline's push is as large as a frame of the people one would expect within the radius.
  const expectedPeople = Math.min(50, Math.round((sockets * Math.PI * (RADIUS_M / 1000) ** 2) / AREA_KM2));
  const pushBytes = 120 + 200 * expectedPeople;
  const servers: ServerProcess[] = [];
  let db: BenchDatabase | undefined;
  let services: ReturnType<typeof pinServices> | undefined;
  let redis: BenchRedis | undefined;
  const skipped: string[] = [];
  try {
    db = await freshDatabase(databaseUrl);
    services = pinServices(pinning);
    ctx.note(services.note);
    redis = await redisScope(redisUrl);
    ctx.note(`PostgreSQL ${db.version} on the same machine, fresh database \`${db.name}\``);
    ctx.note(`Redis ${redis.version} on the same machine, key prefix \`${redis.prefix}\``);
    const baseline = await startServer({
      name: 'baseline',
      args: ['bench/baseline/socketio-echo.ts'],
      readyPath: '/',
      pinning,
      logFile: `${dir.path}/baseline.log`,
      env: {
        PUSH_EVENT: 'location:frame',
        PUSH_INTERVAL_MS: String(PUSH_INTERVAL_MS),
        PUSH_BYTES: String(pushBytes),
      },
    });
    servers.push(baseline);
    const moim = await startMoim({
      name: 'moim',
      dataDir: dir.sub('data'),
      logFile: `${dir.path}/moim.log`,
      pinning,
      databaseUrl: db.url,
      redisUrl,
      redisPrefix: redis.prefix,
      env: moimEnvOverrides(ctx.note),
    });
    servers.push(moim);

    ctx.progress(`seeding ${sockets} people`);
    const users = await seedUsers(db.url, sockets);
    const positions: LocationClient[] = users.map(() => ({
      lat: AREA.south + Math.random() * (AREA.north - AREA.south),
      lng: AREA.west + Math.random() * (AREA.east - AREA.west),
    }));

    const targets = [
      { label: BASELINE, server: baseline, other: moim },
      { label: MOIM, server: moim, other: baseline },
    ];
    const rounds: LocationRound[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const target of targets) {
        if (skipped.length > 0 && target.server === moim) continue;
        target.other.pause();
        try {
          const isMoim = target.server === moim;
          const tokens = isMoim ? await mintTokens(moim.env, users) : users.map(() => 'baseline');
          const clients: ClientSpec<LocationClient>[] = positions.map((p, i) => ({
            token: tokens[i]!,
            data: p,
          }));
          const result = await locationRound(ctx, {
            round,
            label: target.label,
            server: target.server,
            clients,
            isMoim,
          });
          if (isMoim && result.setup.shares === 0) {
            skipped.push(
              `Moim not measured: no share could be started (${Object.entries(result.setup.errors)
                .map(([k, v]) => `${k} × ${v}`)
                .join(', ')}); is the location module in this build?`,
            );
            continue;
          }
          rounds.push(result);
          const died = isMoim ? exitedWith(moim.pid, `${dir.path}/moim.log`) : undefined;
          if (died) {
            skipped.push(`Moim exited during round ${round} and was not measured further: ${died}`);
            ctx.progress(`  Moim exited: ${died}`);
          }
        } finally {
          target.other.resume();
        }
      }
    }
    return report(rounds, { sockets, expectedPeople, pushBytes, options, skipped });
  } finally {
    services?.restore();
    await stopAll(servers);
    await db?.drop().catch((err: unknown) => console.error(`warning: dropping ${db?.name}:`, err));
    await redis?.cleanup().catch((err: unknown) => console.error('warning: cleaning Redis keys:', err));
  }
}

async function locationRound(
  ctx: BenchContext,
  run: {
    round: number;
    label: string;
    server: ServerProcess;
    clients: ClientSpec<LocationClient>[];
    isMoim: boolean;
  },
): Promise<LocationRound> {
  const { options } = ctx;
  const { fleet, connected, failed, connectErrors, handshake } = await openFleet(ctx, run, {
    scenario: SCENARIO,
    connectPerSec: CONNECT_PER_SEC,
    settleMs: SETTLE_MS,
  });
  try {
    const setups = (await fleet.all({
      kind: 'query',
      name: 'setup',
      arg: { radiusM: RADIUS_M, shareMinutes: 60, concurrency: 25 } satisfies SetupParams,
    })) as SetupReport[];
    const setup = setups.reduce((a, b) => {
      const errors = { ...a.errors };
      for (const [k, v] of Object.entries(b.errors)) errors[k] = (errors[k] ?? 0) + v;
      return { shares: a.shares + b.shares, subscriptions: a.subscriptions + b.subscriptions, errors };
    });
    if (Object.keys(setup.errors).length > 0) {
      ctx.progress(
        `  setup errors: ${Object.entries(setup.errors)
          .map(([k, v]) => `${k} × ${v}`)
          .join(', ')}`,
      );
    }
    if (run.isMoim && setup.shares === 0) {
      return {
        round: run.round,
        label: run.label,
        connected,
        failed,
        connectErrors: connectErrors,
        setup,
        handshake,
        ack: undefined,
        frameGap: undefined,
        updatesPerSec: 0,
        framesPerSec: 0,
        peoplePerFrame: 0,
        counters: {},
        unacked: 0,
        cpu: { server: 0, load: 0, services: 0, other: 0 },
      };
    }
    await fleet.all({
      kind: 'start',
      params: { intervalMs: INTERVAL_MS, timeoutMs: ACK_TIMEOUT_MS } satisfies LocationParams,
    });
    const window = await measureWindow(fleet, run.server, {
      warmupSec: options.warmupSec,
      durationSec: options.durationSec,
      internals: run.isMoim,
    });
    const { stats, seconds, cpu, internals } = window;
    await fleet.all({ kind: 'stop' });
    await sleep(DRAIN_MS);
    const unacked = await unacknowledged(fleet);
    const frames = stats.counters.frames ?? 0;
    const result: LocationRound = {
      round: run.round,
      label: run.label,
      connected,
      failed,
      connectErrors: connectErrors,
      setup,
      handshake,
      ack: stats.histograms.ack,
      frameGap: stats.histograms.frame_gap,
      updatesPerSec: (stats.counters.sent ?? 0) / seconds,
      framesPerSec: frames / seconds,
      peoplePerFrame: frames > 0 ? (stats.counters.frame_people ?? 0) / frames : 0,
      counters: stats.counters,
      unacked,
      cpu,
      ...(window.rssMb === undefined ? {} : { rssMb: window.rssMb }),
      ...(internals ? { internals } : {}),
    };
    const ack = result.ack?.percentiles();
    ctx.progress(
      `  ${fmtInt(result.updatesPerSec)} updates/s, ack p50 ${fmtMs(ack?.p50 ?? NaN)} p99 ${fmtMs(ack?.p99 ?? NaN)} ` +
        `max ${fmtMs(ack?.max ?? NaN)} ms, timeouts ${timeouts(result)}, errors ${errorCount(result.counters, failed)}, ` +
        `${fmtInt(result.framesPerSec)} frames/s (gap p99 ${fmtMs(result.frameGap?.percentiles().p99 ?? NaN)} ms, ` +
        `${result.peoplePerFrame.toFixed(1)} people), server CPU ${cpu.server} %, load ${cpu.load} %, ` +
        `services ${cpu.services} %, other ${cpu.other} %` +
        (internals ? `, loop max ${internals.loopMaxMs} ms, GC ${internals.gcMs} ms` : ''),
    );
    return result;
  } finally {
    await fleet.close();
  }
}

const timeouts = (r: LocationRound) => (r.counters.timeouts ?? 0) + r.unacked;

function report(
  rounds: LocationRound[],
  run: {
    sockets: number;
    expectedPeople: number;
    pushBytes: number;
    options: BenchContext['options'];
    skipped: string[];
  },
): string {
  const { options } = run;
  const p = (r: LocationRound, k: 'p50' | 'p99') => r.ack?.percentiles()[k] ?? Number.NaN;
  const rows = [BASELINE, MOIM]
    .map((label) => {
      const rs = rounds.filter((r) => r.label === label);
      return {
        label,
        n: rs.length,
        updates: median(rs.map((r) => r.updatesPerSec)),
        ackP50: median(rs.map((r) => p(r, 'p50'))),
        ackP99: median(rs.map((r) => p(r, 'p99'))),
        p99s: rs.map((r) => p(r, 'p99')),
        timeouts: rs.reduce((s, r) => s + timeouts(r), 0),
        errors: rs.reduce((s, r) => s + errorCount(r.counters, r.failed), 0),
        frames: median(rs.map((r) => r.framesPerSec)),
        gapP99: median(rs.map((r) => r.frameGap?.percentiles().p99 ?? Number.NaN)),
        people: median(rs.map((r) => r.peoplePerFrame)),
        serverCpu: median(rs.map((r) => r.cpu.server)),
        rss: Math.max(0, ...rs.map((r) => r.rssMb ?? 0)),
      };
    })
    .filter((r) => r.n > 0);
  const base = rows.find((r) => r.label === BASELINE);
  const moim = rows.find((r) => r.label === MOIM);
  const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(1)}×` : '–');
  const lines = [
    `${run.sockets} sockets (socket.io-client, websocket transport, one connection each, spread over ` +
      `${Math.max(2, Math.ceil(run.sockets / 2500))} load processes), people placed at random over a Seoul-sized ` +
      `area (about 35 × 28 km, so about ${run.expectedPeople} others within ${RADIUS_M / 1000} km of each). Each ` +
      `person starts a "nearby" share (100 m precision) and subscribes to the nearby layer within ` +
      `${RADIUS_M / 1000} km of themselves (setup, not measured), then sends \`location:update\` every ` +
      `${INTERVAL_MS / 1000} s at a phase of their own, moving in a straight line at 1.5–15 m/s (walking to ` +
      `driving in town), so positions cross the shares' 100 m cells and frames have something to show. People and sessions are ` +
      `inserted directly and the tokens signed with the server's key; every handshake is verified as usual. Each ` +
      `round connects fresh sockets (${CONNECT_PER_SEC} handshakes/s), waits until the server uses less than a ` +
      `quarter of a core (the connect storm's own work done), sets up, sends for ${options.warmupSec} s ` +
      `of warm-up and ${options.durationSec} s measured, then waits ${DRAIN_MS / 1000} s for stragglers; the ` +
      `server not being measured is paused (SIGSTOP). The baseline acknowledges every event at once and pushes a ` +
      `${fmtInt(run.pushBytes)}-byte \`location:frame\` to every socket every ${PUSH_INTERVAL_MS / 1000} s (the ` +
      `size of a frame of ${run.expectedPeople} people). **Ack**: update → acknowledgement; **timeouts**: acks ` +
      `missing after ${ACK_TIMEOUT_MS / 1000} s; **frame gap**: time between two frames at one subscriber ` +
      `(Moim pushes every ${PUSH_INTERVAL_MS / 1000} s only when what a subscriber sees changed, so gaps are ` +
      `multiples of ${PUSH_INTERVAL_MS / 1000} s; a p50 near ${PUSH_INTERVAL_MS / 1000} s means on schedule). Latencies in ms; medians over ${options.rounds} rounds.`,
    '',
    ...run.skipped.map((s) => `**${s}**\n`),
    markdownTable(
      [
        'target',
        'updates/s',
        'ack p50 / p99',
        'p99 per round',
        'timeouts',
        'errors',
        'frames/s',
        'frame gap p99',
        'people per frame',
        'server CPU',
        'server RSS',
      ],
      rows.map((r) => [
        r.label,
        fmtInt(r.updates),
        `${fmtMs(r.ackP50)} / **${fmtMs(r.ackP99)}**`,
        r.p99s.map(fmtMs).join(', '),
        r.timeouts,
        r.errors,
        fmtInt(r.frames),
        fmtMs(r.gapP99),
        r.people.toFixed(1),
        `${Math.round(r.serverCpu)} %`,
        r.rss > 0 ? `${r.rss} MB` : '–',
      ]),
    ),
    '',
  ];
  if (base && moim) {
    const met = moim.ackP99 <= GOAL_ACK_P99 && moim.timeouts === 0;
    lines.push(
      `- Against the baseline (same run): ack p99 **${ratio(moim.ackP99, base.ackP99)}**, server CPU ` +
        `**${ratio(moim.serverCpu, base.serverCpu)}**.`,
      `- Goal (${run.sockets} sockets; the goal is 10,000): ack p99 ≤ ${GOAL_ACK_P99} ms as the median of the ` +
        `rounds and no timeouts: ${fmtMs(moim.ackP99)} ms, ${moim.timeouts} timeouts: **${met ? 'met' : 'NOT met'}**.`,
    );
  }
  for (const r of rounds) {
    const codes = Object.entries(r.counters).filter(([k]) => k.startsWith('error_'));
    if (codes.length > 0) {
      lines.push(
        `- Error acks, ${r.label} round ${r.round}: ${codes.map(([k, v]) => `${k.slice(6)} × ${v}`).join(', ')}`,
      );
    }
  }
  const notes = [...new Set(rounds.flatMap((r) => r.connectErrors))];
  if (notes.length > 0) lines.push(`- Connection errors seen: ${notes.map((n) => `\`${n}\``).join(', ')}`);
  const setupErrors = rounds.filter((r) => Object.keys(r.setup.errors).length > 0);
  for (const r of setupErrors) {
    lines.push(
      `- Setup errors, ${r.label} round ${r.round}: ${Object.entries(r.setup.errors)
        .map(([k, v]) => `${k} × ${v}`)
        .join(', ')}`,
    );
  }
  lines.push(
    '',
    'Rounds ("load CPU": the socket load processes; "services CPU": PostgreSQL and Redis, including any other work ' +
      'they did meanwhile; "other CPU": the rest of the machine; loop max and GC from Moim\'s /metrics over the ' +
      'measured window):',
    '',
    markdownTable(
      [
        'round',
        'target',
        'sockets',
        'shares / subs',
        'updates/s',
        'ack p50 / p90 / p99 / max',
        'timeouts',
        'errors',
        'frames/s',
        'frame gap p50 / p99',
        'server CPU',
        'load CPU',
        'services CPU',
        'other CPU',
        'loop max / GC',
      ],
      rounds.map((r) => [
        r.round,
        r.label,
        r.failed > 0 ? `${r.connected} (${r.failed} failed)` : r.connected,
        `${r.setup.shares} / ${r.setup.subscriptions}`,
        fmtInt(r.updatesPerSec),
        percentileCells(r.ack).join(' / '),
        timeouts(r),
        errorCount(r.counters, r.failed),
        fmtInt(r.framesPerSec),
        `${fmtMs(r.frameGap?.percentiles().p50 ?? NaN)} / ${fmtMs(r.frameGap?.percentiles().p99 ?? NaN)}`,
        `${r.cpu.server} %`,
        `${r.cpu.load} %`,
        `${r.cpu.services} %`,
        `${r.cpu.other} %`,
        r.internals ? `${r.internals.loopMaxMs} ms / ${r.internals.gcMs} ms` : '–',
      ]),
    ),
  );
  return lines.join('\n');
}
