import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, servicesMode, type TestApp } from '../helpers/app.js';
import { login, signUpWithEmail } from '../helpers/accounts.js';
import { createEvent, outboxTopics, times } from '../helpers/events.js';
import { spawnMoim, waitForExit } from '../helpers/process.js';
import { connectSocket, nextEvent } from '../helpers/sockets.js';

/**
 * Services mode as deployed: several API nodes sharing PostgreSQL and Redis, and a separate worker process.
 * Embedded mode is one process by design (PGlite has one backend), so these run against PostgreSQL + Redis only.
 */
describe.runIf(servicesMode)('several nodes and a worker (PostgreSQL + Redis)', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await buildTestApp({ listen: true, env: { EVENT_CREATE_INTERVAL_SECONDS: '0' } });
    b = await buildTestApp({ listen: true, sameDeploymentAs: a });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('a session revoked through node A disconnects its socket held by node B, through Redis', async () => {
    const user = await signUpWithEmail(a);
    const other = await login(a, user.email, user.password);
    const socket = await connectSocket(b.url, { token: user.accessToken });
    // The revocation is answered by node A, so the disconnect must cross from A to B (B's relay is held too,
    // so nothing but A's request can send it).
    await b.infra.outbox.stop();
    try {
      const expired = nextEvent<{ reason: string }>(socket, 'auth:expired', 5_000);
      const disconnected = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
      const res = await a.app.inject({
        method: 'DELETE',
        url: `/v1/me/sessions/${user.sessionId}`,
        headers: other.headers,
      });
      expect(res.statusCode).toBe(204);
      expect(await expired).toEqual({ reason: 'session_ended' });
      await disconnected;
    } finally {
      socket.close();
      b.infra.outbox.start();
    }
  });

  it('a separate `moim worker` process runs the jobs and relays the outbox, and stops cleanly on SIGTERM', async () => {
    const event = await createEvent(a, times(a, 20));
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-worker-'));
    const worker = spawnMoim(['worker'], {
      DATABASE_URL: a.databaseUrl!,
      REDIS_URL: process.env.REDIS_URL ?? '',
      REDIS_PREFIX: a.config.redis.prefix,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
    });
    try {
      // The reminder job is due now; the worker (not this process) picks it up and announces the event.
      await a.infra.jobs.send(a.app.modules.events.remindersJob, {});
      const deadline = Date.now() + 30_000;
      while (!(await outboxTopics(a, event.id)).includes('event.starting_soon')) {
        if (Date.now() > deadline) throw new Error(`the worker did not run the job:\n${worker.output()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      // The worker's log reaches this process's pipe asynchronously: the job may be done before the line arrives.
      for (
        const until = Date.now() + 10_000;
        !worker.output().includes('Moim worker started') && Date.now() < until;
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(worker.output()).toContain('Moim worker started');
    } finally {
      worker.kill('SIGTERM');
      const exit = await waitForExit(worker, 60_000);
      await fs.rm(dataDir, { recursive: true, force: true });
      expect(exit.code, worker.output().slice(-3000)).toBe(0);
      expect(worker.output()).not.toMatch(/"level":"(error|fatal)"/);
    }
  }, 180_000);
});
