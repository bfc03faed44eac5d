import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { servicesMode } from '../helpers/app.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { openTestDatabase } from '../helpers/database.js';
import { requestJson, type Json } from '../helpers/http.js';
import { freePort, spawnMoim, waitForExit, waitForReady } from '../helpers/process.js';
import { connectSocket, type TestSocket } from '../helpers/sockets.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Short intervals, so that a dead node's people go stale in about a second and a half. */
const HEARTBEAT_MS = 300;
const STALE_MS = 1_500;
const SWEEP_MS = 200;
const PRESENCE_ENV = {
  PRESENCE_HEARTBEAT_MS: String(HEARTBEAT_MS),
  PRESENCE_STALE_MS: String(STALE_MS),
  PRESENCE_SWEEP_MS: String(SWEEP_MS),
  EVENT_CREATE_INTERVAL_SECONDS: '0',
};

type Api = (method: string, url: string, body?: unknown, token?: string) => Promise<Json>;

/** Two people sharing an event (so each may see the other's presence), made through the API. */
async function pair(api: Api, signUp: () => Promise<{ userId: string; token: string }>) {
  const host = await signUp();
  const friend = await signUp();
  const start = new Date(Date.now() + 24 * 3_600_000);
  const event = await api(
    'POST',
    '/v1/events',
    {
      title: 'Presence',
      startsAt: start.toISOString(),
      endsAt: new Date(start.getTime() + 3_600_000).toISOString(),
    },
    host.token,
  );
  await api('POST', `/v1/events/${event.id}/join`, {}, friend.token);
  // Presence is shared through the event's conversation, which the join's own transaction updated; kept as a
  // wait all the same, should that ever change.
  for (let i = 0; ; i++) {
    const ok = await api('GET', `/v1/users/${friend.userId}/presence`, undefined, host.token).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (i > 100) throw new Error('the event conversation never appeared');
    await sleep(100);
  }
  return { host, friend };
}

/** Every `presence:changed` about `userId` a socket receives. */
function changesAbout(socket: TestSocket, userId: string): Json[] {
  const got: Json[] = [];
  socket.on('presence:changed', (p: Json) => {
    if (p.userId === userId) got.push({ ...p, receivedAt: Date.now() });
  });
  return got;
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A node killed with SIGKILL says nothing on its way out: its sockets' presence entries simply stop being
 * refreshed. The surviving nodes' sweepers find them stale, one of them (and only one) claims each person left
 * with no socket, and announces them offline with their last heartbeat as last seen.
 */
describe.runIf(servicesMode)('presence when a node dies (three processes, PostgreSQL + Redis)', () => {
  let cluster: Cluster | undefined;
  afterAll(() => cluster?.close());

  it('the survivors announce the dead node’s people offline exactly once, last seen at their last heartbeat', async () => {
    cluster = await startCluster(3, PRESENCE_ENV);
    const c = cluster;
    const { host, friend } = await pair(
      (method, url, body, token) => c.api(0, method, url, body, token),
      () => c.signUp(0),
    );
    // Watchers on both surviving nodes; the friend on the node that will die.
    const onA = await c.connect(0, host.token);
    const onB = await c.connect(1, host.token);
    const heardOnA = changesAbout(onA, friend.userId);
    const heardOnB = changesAbout(onB, friend.userId);
    const connectedAt = Date.now();
    await c.connect(2, friend.token);
    await until('the friend online', () => heardOnA.some((p) => p.online), 10_000);
    // Long enough for a few heartbeats: last seen must move past the connect time.
    await sleep(4 * HEARTBEAT_MS);

    const killedAt = Date.now();
    c.nodes[2]!.proc.kill('SIGKILL');
    await waitForExit(c.nodes[2]!.proc, 10_000);
    await until('the offline announcement', () => heardOnA.some((p) => !p.online), STALE_MS + 10_000);
    // Give any second sweeper every chance to announce again.
    await sleep(STALE_MS + 3 * SWEEP_MS);

    for (const heard of [heardOnA, heardOnB]) {
      const offline = heard.filter((p) => !p.online);
      expect(offline, JSON.stringify(heard)).toHaveLength(1);
      const lastSeen = Date.parse(offline[0]!.lastSeenAt);
      // The last heartbeat before the kill: after the connect (heartbeats happened), not after the kill, and
      // at most about one heartbeat before it.
      expect(lastSeen).toBeGreaterThan(connectedAt + HEARTBEAT_MS);
      expect(lastSeen).toBeLessThanOrEqual(killedAt + 50);
      expect(lastSeen).toBeGreaterThanOrEqual(killedAt - 2 * HEARTBEAT_MS - 200);
      // Announced once the entry went stale, not before.
      expect(offline[0]!.receivedAt).toBeGreaterThanOrEqual(lastSeen + STALE_MS);
    }
    for (const node of [0, 1]) {
      const seen = await c.api(node, 'GET', `/v1/users/${friend.userId}/presence`, undefined, host.token);
      expect(seen).toEqual({
        userId: friend.userId,
        online: false,
        lastSeenAt: heardOnA.find((p) => !p.online)!.lastSeenAt,
      });
    }
  }, 600_000);
});

/**
 * One process, killed and started again: in embedded mode the sockets die with the process and nobody is left
 * to tell; what must be right afterwards is that nobody shows online and last seen is the last heartbeat, not
 * the connect time. PGlite keeps its data directory on disk, so the restarted process reopens it. In services
 * mode the restarted node's own sweeper finds the stale entries and settles them the same way.
 */
describe('presence after the only process was killed', () => {
  let dataDir: string | undefined;
  let server: ReturnType<typeof spawnMoim> | undefined;
  afterAll(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await waitForExit(server, 60_000).catch(() => undefined);
    }
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('shows the person offline, last seen at the last heartbeat before the kill', async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-presence-'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let databaseUrl: string | undefined;
    if (servicesMode) {
      const opened = await openTestDatabase(inject('dbTemplate'));
      await opened.database.close();
      databaseUrl = opened.url;
    }
    const env = {
      PORT: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '100000',
      ...PRESENCE_ENV,
      ...(databaseUrl
        ? {
            DATABASE_URL: databaseUrl,
            REDIS_URL: process.env.REDIS_URL ?? '',
            REDIS_PREFIX: `moim:crash:${randomBytes(4).toString('hex')}:`,
          }
        : {}),
    };
    const start = async () => {
      server = spawnMoim(['start'], env);
      await waitForReady(`${base}/health/ready`);
    };
    const api: Api = (method, url, body, token) => requestJson(base, method, url, body, token);
    const signUp = async () => {
      const body = await api('POST', '/v1/auth/signup/email', {
        email: `p${randomBytes(5).toString('hex')}@example.com`,
        password: `pw-${randomBytes(8).toString('hex')}`,
        nickname: `p_${randomBytes(4).toString('hex')}`,
      });
      return { userId: body.user.id as string, token: body.tokens.accessToken as string };
    };

    await start();
    const { host, friend } = await pair(api, signUp);
    const connectedAt = Date.now();
    const socket = await connectSocket(base, { token: friend.token });
    await sleep(5 * HEARTBEAT_MS);
    const online = await api('GET', `/v1/users/${friend.userId}/presence`, undefined, host.token);
    expect(online.online).toBe(true);

    const killedAt = Date.now();
    server!.kill('SIGKILL');
    await waitForExit(server!, 10_000);
    socket.close();
    await start();
    // Services mode: the entry is stale only STALE_MS after its last heartbeat, and is settled by a sweep.
    await sleep(servicesMode ? STALE_MS + 2 * SWEEP_MS : 0);

    const after = await api('GET', `/v1/users/${friend.userId}/presence`, undefined, host.token);
    expect(after.online).toBe(false);
    const lastSeen = Date.parse(after.lastSeenAt);
    expect(lastSeen).toBeGreaterThan(connectedAt + HEARTBEAT_MS);
    expect(lastSeen).toBeLessThanOrEqual(killedAt + 50);
    expect(lastSeen).toBeGreaterThanOrEqual(killedAt - 2 * HEARTBEAT_MS - 200);
  }, 300_000);
});
