import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { servicesMode } from '../helpers/app.js';
import { openTestDatabase } from '../helpers/database.js';
import type { Json } from '../helpers/http.js';
import { freePort, spawnMoim, waitForExit, waitForReady } from '../helpers/process.js';
import { connectSocket, emitAck, nextEvent, type TestSocket } from '../helpers/sockets.js';

/**
 * Two real API processes behind (no) load balancer, sharing PostgreSQL and Redis, as deployed: a message sent
 * through node A reaches a member connected to node B, presence is the same on both, and someone removed through
 * node A stops receiving on node B. Embedded mode is one process by design.
 */
describe.runIf(servicesMode)('two server processes (PostgreSQL + Redis)', () => {
  const nodes: { url: string; proc: ReturnType<typeof spawnMoim> }[] = [];
  let dataDir: string;
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-nodes-'));
    const opened = await openTestDatabase(inject('dbTemplate'));
    await opened.database.close();
    const shared = {
      DATABASE_URL: opened.url!,
      REDIS_URL: process.env.REDIS_URL ?? '',
      REDIS_PREFIX: `moim:mn:${randomBytes(4).toString('hex')}:`,
      // One data directory for both: the generated keys are shared, as production shares configured ones.
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '100000',
      EVENT_CREATE_INTERVAL_SECONDS: '0',
    };
    // The first node generates the keys; the second starts once they exist.
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const proc = spawnMoim(['start'], {
        ...shared,
        PORT: String(port),
        JOBS_IN_PROCESS: i === 0 ? 'true' : 'false',
      });
      const url = `http://127.0.0.1:${port}`;
      await waitForReady(`${url}/health/ready`);
      nodes.push({ url, proc });
    }
  }, 400_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const { proc } of nodes) {
      proc.kill('SIGTERM');
      await waitForExit(proc, 60_000).catch(() => undefined);
    }
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  async function api(
    node: number,
    method: string,
    url: string,
    body?: unknown,
    token?: string,
  ): Promise<Json> {
    const res = await fetch(nodes[node]!.url + url, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }
  const signUp = async (node: number) => {
    const body = await api(node, 'POST', '/v1/auth/signup/email', {
      email: `n${randomBytes(5).toString('hex')}@example.com`,
      password: `pw-${randomBytes(8).toString('hex')}`,
      nickname: `node_${randomBytes(4).toString('hex')}`,
    });
    return { userId: body.user.id as string, token: body.tokens.accessToken as string };
  };
  const connect = async (node: number, token: string) => {
    const s = await connectSocket(nodes[node]!.url, { token });
    sockets.push(s);
    return s;
  };

  it('a message sent through node A reaches a member on node B; presence and removals cross too', async () => {
    const host = await signUp(0);
    const guest = await signUp(1);
    const start = new Date(Date.now() + 24 * 3_600_000);
    const event = await api(
      0,
      'POST',
      '/v1/events',
      {
        title: 'Two nodes',
        startsAt: start.toISOString(),
        endsAt: new Date(start.getTime() + 3_600_000).toISOString(),
      },
      host.token,
    );
    await api(1, 'POST', `/v1/events/${event.id}/join`, {}, guest.token);
    let conversationId = '';
    for (let i = 0; i < 100 && !conversationId; i++) {
      const found = await api(1, 'GET', `/v1/events/${event.id}/conversation`, undefined, guest.token).catch(
        () => null,
      );
      if (found) conversationId = found.id;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(conversationId).not.toBe('');

    const onB = await connect(1, guest.token);
    const onA = await connect(0, host.token);
    const arrived = nextEvent<Json>(onB, 'chat:message', 10_000);
    const ack = (await emitAck<Json>(onA, 'chat:send', {
      conversationId,
      clientId: 'node-a-1',
      body: 'hello from A',
    })) as Json;
    expect(ack.ok).toBe(true);
    expect(await arrived).toMatchObject({ id: ack.data.message.id, body: 'hello from A' });

    // Presence is shared: the guest connected to B is online as seen from A.
    const presence = await api(0, 'GET', `/v1/users/${guest.userId}/presence`, undefined, host.token);
    expect(presence.online).toBe(true);

    // Removed through A: B's socket stops receiving the conversation.
    const heard: Json[] = [];
    onB.on('chat:message', (m: Json) => heard.push(m));
    await api(0, 'DELETE', `/v1/events/${event.id}/participants/${guest.userId}`, undefined, host.token);
    const deadline = Date.now() + 10_000;
    while (
      (await api(1, 'GET', `/v1/events/${event.id}/conversation`, undefined, guest.token).catch(
        () => null,
      )) !== null
    ) {
      if (Date.now() > deadline) throw new Error('membership not removed');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1_000));
    const before = heard.length;
    await emitAck(onA, 'chat:send', { conversationId, clientId: 'node-a-2', body: 'not for the guest' });
    await new Promise((r) => setTimeout(r, 500));
    expect(heard.slice(before)).toEqual([]);
  }, 120_000);
});
