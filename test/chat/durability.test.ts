import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { openDatabase, queryRows } from '../../src/infra/db/database.js';
import { servicesMode } from '../helpers/app.js';
import { openTestDatabase } from '../helpers/database.js';
import type { Json } from '../helpers/http.js';
import { freePort, spawnMoim, waitForExit, waitForReady } from '../helpers/process.js';

/**
 * The delivery guarantee end to end, against the real server process: clients drop and reconnect at random
 * while messages flow, and the server goes down twice in the middle: once gracefully (SIGTERM), once killed
 * outright (SIGKILL: no drain, no goodbye, in-flight requests cut). Every client resumes from its last sequence
 * number. A checker then compares what each client acknowledged and received with the messages table itself:
 * every acknowledged message stored, none stored twice, every member applying every message once, in order.
 *
 * Where the database is: services mode, PostgreSQL, read by the checker over its own connection. Embedded mode,
 * PGlite in the process that is killed; what is meaningful there is that PGlite keeps its data directory on
 * disk (DATA_DIR) and a process started after a SIGKILL reopens it (taking over the dead process's lock) with
 * every committed transaction in it. So the server runs on an on-disk data directory, and the checker opens that
 * directory itself once the server has stopped.
 */
describe('chat delivery across drops, a restart and a crash', () => {
  let dataDir: string;
  let databaseUrl: string | undefined;
  let port: number;
  let server: ReturnType<typeof spawnMoim>;
  // Its own Redis keys, kept across its restarts: under the default prefix the per-IP signup counters of earlier
  // runs (and of anything else on this Redis) are still there, and after a few runs signing up answers 429.
  const redisPrefix = `moim:t:${randomBytes(4).toString('hex')}:`;
  const env = () => ({
    PORT: String(port),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_MINUTE: '100000',
    EVENT_CREATE_INTERVAL_SECONDS: '0',
    ...(servicesMode
      ? {
          DATABASE_URL: databaseUrl!,
          ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL, REDIS_PREFIX: redisPrefix } : {}),
        }
      : {}),
  });
  const base = () => `http://127.0.0.1:${port}`;
  async function start() {
    server = spawnMoim(['start'], env());
    await waitForReady(`${base()}/health/ready`);
  }

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-chat-'));
    if (servicesMode) {
      // A database of its own, copied from the run's migrated template like every test file's.
      const opened = await openTestDatabase(inject('dbTemplate'));
      await opened.database.close();
      databaseUrl = opened.url;
    }
    port = await freePort();
    await start();
  }, 240_000);
  afterAll(async () => {
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await waitForExit(server, 60_000).catch(() => undefined);
    }
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  async function api(
    method: string,
    url: string,
    body?: unknown,
    token?: string,
    ip?: string,
  ): Promise<Json> {
    const res = await fetch(base() + url, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(ip ? { 'x-forwarded-for': ip } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** The conversation's rows, straight from the database the server wrote (PostgreSQL, or its PGlite dir). */
  async function storedMessages(conversationId: string) {
    type Row = { id: string; seq: number; kind: string; sender_id: string | null; client_id: string | null };
    if (servicesMode) {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        const res = await client.query<Row>(
          'select id, seq::int as seq, kind, sender_id, client_id from messages where conversation_id = $1 order by seq',
          [conversationId],
        );
        return res.rows;
      } finally {
        await client.end();
      }
    }
    // PGlite allows one process per directory: stop the server, then open its data directory here.
    server.kill('SIGTERM');
    await waitForExit(server, 60_000);
    const database = await openDatabase({ pgliteDir: path.join(dataDir, 'pglite') });
    try {
      return await queryRows<Row>(
        database.db,
        sql`select id, seq::int as seq, kind, sender_id, client_id from messages where conversation_id = ${conversationId} order by seq`,
      );
    } finally {
      await database.close();
    }
  }

  interface Client {
    id: number;
    token: string;
    socket: Socket;
    /** Messages received or synced, in the order applied; each seq once. */
    seen: { seq: number; id: string }[];
    /** Live `chat:message` deliveries per connection: Socket.IO must never push one message twice on one. */
    live: string[][];
    lastSeq: number;
    acked: Set<string>;
    syncing: Promise<void> | null;
  }

  it('loses nothing that was acknowledged and delivers everything once, in order', async () => {
    const people = await Promise.all(
      Array.from({ length: 5 }, async (_, i) => {
        const body = await api('POST', '/v1/auth/signup/email', {
          email: `chat${i}-${randomBytes(4).toString('hex')}@example.com`,
          password: `pw-${randomBytes(8).toString('hex')}`,
          nickname: `chat_${i}_${randomBytes(3).toString('hex')}`,
        });
        return { userId: body.user.id as string, token: body.tokens.accessToken as string };
      }),
    );
    const [host, ...guests] = people;
    const start0 = new Date(Date.now() + 24 * 3_600_000);
    const event = await api(
      'POST',
      '/v1/events',
      {
        title: 'Durability run',
        startsAt: start0.toISOString(),
        endsAt: new Date(start0.getTime() + 3_600_000).toISOString(),
      },
      host!.token,
    );
    for (const g of guests) await api('POST', `/v1/events/${event.id}/join`, {}, g.token);
    let conversationId = '';
    for (let i = 0; i < 50 && !conversationId; i++) {
      const found = await api('GET', `/v1/events/${event.id}/conversation`, undefined, host!.token).catch(
        () => null,
      );
      if (
        found &&
        (await api('GET', `/v1/conversations/${found.id}`, undefined, host!.token)).members.length === 5
      ) {
        conversationId = found.id;
      } else await new Promise((r) => setTimeout(r, 200));
    }
    expect(conversationId).not.toBe('');

    const clients: Client[] = people.map((p, id) => ({
      id,
      token: p.token,
      socket: io(base(), {
        transports: ['websocket'],
        auth: { token: p.token },
        reconnectionDelay: 100,
        reconnectionDelayMax: 500,
        forceNew: true,
      }),
      seen: [],
      live: [[]],
      lastSeq: 0,
      acked: new Set(),
      syncing: null,
    }));

    const apply = (c: Client, m: Json) => {
      if (m.conversationId !== conversationId || m.seq <= c.lastSeq) return;
      if (m.seq !== c.lastSeq + 1) return void sync(c); // a gap: fetch what is missing first
      c.seen.push({ seq: m.seq, id: m.id });
      c.lastSeq = m.seq;
    };
    const sync = (c: Client): Promise<void> => {
      c.syncing ??= (async () => {
        try {
          for (;;) {
            const res = await c.socket
              .timeout(3_000)
              .emitWithAck('chat:sync', { conversationId, afterSeq: c.lastSeq });
            if (!res.ok) throw new Error(JSON.stringify(res.error));
            for (const m of res.data.messages) apply(c, m);
            if (!res.data.hasMore) break;
          }
        } catch {
          // disconnected mid-sync: the next connect syncs again
        } finally {
          c.syncing = null;
        }
      })();
      return c.syncing;
    };
    for (const c of clients) {
      c.socket.on('connect', () => {
        c.live.push([]);
        void sync(c);
      });
      c.socket.on('chat:message', (m: Json) => {
        if (m.conversationId === conversationId) c.live.at(-1)!.push(m.id);
        apply(c, m);
      });
    }

    // Each client sends its messages in order, retrying each until acknowledged (same client id).
    const PER_CLIENT = 12;
    const sendAll = async (c: Client) => {
      for (let n = 0; n < PER_CLIENT; n++) {
        const clientId = `c${c.id}-${n}`;
        for (;;) {
          try {
            const res = await c.socket
              .timeout(2_000)
              .emitWithAck('chat:send', { conversationId, clientId, body: `m ${clientId}` });
            if (res.ok) {
              c.acked.add(res.data.message.id);
              break;
            }
          } catch {
            // no ack (dropped or restarting): retry with the same client id
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, randomInt(20, 120)));
      }
    };
    // Chaos: random drops while the messages flow, and one server restart in the middle.
    let chaos = true;
    const dropper = (async () => {
      while (chaos) {
        await new Promise((r) => setTimeout(r, randomInt(150, 400)));
        const victim = clients[randomInt(0, clients.length)]!;
        victim.socket.io.engine?.close();
      }
    })();
    const restarter = (async () => {
      // A graceful restart at a third of the messages, a crash at two thirds: every client is mid-conversation.
      const total = () => clients.reduce((n, c) => n + c.acked.size, 0);
      for (const [share, signal] of [
        [1 / 3, 'SIGTERM'],
        [2 / 3, 'SIGKILL'],
      ] as const) {
        while (total() < clients.length * PER_CLIENT * share) await new Promise((r) => setTimeout(r, 50));
        server.kill(signal);
        await waitForExit(server, 60_000);
        await start();
      }
    })();
    await Promise.all([...clients.map(sendAll), restarter]);
    chaos = false;
    await dropper;

    // Settle: everyone connected and synced to the end of what the server says is there.
    const tip = await api(
      'GET',
      `/v1/conversations/${conversationId}/messages?limit=1`,
      undefined,
      host!.token,
    );
    const last = tip.items[0].seq as number;
    const deadline = Date.now() + 20_000;
    for (const c of clients) {
      while (c.lastSeq < last) {
        if (Date.now() > deadline) throw new Error(`client ${c.id} stuck at ${c.lastSeq} of ${last}`);
        if (c.socket.connected) await sync(c);
        await new Promise((r) => setTimeout(r, 100));
      }
      c.socket.close();
    }

    // The checker reads the messages table itself (see the note at the top for embedded mode).
    const rows = await storedMessages(conversationId);
    const texts = rows.filter((m) => m.kind === 'text');
    expect(texts).toHaveLength(clients.length * PER_CLIENT);
    // 0 duplicated: one row per (sender, client id), and the client ids are exactly those sent.
    expect(new Set(texts.map((m) => `${m.sender_id}/${m.client_id}`)).size).toBe(texts.length);
    expect(new Set(texts.map((m) => m.client_id))).toEqual(
      new Set(clients.flatMap((c) => Array.from({ length: PER_CLIENT }, (_, n) => `c${c.id}-${n}`))),
    );
    // Numbers without holes, from 1.
    expect(rows.map((m) => m.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.at(-1)!.seq).toBe(last);
    const storedIds = rows.map((m) => m.id);
    const stored = new Set(storedIds);
    for (const c of clients) {
      // 0 lost: every acknowledged message is in the table.
      for (const id of c.acked) expect(stored.has(id), `acked ${id} not stored`).toBe(true);
      expect(c.acked.size).toBe(PER_CLIENT);
      // Every member applied every message of the conversation once, in order, across the drops and restarts.
      expect(c.seen.map((m) => m.id)).toEqual(storedIds);
      // And no connection was pushed the same message twice.
      for (const live of c.live) expect(new Set(live).size).toBe(live.length);
    }
  }, 300_000);
});
