import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { servicesMode } from '../helpers/app.js';
import { openTestDatabase } from '../helpers/database.js';
import type { Json } from '../helpers/http.js';
import { freePort, spawnMoim, waitForExit, waitForReady } from '../helpers/process.js';
import { connectSocket, emitAck, type TestSocket } from '../helpers/sockets.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Two real API processes sharing PostgreSQL and Redis, as deployed (`moim start`, which also starts the batch
 * writer and the map ticks): a share started through node B, positions sent to node A, a subscriber on node B
 * sees them; stopped through node A, node B's subscriber receives nothing more of it.
 */
describe.runIf(servicesMode)('live location across two server processes', () => {
  const nodes: { url: string; proc: ReturnType<typeof spawnMoim> }[] = [];
  const sockets: TestSocket[] = [];
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-loc-nodes-'));
    const opened = await openTestDatabase(inject('dbTemplate'));
    await opened.database.close();
    const shared = {
      DATABASE_URL: opened.url!,
      REDIS_URL: process.env.REDIS_URL ?? '',
      REDIS_PREFIX: `moim:loc:${randomBytes(4).toString('hex')}:`,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '100000',
      LOCATION_PUSH_INTERVAL_MS: '500',
    };
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
      email: `l${randomBytes(5).toString('hex')}@example.com`,
      password: `pw-${randomBytes(8).toString('hex')}`,
      nickname: `loc_${randomBytes(4).toString('hex')}`,
    });
    return { userId: body.user.id as string, token: body.tokens.accessToken as string };
  };
  const connect = async (node: number, token: string) => {
    const s = await connectSocket(nodes[node]!.url, { token });
    sockets.push(s);
    return s;
  };

  it('a subscriber on node B sees a sharer on node A, and nothing more once the share stops', async () => {
    const a = await signUp(0);
    const b = await signUp(1);
    const share = await api(
      1,
      'POST',
      '/v1/me/location/shares',
      { audience: { type: 'nearby' }, precision: '100m', durationMinutes: 30 },
      a.token,
    );
    const onA = await connect(0, a.token);
    const onB = await connect(1, b.token);
    const frames: Json[] = [];
    onB.on('location:frame', (f: Json) => frames.push(f));
    const sub = (await emitAck<Json>(onB, 'location:subscribe', {
      layer: { type: 'nearby', lat: 37.5665, lng: 126.978, radiusM: 1000 },
    })) as Json;
    expect(sub.ok).toBe(true);
    const shows = (f: Json) => (f.people as Json[]).some((p) => p.userId === a.userId);

    expect(await emitAck(onA, 'location:update', { lat: 37.567, lng: 126.9785 })).toEqual({
      ok: true,
      data: { shares: 1 },
    });
    for (let i = 0; i < 100 && !frames.some(shows); i++) await sleep(100);
    expect(frames.some(shows)).toBe(true);

    await api(0, 'DELETE', `/v1/me/location/shares/${share.id as string}`, undefined, a.token);
    const from = frames.length;
    for (let i = 0; i < 4; i++) {
      await sleep(1_000);
      await emitAck(onA, 'location:update', { lat: 37.567 + i * 0.001, lng: 126.9785 });
    }
    await sleep(1_000);
    const after = frames.slice(from);
    // None of the frames after the stop shows the person, and the latest says they are gone.
    expect(after.filter(shows)).toEqual([]);
    expect(shows(frames.at(-1)!)).toBe(false);
  }, 120_000);
});
