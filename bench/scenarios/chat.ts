import { randomBytes } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import type { ClientSpec, Scenario, WorkerContext } from '../lib/socket-protocol.js';

/**
 * The chat client of the chat benchmark (runs inside the socket workers). Each client is a member of one
 * conversation; the worker sends its share of the total message rate from its clients in turn, each message
 * carrying its send time (shared monotonic clock) and its sender in the body, so every receiver — in whichever
 * worker — measures the delivery latency, and every client keeps the sequence numbers it received to check for
 * loss at the end.
 */

export interface ChatClient {
  conversationId: string;
  /** Index over all clients of the run: identifies the sender in a message body. */
  index: number;
}

export interface ChatParams {
  /** Messages per second this worker sends. */
  ratePerSec: number;
  /** Acks not received within this long count as timeouts (a late one is still recorded, as late). */
  timeoutMs: number;
}

/** Per conversation: lowest and highest sequence number seen (acked or received) in this worker. */
export type SeqRanges = Record<string, [number, number]>;

export interface LossReport {
  /** Messages each client should have received (its conversation's range, its own messages included). */
  expected: number;
  received: number;
  /** Not received as `chat:message`. */
  missedLive: number;
  duplicates: number;
  /** Clients that missed at least one message live. */
  clientsMissing: number;
  /** Of the missed ones, fetched with `chat:sync` as the delivery contract says a client does. */
  recovered: number;
  /** Still missing after the sync: lost. */
  lost: number;
}

const TICK_MS = 10;
const PAD = ' lorem ipsum dolor sit amet, consectetur adipiscing elit';

interface Client {
  socket: Socket;
  spec: ChatClient;
  /** Sequence numbers received, in arrival order; grown by doubling. */
  seqs: Uint32Array;
  n: number;
}

export function createScenario(ctx: WorkerContext): Scenario {
  const clients: Client[] = [];
  const ranges = new Map<string, [number, number]>();
  const pending = new Map<number, number>();
  let timer: NodeJS.Timeout | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let nextMessage = 0;
  let turn = 0;
  /**
   * The order clients take turns in: shuffled once, so consecutive messages go to different conversations, as
   * from people chatting independently. (In index order, a worker would send ten messages into one conversation
   * back to back, then ten into the next: a burst pattern that measures row-lock queueing, not the rate.)
   */
  let order: Client[] = [];
  /**
   * Client ids are unique per round, not just per worker: the same people send in every round, and a client id
   * they used in an earlier round makes Moim answer with that round's message (a retry, as it should), whose old
   * sequence number then stretched the conversation's range over messages nobody was sent this round.
   */
  const clientIdPrefix = randomBytes(6).toString('base64url');

  const push = (client: Client, seq: number) => {
    if (client.n === client.seqs.length) {
      const grown = new Uint32Array(client.seqs.length * 2);
      grown.set(client.seqs);
      client.seqs = grown;
    }
    client.seqs[client.n++] = seq;
  };

  const see = (conversationId: string, seq: number) => {
    const r = ranges.get(conversationId);
    if (!r) ranges.set(conversationId, [seq, seq]);
    else {
      if (seq < r[0]) r[0] = seq;
      if (seq > r[1]) r[1] = seq;
    }
  };

  const sendOne = () => {
    // The next connected client in turn; a dropped one is skipped (and counted by the worker).
    let client: Client | undefined;
    for (let tries = 0; tries < order.length && !client; tries++) {
      const c = order[turn++ % order.length]!;
      if (c.socket.connected) client = c;
    }
    if (!client) return ctx.count('no_socket');
    const no = nextMessage++;
    const t0 = ctx.now();
    pending.set(no, t0);
    ctx.count('sent');
    const { conversationId } = client.spec;
    client.socket.emit(
      'chat:send',
      {
        conversationId,
        clientId: `${clientIdPrefix}-w${ctx.workerId}m${no}`,
        body: `${t0.toFixed(3)} ${client.spec.index}${PAD}`,
      },
      (res: { ok: boolean; data?: { message: { seq: number } }; error?: { code: string } }) => {
        const latency = ctx.now() - t0;
        if (!pending.delete(no)) ctx.count('late_acks');
        if (!res.ok || !res.data) return ctx.count(`error_${res.error?.code ?? 'unknown'}`);
        ctx.histogram('ack').record(latency);
        ctx.count('acked');
        see(conversationId, res.data.message.seq);
      },
    );
  };

  return {
    attach(socket, raw: ClientSpec) {
      const client: Client = { socket, spec: raw.data as ChatClient, seqs: new Uint32Array(64), n: 0 };
      clients.push(client);
      socket.on('chat:message', (m: { seq: number; conversationId: string; body: string | null }) => {
        push(client, m.seq);
        see(m.conversationId, m.seq);
        ctx.count('received');
        const body = m.body ?? '';
        const space = body.indexOf(' ');
        const sender = Number(body.slice(space + 1, body.indexOf(' ', space + 1)));
        // The sender's own copy confirms its send; the latency that matters is to everyone else.
        if (sender !== client.spec.index)
          ctx.histogram('delivery').record(ctx.now() - Number(body.slice(0, space)));
      });
    },

    start(raw) {
      const params = raw as ChatParams;
      order = [...clients];
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const started = ctx.now();
      let sent = 0;
      timer = setInterval(() => {
        const due = Math.floor(((ctx.now() - started) / 1000) * params.ratePerSec);
        for (; sent < due; sent++) sendOne();
      }, TICK_MS);
      sweeper = setInterval(() => {
        const limit = ctx.now() - params.timeoutMs;
        for (const [no, t0] of pending) {
          if (t0 < limit) {
            pending.delete(no);
            ctx.count('timeouts');
          }
        }
      }, 250);
    },

    stop() {
      clearInterval(timer);
    },

    query(name, arg) {
      if (name === 'ranges') return Object.fromEntries(ranges) as SeqRanges;
      if (name === 'pending') {
        clearInterval(sweeper);
        return pending.size;
      }
      if (name === 'verify') return verify(arg as SeqRanges, false);
      if (name === 'recover') return verify(arg as SeqRanges, true);
      throw new Error(`unknown query ${name}`);
    },
  };

  /** Counts what each client received of its conversation's range; with `recover`, syncs what it missed first. */
  async function verify(all: SeqRanges, recover: boolean): Promise<LossReport> {
    const report: LossReport = {
      expected: 0,
      received: 0,
      missedLive: 0,
      duplicates: 0,
      clientsMissing: 0,
      recovered: 0,
      lost: 0,
    };
    const count = (c: Client, from: number, to: number) => {
      const got = c.seqs.slice(0, c.n).sort();
      let distinct = 0;
      let duplicates = 0;
      for (let i = 0; i < got.length; i++) {
        const s = got[i]!;
        if (i > 0 && s === got[i - 1]) duplicates++;
        else if (s >= from && s <= to) distinct++;
      }
      return { distinct, duplicates };
    };
    const missing: { c: Client; from: number; to: number; live: number }[] = [];
    for (const c of clients) {
      const range = all[c.spec.conversationId];
      if (!range) continue;
      const [from, to] = range;
      const expected = to - from + 1;
      const { distinct, duplicates } = count(c, from, to);
      report.expected += expected;
      report.received += distinct;
      report.missedLive += expected - distinct;
      report.duplicates += duplicates;
      if (distinct < expected) {
        report.clientsMissing++;
        missing.push({ c, from, to, live: distinct });
      }
    }
    if (!recover) {
      report.lost = report.missedLive;
      return report;
    }
    let next = 0;
    const lane = async () => {
      while (next < missing.length) {
        const m = missing[next++]!;
        let after = m.from - 1;
        while (after < m.to && m.c.socket.connected) {
          const res = await syncPage(m.c, after);
          if (!res) break;
          for (const msg of res.messages) push(m.c, msg.seq);
          if (!res.hasMore || res.messages.length === 0) break;
          after = res.messages.at(-1)!.seq;
        }
        const { distinct } = count(m.c, m.from, m.to);
        report.recovered += distinct - m.live;
        report.lost += m.to - m.from + 1 - distinct;
      }
    };
    await Promise.all(Array.from({ length: 10 }, lane));
    return report;
  }

  function syncPage(c: Client, afterSeq: number) {
    type Page = { messages: { seq: number }[]; hasMore: boolean };
    return new Promise<Page | undefined>((resolve) => {
      c.socket
        .timeout(30_000)
        .emit(
          'chat:sync',
          { conversationId: c.spec.conversationId, afterSeq },
          (err: Error | null, res: { ok: boolean; data?: Page }) =>
            resolve(err || !res.ok ? undefined : res.data),
        );
    });
  }
}
