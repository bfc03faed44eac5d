import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { inject } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Clock } from '../../src/infra/clock.js';
import type { Database } from '../../src/infra/db/database.js';
import { createInfra, type Infra } from '../../src/infra/infra.js';
import { createLogger } from '../../src/infra/logger.js';
import { openTestDatabase } from './database.js';
import { codesIn, containsSecret, issuedSecrets, secretsInJson, secretsInUrl } from './secrets.js';

/** Every log line an app wrote, kept so tests can assert on security events and on the absence of secrets. */
export class LogCapture {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  entries(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
  text(): string {
    return this.lines.join('');
  }
}

export interface TestApp {
  app: App;
  infra: Infra;
  config: Config;
  logs: LogCapture;
  /** Base URL when started with `listen: true` (sockets, real HTTP clients). */
  url: string;
  /** Database URL in services mode, for another node sharing this database. */
  databaseUrl: string | undefined;
  /**
   * Every secret of this app: registered automatically (each token, code, state and verification id in a JSON
   * body, redirect or cookie the app sends; each code the dev outbox receives) and by hand for what the test
   * types (passwords, raw phone numbers). Closing the app fails if any of them, or any secret a fake provider
   * issued (`issuedSecrets`), appears in its logs.
   */
  secrets: Set<string>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  clock?: Clock;
  /** Listen on an ephemeral loopback port (needed for Socket.IO and out-of-process clients). */
  listen?: boolean;
  /** Join another test app's database and Redis namespace, as a second node of the same deployment. */
  sameDeploymentAs?: TestApp;
  /** Collect Node's default metrics (event-loop lag, heap, GC); off by default, as many apps share a process. */
  defaultMetrics?: boolean;
  /** Extra routes for probing cross-cutting behaviour, added before the app starts. */
  extraRoutes?: (app: App) => void;
  /** How often the outbox relay looks for due events besides being kicked (default 100 ms). */
  outboxPollMs?: number;
}

export const servicesMode = Boolean(process.env.DATABASE_URL);

/** ASVS 16.2.5: no token, code, password or raw phone number may ever reach a log line. */
export function assertNoSecretsLogged(logs: LogCapture, secrets: Iterable<string>): void {
  const text = logs.text();
  const leaked = [...new Set(secrets)].filter((s) => s.length >= 4 && containsSecret(text, s));
  if (leaked.length > 0) {
    throw new Error(`Secrets found in the logs: ${leaked.map((s) => `${s.slice(0, 3)}…`).join(', ')}`);
  }
}

export async function buildTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const runDir = inject('runDir');
  const dataDir = await fs.mkdtemp(path.join(runDir, 'app-'));
  const peer = opts.sameDeploymentAs;
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: peer ? peer.config.dataDir : dataDir,
    LOG_LEVEL: 'info',
    RATE_LIMIT_PER_MINUTE: '100000',
    REDIS_PREFIX: peer ? peer.config.redis.prefix : `moim:t:${randomBytes(4).toString('hex')}:`,
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    ...opts.env,
  };
  const config = loadConfig(env);
  const logs = new LogCapture();
  const logger = createLogger(config, logs);

  let database: Database;
  let databaseUrl: string | undefined;
  let ownsDatabase = true;
  if (peer) {
    if (peer.databaseUrl) {
      const { openDatabase } = await import('../../src/infra/db/database.js');
      database = await openDatabase({ url: peer.databaseUrl, poolMax: 10 });
      databaseUrl = peer.databaseUrl;
    } else {
      database = peer.infra.database;
      ownsDatabase = false;
    }
  } else {
    const opened = await openTestDatabase(inject('dbTemplate'));
    database = opened.database;
    databaseUrl = opened.url;
  }

  const infra = await createInfra(config, {
    logger,
    database,
    defaultMetrics: opts.defaultMetrics ?? false,
    outboxPollMs: opts.outboxPollMs ?? 100,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const secrets = new Set<string>();
  const app = await buildApp(infra);
  captureSecrets(app, infra, secrets);
  opts.extraRoutes?.(app);
  // Jobs are enqueued for real; tests run them with `infra.jobs.runDue()` instead of waiting for polling.
  await infra.jobs.start({ work: false });
  infra.outbox.start();
  let url = '';
  if (opts.listen) {
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  }

  let closed = false;
  return {
    app,
    infra,
    config,
    logs,
    url,
    databaseUrl,
    secrets,
    async close() {
      if (closed) return;
      closed = true;
      await app.modules.accounts.verification.idle();
      await app.close();
      assertNoSecretsLogged(logs, [...secrets, ...issuedSecrets]);
      if (ownsDatabase) {
        await infra.close();
      } else {
        await infra.outbox.stop();
        await infra.jobs.stop(500);
        infra.redis?.disconnect();
      }
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Registers as secrets of the app, with no help from the test: every code its dev outbox receives (SMS and mail),
 * and every token, code, state or verification id in a JSON body, a redirect or a cookie it sends, whoever the
 * client is (inject, fetch, a socket's HTTP handshake).
 */
function captureSecrets(app: App, infra: Infra, secrets: Set<string>): void {
  infra.devOutbox.watch((item) => {
    for (const code of codesIn(item.text)) secrets.add(code);
    for (const code of codesIn(item.subject)) secrets.add(code);
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    const location = reply.getHeader('location');
    if (typeof location === 'string') secretsInUrl(location, secrets);
    const cookies = reply.getHeader('set-cookie');
    for (const cookie of Array.isArray(cookies) ? cookies : cookies ? [String(cookies)] : []) {
      const value = /^[^=]+=([^;]*)/.exec(cookie)?.[1];
      if (value) secrets.add(value);
    }
    const type = String(reply.getHeader('content-type') ?? '');
    if (typeof payload === 'string' && type.includes('json')) {
      try {
        secretsInJson(JSON.parse(payload), secrets);
      } catch {
        // not JSON after all
      }
    }
    return payload;
  });
}
