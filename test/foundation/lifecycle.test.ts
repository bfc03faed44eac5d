import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows } from '../../src/infra/db/database.js';
import { outboxEvents } from '../../src/infra/outbox/outbox.schema.js';
import { freePort, spawnMoim, waitForExit, waitForReady } from '../helpers/process.js';

/**
 * The server as an operator runs it: the real CLI in a child process on the embedded database. These run in
 * both modes but always on PGlite, because they are about the embedded data directory.
 */
describe('server process lifecycle (embedded)', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-life-'));
  });
  afterAll(() => fs.rm(dataDir, { recursive: true, force: true }));

  const env = (port: number) => ({ PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn' });

  /** One request on its own connection; anything but a complete response is reported with its error code. */
  function request(port: number, path = '/health/ready'): Promise<string> {
    return new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.resume();
        res.on('end', () =>
          resolve(res.statusCode === 200 || res.statusCode === 503 ? 'ok' : `status ${res.statusCode}`),
        );
        res.on('error', () => resolve('response error'));
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
  }

  /** Sends the headers and half of a JSON body now; the returned function sends the rest and reads the response. */
  function startUpload(port: number): Promise<() => Promise<string>> {
    const body = JSON.stringify({ email: 'nobody@example.com', password: 'not-the-password' });
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(
          `POST /v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
        );
        let data = '';
        socket.on('data', (d) => (data += d.toString()));
        resolve(
          () =>
            new Promise((done) => {
              socket.on('end', () => done(data));
              socket.on('error', () => done(data || 'reset'));
              socket.write(body.slice(10));
            }),
        );
      });
      socket.on('error', reject);
    });
  }

  /** Sends half of a request's headers now; the returned function sends the rest and resolves with the raw response. */
  function startSlowRequest(port: number): Promise<() => Promise<string>> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write('GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n');
        let data = '';
        socket.on('data', (d) => (data += d.toString()));
        resolve(
          () =>
            new Promise((done) => {
              socket.on('end', () => done(data));
              socket.on('error', () => done(data || 'reset'));
              socket.write('Connection: close\r\n\r\n');
            }),
        );
      });
      socket.on('error', reject);
    });
  }

  it('serves, refuses a second process on the same data, shuts down cleanly under load, and keeps its data', async () => {
    const port = await freePort();
    const server = spawnMoim(['start'], env(port));
    await waitForReady(`http://127.0.0.1:${port}/health/ready`);
    const keyBefore = await fs.readFile(path.join(dataDir, 'keys', 'jwt-ed25519.pem'), 'utf8');

    // A second server on the same data directory fails at once with a clear message.
    const second = spawnMoim(['start'], env(await freePort()));
    const secondExit = await waitForExit(second, 60_000);
    expect(secondExit.code).toBe(1);
    expect(second.output()).toContain(`is already in use by process ${server.pid}`);

    // Load as a load balancer sends it: 16 clients in a loop, routed until the balancer's health check (every
    // 100 ms) sees readiness fail; plus 4 requests whose headers are half sent and an upload whose body is half
    // sent when SIGTERM arrives.
    const outcomes: string[] = [];
    let routed = true;
    const healthCheck = (async () => {
      while (routed) {
        const res = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null);
        if (!res?.ok) routed = false;
        await res?.body?.cancel();
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const loops = Array.from({ length: 16 }, async () => {
      while (routed) outcomes.push(await request(port, '/health/live'));
    });
    const slow = await Promise.all(Array.from({ length: 4 }, () => startSlowRequest(port)));
    const upload = await startUpload(port);
    await new Promise((r) => setTimeout(r, 1_000));
    const served = outcomes.length;
    const killedAt = Date.now();
    server.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const [slowResponses, uploadResponse] = await Promise.all([
      Promise.all(slow.map((finish) => finish())),
      upload(),
    ]);
    await Promise.all([...loops, healthCheck]);
    await waitForExit(server, 60_000);
    const exitMs = Date.now() - killedAt;

    expect(server.exitCode).toBe(0);
    expect(exitMs).toBeLessThan(10_000);
    expect(served).toBeGreaterThan(10);
    // Requests kept being answered during the drain (readiness says 503 so balancers move away).
    expect(outcomes.length).toBeGreaterThan(served);
    expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
    for (const raw of slowResponses) expect(raw).toMatch(/^HTTP\/1\.1 (200|503) [\s\S]*"status":"(ok|fail)"/);
    // The upload in flight finished and got its real answer.
    expect(uploadResponse).toMatch(/^HTTP\/1\.1 401 [\s\S]*"code":"INVALID_CREDENTIALS"/);
    expect(server.output()).not.toMatch(/"level":"(error|fatal)"/);

    // Data written while the server is down is there after the next start, and the relay delivers it.
    const db = await openDatabase({ pgliteDir: path.join(dataDir, 'pglite') });
    await db.db.insert(outboxEvents).values({ topic: 'system.probe', payload: { note: 'survives restart' } });
    await db.close();

    const again = spawnMoim(['start'], env(port));
    await waitForReady(`http://127.0.0.1:${port}/health/ready`);
    await new Promise((r) => setTimeout(r, 1_500));
    again.kill('SIGTERM');
    expect((await waitForExit(again, 60_000)).code).toBe(0);

    const reopened = await openDatabase({ pgliteDir: path.join(dataDir, 'pglite') });
    const rows = await queryRows<{ dispatched: boolean }>(
      reopened.db,
      sql`select dispatched_at is not null as dispatched from outbox_events where payload->>'note' = 'survives restart'`,
    );
    await reopened.close();
    expect(rows).toEqual([{ dispatched: true }]);
    expect(await fs.readFile(path.join(dataDir, 'keys', 'jwt-ed25519.pem'), 'utf8')).toBe(keyBefore);
  }, 300_000);

  it('`moim migrate` applies migrations and exits; running it twice is a no-op', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'moim-migrate-'));
    for (let i = 0; i < 2; i++) {
      const child = spawnMoim(['migrate'], { DATA_DIR: dir, LOG_LEVEL: 'info' });
      expect((await waitForExit(child, 180_000)).code).toBe(0);
      expect(child.output()).toContain('migrations applied');
    }
    await fs.rm(dir, { recursive: true, force: true });
  }, 240_000);
});
