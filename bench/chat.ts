import path from 'node:path';
import type { BenchContext } from './lib/bench.js';
import { pinServices } from './lib/cpu.js';
import type { Histogram } from './lib/histogram.js';
import { startMoim, startServer, stopAll, type ServerProcess } from './lib/processes.js';
import {
  errorCount,
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
import {
  mintTokens,
  outboxBacklog,
  seedEventConversations,
  seedUsers,
  storedSeqs,
  type BenchConversation,
} from './lib/seed.js';
import { freshDatabase, redisScope, type BenchDatabase, type BenchRedis } from './lib/services.js';
import type { ClientSpec } from './lib/socket-protocol.js';
import type { ChatClient, ChatParams, LossReport, SeqRanges } from './scenarios/chat.js';

const SCENARIO = path.join(import.meta.dirname, 'scenarios', 'chat.ts');
const BASELINE = 'Socket.IO echo + room broadcast (baseline)';
const MOIM = 'Moim chat, services (PostgreSQL + Redis)';
const CONVERSATION_SIZE = 20;
const ACK_TIMEOUT_MS = 5_000;
/** Handshakes per second: Moim verifies each token and reads its session, so a burst would only measure that. */
const CONNECT_PER_SEC = 400;
/** After connecting, before sending: Moim joins each socket to its conversations' rooms just after connection. */
const SETTLE_MS = 3_000;
/** After the last send, for acks and deliveries still in flight. */
const DRAIN_MS = ACK_TIMEOUT_MS + 1_000;
const GOAL = { ackP99: 100, deliveryP99: 200 };

interface ChatRound {
  round: number;
  label: string;
  connected: number;
  failed: number;
  connectErrors: string[];
  handshake: Histogram | undefined;
  /** From the last handshake to the first send (see openFleet). */
  settledMs: number;
  ack: Histogram | undefined;
  delivery: Histogram | undefined;
  sentPerSec: number;
  deliveriesPerSec: number;
  counters: Record<string, number>;
  /** Acks still missing after the drain: timeouts too. */
  unacked: number;
  loss: LossReport;
  /** Moim only: messages the database holds beyond those the clients saw acknowledged or delivered. */
  storedNotSeen?: number;
  /** Moim only: outbox events not yet relayed at the end of the measured window. */
  outboxBacklog?: number;
  cpu: RealtimeCpu;
  rssMb?: number;
  internals?: ServerInternals;
  otherBefore: number;
}

/**
 * Chat at a fixed message rate: sockets in conversations of 20, `--rate` messages a second sent in total by the
 * members in turn. Measures the acknowledgement (send → ack after the commit) and the delivery to every other
 * member (send → `chat:message` received, on the machine's shared monotonic clock), and checks by sequence
 * number that every member received every message. Beside a plain Socket.IO server that acknowledges at once
 * and broadcasts to the room, with the same clients and load, in interleaved rounds.
 */
export async function chat(ctx: BenchContext): Promise<string> {
  const { options, pinning, dir } = ctx;
  const databaseUrl = process.env.DATABASE_URL;
  const redisUrl = process.env.REDIS_URL;
  if (!databaseUrl || !redisUrl) {
    throw new Error('The chat benchmark runs in services mode: set DATABASE_URL and REDIS_URL.');
  }
  const sockets = Math.floor(options.connections / CONVERSATION_SIZE) * CONVERSATION_SIZE;
  if (sockets < CONVERSATION_SIZE) throw new Error(`--connections must be at least ${CONVERSATION_SIZE}`);
  const rate = options.rate ?? 500;
  const servers: ServerProcess[] = [];
  let db: BenchDatabase | undefined;
  let services: ReturnType<typeof pinServices> | undefined;
  let redis: BenchRedis | undefined;
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

    ctx.progress(`seeding ${sockets} people in ${sockets / CONVERSATION_SIZE} event conversations`);
    const users = await seedUsers(db.url, sockets);
    const conversations = await seedEventConversations(db.url, users, CONVERSATION_SIZE);
    const members = conversations.flatMap((c) =>
      c.members.map((m) => ({ user: m, conversationId: c.conversationId })),
    );

    const targets = [
      { label: BASELINE, server: baseline, other: moim },
      { label: MOIM, server: moim, other: baseline },
    ];
    const rounds: ChatRound[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const target of targets) {
        target.other.pause();
        try {
          const isMoim = target.server === moim;
          const tokens = isMoim ? await mintTokens(moim.env, users) : users.map(() => 'baseline');
          const clients: ClientSpec<ChatClient>[] = members.map((m, index) => ({
            token: tokens[index]!,
            ...(isMoim ? {} : { auth: { rooms: [`conv:${m.conversationId}`] } }),
            data: { conversationId: m.conversationId, index },
          }));
          const result = await chatRound(ctx, {
            round,
            label: target.label,
            server: target.server,
            clients,
            rate,
            ...(isMoim ? { conversations, databaseUrl: db.url } : {}),
          });
          rounds.push(result);
        } finally {
          target.other.resume();
        }
      }
    }
    return report(rounds, { sockets, rate, options });
  } finally {
    services?.restore();
    await stopAll(servers);
    await db?.drop().catch((err: unknown) => console.error(`warning: dropping ${db?.name}:`, err));
    await redis?.cleanup().catch((err: unknown) => console.error('warning: cleaning Redis keys:', err));
  }
}

async function chatRound(
  ctx: BenchContext,
  run: {
    round: number;
    label: string;
    server: ServerProcess;
    clients: ClientSpec<ChatClient>[];
    rate: number;
    conversations?: BenchConversation[];
    databaseUrl?: string;
  },
): Promise<ChatRound> {
  const { options } = ctx;
  const { fleet, quiet, connected, failed, connectErrors, handshake, settledMs } = await openFleet(ctx, run, {
    scenario: SCENARIO,
    connectPerSec: CONNECT_PER_SEC,
    settleMs: SETTLE_MS,
  });
  try {
    await fleet.all(() => ({
      kind: 'start',
      params: { ratePerSec: run.rate / fleet.size, timeoutMs: ACK_TIMEOUT_MS } satisfies ChatParams,
    }));
    const window = await measureWindow(fleet, run.server, {
      warmupSec: options.warmupSec,
      durationSec: options.durationSec,
      internals: run.databaseUrl !== undefined,
    });
    const { stats, seconds, cpu, internals } = window;
    const backlog = run.databaseUrl ? await outboxBacklog(run.databaseUrl) : undefined;
    await fleet.all({ kind: 'stop' });
    await sleep(DRAIN_MS);
    const unacked = await unacknowledged(fleet);
    const ranges: SeqRanges = {};
    for (const part of (await fleet.all({ kind: 'query', name: 'ranges', arg: null })) as SeqRanges[]) {
      for (const [id, [from, to]] of Object.entries(part)) {
        const r = ranges[id];
        ranges[id] = r ? [Math.min(r[0], from), Math.max(r[1], to)] : [from, to];
      }
    }
    // Moim's clients fetch what they missed live with chat:sync, as the delivery contract has them do; the
    // baseline has no history to sync from.
    const name = run.databaseUrl ? 'recover' : 'verify';
    const parts = (await fleet.all({ kind: 'query', name, arg: ranges })) as LossReport[];
    const loss = parts.reduce((a, b) => ({
      expected: a.expected + b.expected,
      received: a.received + b.received,
      missedLive: a.missedLive + b.missedLive,
      duplicates: a.duplicates + b.duplicates,
      clientsMissing: a.clientsMissing + b.clientsMissing,
      recovered: a.recovered + b.recovered,
      lost: a.lost + b.lost,
    }));
    let storedNotSeen: number | undefined;
    if (run.databaseUrl && run.conversations) {
      // What PostgreSQL holds against what the clients saw: a message stored but neither acknowledged nor
      // delivered to anyone would be beyond the highest sequence number seen.
      const stored = await storedSeqs(
        run.databaseUrl,
        run.conversations.map((c) => c.conversationId),
      );
      storedNotSeen = 0;
      for (const [id, last] of stored) storedNotSeen += last - (ranges[id]?.[1] ?? last);
    }
    const result: ChatRound = {
      round: run.round,
      label: run.label,
      connected,
      failed,
      connectErrors: connectErrors,
      handshake,
      settledMs,
      ack: stats.histograms.ack,
      delivery: stats.histograms.delivery,
      sentPerSec: (stats.counters.sent ?? 0) / seconds,
      deliveriesPerSec: (stats.histograms.delivery?.count ?? 0) / seconds,
      counters: stats.counters,
      unacked,
      loss,
      ...(storedNotSeen === undefined ? {} : { storedNotSeen }),
      ...(backlog === undefined ? {} : { outboxBacklog: backlog }),
      cpu,
      ...(window.rssMb === undefined ? {} : { rssMb: window.rssMb }),
      ...(internals ? { internals } : {}),
      otherBefore: quiet.otherPct,
    };
    const ack = result.ack?.percentiles();
    const delivery = result.delivery?.percentiles();
    ctx.progress(
      `  ${fmtInt(result.sentPerSec)} msg/s, ack p50 ${fmtMs(ack?.p50 ?? NaN)} p99 ${fmtMs(ack?.p99 ?? NaN)} ms, ` +
        `delivery p99 ${fmtMs(delivery?.p99 ?? NaN)} ms (${fmtInt(result.deliveriesPerSec)}/s), ` +
        `timeouts ${timeouts(result)}, missed live ${loss.missedLive}/${loss.expected} (${loss.recovered} ` +
        `recovered by sync), lost ${loss.lost}, dup ${loss.duplicates}, ` +
        `server CPU ${cpu.server} %, load ${cpu.load} %, services ${cpu.services} %, other ${cpu.other} %` +
        (internals ? `, loop max ${internals.loopMaxMs} ms, GC ${internals.gcMs} ms` : '') +
        (backlog === undefined ? '' : `, outbox backlog ${backlog}`),
    );
    return result;
  } finally {
    await fleet.close();
  }
}

const timeouts = (r: ChatRound) => (r.counters.timeouts ?? 0) + r.unacked;

/** Moim's figure over the baseline's of the same round, per round: the host drifts between rounds. */
function perRound(rounds: ChatRound[], figure: (r: ChatRound) => number): string {
  const out: string[] = [];
  for (const r of rounds.filter((x) => x.label === MOIM)) {
    const base = rounds.find((x) => x.label === BASELINE && x.round === r.round);
    if (base) out.push(`${(figure(r) / figure(base)).toFixed(1)}×`);
  }
  return out.join(', ') || '–';
}

function report(
  rounds: ChatRound[],
  run: { sockets: number; rate: number; options: BenchContext['options'] },
): string {
  const { options } = run;
  const p = (r: ChatRound, h: 'ack' | 'delivery', k: 'p50' | 'p90' | 'p99' | 'max') =>
    r[h]?.percentiles()[k] ?? Number.NaN;
  const summaryRows = [BASELINE, MOIM].map((label) => {
    const rs = rounds.filter((r) => r.label === label);
    return {
      label,
      rs,
      ackP50: median(rs.map((r) => p(r, 'ack', 'p50'))),
      ackP99: median(rs.map((r) => p(r, 'ack', 'p99'))),
      deliveryP50: median(rs.map((r) => p(r, 'delivery', 'p50'))),
      deliveryP99: median(rs.map((r) => p(r, 'delivery', 'p99'))),
      sent: median(rs.map((r) => r.sentPerSec)),
      deliveries: median(rs.map((r) => r.deliveriesPerSec)),
      timeouts: rs.reduce((s, r) => s + timeouts(r), 0),
      errors: rs.reduce((s, r) => s + errorCount(r.counters, r.failed), 0),
      lost: rs.reduce((s, r) => s + r.loss.lost, 0),
      missedLive: rs.reduce((s, r) => s + r.loss.missedLive, 0),
      recovered: rs.reduce((s, r) => s + r.loss.recovered, 0),
      expected: rs.reduce((s, r) => s + r.loss.expected, 0),
      duplicates: rs.reduce((s, r) => s + r.loss.duplicates, 0),
      serverCpu: median(rs.map((r) => r.cpu.server)),
      rss: Math.max(...rs.map((r) => r.rssMb ?? 0)),
    };
  });
  const [base, moim] = summaryRows as [(typeof summaryRows)[0], (typeof summaryRows)[0]];
  const ackMet = moim.ackP99 <= GOAL.ackP99;
  const deliveryMet = moim.deliveryP99 <= GOAL.deliveryP99;
  const lossMet = moim.lost === 0;
  const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(1)}×` : '–');
  const notes = [...new Set(rounds.flatMap((r) => r.connectErrors))];
  return [
    `${run.sockets} sockets (socket.io-client, websocket transport, one connection each, spread over ` +
      `${Math.max(2, Math.ceil(run.sockets / 2500))} load processes) in ${run.sockets / CONVERSATION_SIZE} event ` +
      `conversations of ${CONVERSATION_SIZE} people going; ${run.rate} messages/s sent in total, by the members in ` +
      `turn (${(run.rate / run.sockets).toFixed(2)} messages/s per socket), about 56-byte bodies. People, sessions, ` +
      `events and memberships are inserted directly (bench/lib/seed.ts) and the access tokens signed with the ` +
      `server's key; every handshake is verified by the server as usual. Each round connects fresh sockets ` +
      `(${CONNECT_PER_SEC} handshakes/s), waits ${SETTLE_MS / 1000} s and then until Moim (or the baseline) uses less than a quarter of a core (the ` +
      `work each connection started is done: the connect storm is what the handshake column shows), sends for ${options.warmupSec} s of ` +
      `warm-up and ${options.durationSec} s measured, then stops and waits ${DRAIN_MS / 1000} s for stragglers. ` +
      `The server not being measured is paused (SIGSTOP). ` +
      `**Ack**: \`chat:send\` → its acknowledgement (Moim acknowledges after the PostgreSQL commit). **Delivery**: ` +
      `send → \`chat:message\` at each other member, sender and receivers possibly in different load processes ` +
      `(CLOCK_MONOTONIC, shared by all processes). Per member, the sequence numbers of its conversation ` +
      `seen anywhere in the round (acked or delivered) that the member did not receive as \`chat:message\`, over ` +
      `the whole round, is **missed live**; after the drain, each Moim client that missed some calls \`chat:sync\` ` +
      `as the delivery contract says, and what is still missing then is **lost**. Moim's stored \`last_seq\` is ` +
      `also checked against the highest number seen. Timeouts: acks missing after ` +
      `${ACK_TIMEOUT_MS / 1000} s. Latencies in ms (histograms with < 1 % error); medians over ${options.rounds} ` +
      `rounds.`,
    '',
    markdownTable(
      [
        'target',
        'sent msg/s',
        'ack p50 / p99',
        'deliveries/s',
        'delivery p50 / p99',
        'timeouts',
        'errors',
        'missed live / expected',
        'recovered by sync',
        'lost',
        'dup',
        'server CPU',
        'server RSS',
      ],
      summaryRows.map((r) => [
        r.label,
        fmtInt(r.sent),
        `${fmtMs(r.ackP50)} / **${fmtMs(r.ackP99)}**`,
        fmtInt(r.deliveries),
        `${fmtMs(r.deliveryP50)} / **${fmtMs(r.deliveryP99)}**`,
        r.timeouts,
        r.errors,
        `${fmtInt(r.missedLive)} / ${fmtInt(r.expected)}`,
        fmtInt(r.recovered),
        `**${fmtInt(r.lost)}**`,
        r.duplicates,
        `${Math.round(r.serverCpu)} %`,
        r.rss > 0 ? `${r.rss} MB` : '–',
      ]),
    ),
    '',
    `- Against the baseline (same run): ack p99 **${ratio(moim.ackP99, base.ackP99)}**, delivery p99 ` +
      `**${ratio(moim.deliveryP99, base.deliveryP99)}**, server CPU **${ratio(moim.serverCpu, base.serverCpu)}**; ` +
      `ack p99 round by round (each against the baseline of its round): ${perRound(rounds, (r) => p(r, 'ack', 'p99'))}.`,
    `- Goals (Moim, median of the rounds): ack p99 ≤ ${GOAL.ackP99} ms: ${fmtMs(moim.ackP99)} ms, ` +
      `**${ackMet ? 'met' : 'NOT met'}**; delivery p99 ≤ ${GOAL.deliveryP99} ms: ${fmtMs(moim.deliveryP99)} ms, ` +
      `**${deliveryMet ? 'met' : 'NOT met'}**; 0 lost: ${moim.lost} lost ` +
      `(${fmtInt(moim.missedLive)} missed live, ${fmtInt(moim.recovered)} of them recovered by \`chat:sync\`), ` +
      `**${lossMet ? 'met' : 'NOT met'}**` +
      ` (${moim.timeouts} timeouts, ${moim.errors} errors).`,
    ...(notes.length > 0 ? [`- Connection errors seen: ${notes.map((n) => `\`${n}\``).join(', ')}`] : []),
    '',
    'Rounds ("load CPU" is the socket load processes; "services CPU" is PostgreSQL and Redis, including any other ' +
      'work they did meanwhile; "other CPU" is the rest of the machine; loop max and GC are from Moim\'s /metrics ' +
      'over the measured window; the outbox backlog is the domain events not yet relayed at its end):',
    '',
    markdownTable(
      [
        'round',
        'target',
        'sockets',
        'handshake p99',
        'settled after',
        'sent/s',
        'ack p50 / p90 / p99 / max',
        'delivery p50 / p90 / p99 / max',
        'timeouts',
        'missed live / lost',
        'server CPU',
        'load CPU',
        'services CPU',
        'other CPU',
        'loop max / GC',
        'outbox backlog',
      ],
      rounds.map((r) => [
        r.round,
        r.label,
        r.failed > 0 ? `${r.connected} (${r.failed} failed)` : r.connected,
        fmtMs(r.handshake?.percentiles().p99 ?? NaN),
        `${(r.settledMs / 1000).toFixed(0)} s`,
        fmtInt(r.sentPerSec),
        percentileCells(r.ack).join(' / '),
        percentileCells(r.delivery).join(' / '),
        timeouts(r),
        `${r.loss.missedLive} / ${r.loss.lost}` +
          (r.storedNotSeen ? ` (+${r.storedNotSeen} stored unseen)` : ''),
        `${r.cpu.server} %`,
        `${r.cpu.load} %`,
        `${r.cpu.services} %`,
        `${r.cpu.other} %`,
        r.internals ? `${r.internals.loopMaxMs} ms / ${r.internals.gcMs} ms` : '–',
        r.outboxBacklog ?? '–',
      ]),
    ),
  ].join('\n');
}
