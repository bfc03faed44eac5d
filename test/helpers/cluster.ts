import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { openTestDatabase } from './database.js';
import { requestJson, type Json } from './http.js';
import { freePort, spawnMoim, waitForExit, waitForReady } from './process.js';
import { connectSocket, type TestSocket } from './sockets.js';

export interface Cluster {
  nodes: { url: string; proc: ReturnType<typeof spawnMoim> }[];
  /** A JSON request to one node; throws on a non-2xx answer. */
  api(node: number, method: string, url: string, body?: unknown, token?: string): Promise<Json>;
  signUp(node: number): Promise<{ userId: string; token: string }>;
  connect(node: number, token: string): Promise<TestSocket>;
  close(): Promise<void>;
}

/**
 * Real API processes (`moim start`) sharing a fresh PostgreSQL database and a Redis prefix, as deployed. They
 * share one data directory, so the generated keys are shared as production shares configured ones; the first
 * node (which also runs the jobs) generates them before the next one starts.
 */
export async function startCluster(count: number, env: Record<string, string> = {}): Promise<Cluster> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-nodes-'));
  const opened = await openTestDatabase(inject('dbTemplate'));
  await opened.database.close();
  const shared = {
    DATABASE_URL: opened.url!,
    REDIS_URL: process.env.REDIS_URL ?? '',
    REDIS_PREFIX: `moim:cluster:${randomBytes(4).toString('hex')}:`,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_MINUTE: '100000',
    ...env,
  };
  const nodes: Cluster['nodes'] = [];
  const sockets: TestSocket[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const proc = spawnMoim(['start'], {
      ...shared,
      PORT: String(port),
      JOBS_IN_PROCESS: i === 0 ? 'true' : 'false',
    });
    const url = `http://127.0.0.1:${port}`;
    nodes.push({ url, proc });
    await waitForReady(`${url}/health/ready`);
  }

  const api: Cluster['api'] = (node, method, url, body, token) =>
    requestJson(nodes[node]!.url, method, url, body, token);

  return {
    nodes,
    api,
    async signUp(node) {
      const body = await api(node, 'POST', '/v1/auth/signup/email', {
        email: `n${randomBytes(5).toString('hex')}@example.com`,
        password: `pw-${randomBytes(8).toString('hex')}`,
        nickname: `node_${randomBytes(4).toString('hex')}`,
      });
      return { userId: body.user.id as string, token: body.tokens.accessToken as string };
    },
    async connect(node, token) {
      const s = await connectSocket(nodes[node]!.url, { token });
      sockets.push(s);
      return s;
    },
    async close() {
      for (const s of sockets) s.close();
      for (const { proc } of nodes) {
        proc.kill('SIGTERM');
        await waitForExit(proc, 60_000).catch(() => undefined);
      }
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
