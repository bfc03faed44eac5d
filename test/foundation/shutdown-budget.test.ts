import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pruneOutboxJob } from '../../src/modules/operations/operations.module.js';
import { buildTestApp, servicesMode, type TestApp } from '../helpers/app.js';
import { openTestDatabase } from '../helpers/database.js';
import { freePort, spawnMoim, waitForExit, waitForReady } from '../helpers/process.js';

/**
 * A node stopped under load (the 10,000-socket location bench) finds its last writes queued behind a busy
 * database. Its shutdown must still end within SHUTDOWN_TIMEOUT_MS and exit 0, naming what it abandoned,
 * instead of being cut off by the signal handler's hard timeout with exit 1. The database is made to hang
 * from outside (a table lock), which needs PostgreSQL: PGlite runs inside the server process.
 */
describe.runIf(servicesMode)('shutdown when the database hangs (PostgreSQL)', () => {
  let dataDir: string;
  let url: string;
  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-shutdown-'));
    const opened = await openTestDatabase(inject('dbTemplate'));
    await opened.database.close();
    url = opened.url!;
  });
  afterAll(() => fs.rm(dataDir, { recursive: true, force: true }));

  it('ends within its timeout and exits 0, saying which step it left unfinished', async () => {
    const port = await freePort();
    const timeoutMs = 1_500;
    const server = spawnMoim(['start'], {
      PORT: String(port),
      DATA_DIR: dataDir,
      DATABASE_URL: url,
      REDIS_URL: process.env.REDIS_URL ?? '',
      REDIS_PREFIX: `moim:shutdown:${port}:`,
      LOG_LEVEL: 'warn',
      SHUTDOWN_DRAIN_MS: '0',
      SHUTDOWN_TIMEOUT_MS: String(timeoutMs),
    });
    await waitForReady(`http://127.0.0.1:${port}/health/ready`);

    // The outbox relay polls every 500 ms; with its table locked, its next pass waits for as long as the lock is
    // held, and the shutdown waits for the pass.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query('begin');
      await admin.query('lock table outbox_events in access exclusive mode');
      await new Promise((r) => setTimeout(r, 1_200));

      server.kill('SIGTERM');
      const { code, ms } = await waitForExit(server, 30_000);
      expect(server.output()).toContain('shutdown step did not finish within the shutdown timeout');
      expect(server.output()).not.toContain('graceful shutdown timed out');
      expect(code).toBe(0);
      // The budget, plus the grace the database close gets, plus process start-up noise; the hard timeout
      // (timeout + 2 s) is not reached.
      expect(ms).toBeLessThan(timeoutMs + 2_000);
    } finally {
      await admin.query('rollback').catch(() => undefined);
      await admin.end();
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    }
  }, 120_000);
});

/**
 * `moim worker` stops within SHUTDOWN_TIMEOUT_MS too, with a job running that cannot finish (its table locked
 * from outside) and the outbox relay stuck on the same lock. The relay gets part of the budget, the running job
 * is handed back to pg-boss (failed, so it runs again after its retry delay), and the process exits 0 on time
 * rather than at the signal handler's hard timeout with the job left active until it expires.
 */
describe.runIf(servicesMode)('worker shutdown with a job in flight (PostgreSQL)', () => {
  let t: TestApp;
  let dataDir: string;
  beforeAll(async () => {
    t = await buildTestApp();
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-worker-shutdown-'));
  });
  afterAll(async () => {
    await t?.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  const jobState = async (admin: pg.Client, id: string) =>
    (
      await admin.query<{ state: string; output: unknown }>(
        'select state, output from pgboss.job where id = $1',
        [id],
      )
    ).rows[0];

  it('ends within its timeout, exits 0, and the job runs again later', async () => {
    const timeoutMs = 3_000;
    const worker = spawnMoim(['worker'], {
      DATABASE_URL: t.databaseUrl!,
      REDIS_URL: process.env.REDIS_URL ?? '',
      REDIS_PREFIX: t.config.redis.prefix,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: String(timeoutMs),
    });
    const admin = new pg.Client({ connectionString: t.databaseUrl });
    const locker = new pg.Client({ connectionString: t.databaseUrl });
    await admin.connect();
    await locker.connect();
    let jobId: string | null = null;
    try {
      for (const until = Date.now() + 120_000; !worker.output().includes('Moim worker started');) {
        if (Date.now() > until || worker.exitCode !== null)
          throw new Error(`worker did not start:\n${worker.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // The pruning job deletes from outbox_events, which is locked: it starts and waits. So does the relay.
      await locker.query('begin');
      await locker.query('lock table outbox_events in access exclusive mode');
      jobId = await t.infra.jobs.send(pruneOutboxJob, {});
      await expect
        .poll(async () => (await jobState(admin, jobId!))?.state, { timeout: 30_000 })
        .toBe('active');
      await expect
        .poll(
          async () =>
            (
              await admin.query(
                `select count(*)::int as n from pg_locks
                 where relation = 'outbox_events'::regclass and not granted`,
              )
            ).rows[0].n as number,
          { timeout: 10_000 },
        )
        .toBeGreaterThan(0);

      worker.kill('SIGTERM');
      const { code, ms } = await waitForExit(worker, 30_000);
      expect(worker.output()).not.toContain('graceful shutdown timed out');
      // The database close waits for the two connections still blocked on the lock, and is left unfinished.
      expect(worker.output()).toContain('shutdown step did not finish within the shutdown timeout');
      expect(code, worker.output().slice(-3000)).toBe(0);
      // The budget, plus the grace the database close gets; the hard timeout (timeout + 2 s) is not reached.
      expect(ms).toBeLessThan(timeoutMs + 2_000);
      // Handed back, not lost: failed by pg-boss's stop, to be retried.
      expect(await jobState(admin, jobId!)).toEqual({
        state: 'retry',
        output: { value: 'pg-boss shut down while active' },
      });
    } finally {
      await locker.query('rollback').catch(() => undefined);
      if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    }

    // Later (made due now rather than after its retry delay), another worker runs it to completion.
    try {
      await admin.query('update pgboss.job set start_after = now() where id = $1', [jobId]);
      await t.infra.jobs.runDue([pruneOutboxJob.name]);
      expect((await jobState(admin, jobId!))?.state).toBe('completed');
    } finally {
      await admin.end();
      await locker.end();
    }
  }, 180_000);
});
