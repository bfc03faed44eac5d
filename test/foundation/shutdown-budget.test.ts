import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { servicesMode } from '../helpers/app.js';
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
