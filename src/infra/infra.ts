import path from 'node:path';
import type { Config } from '../config.js';
import { Gateway } from '../realtime/gateway.js';
import { systemClock, type Clock } from './clock.js';
import { openDatabase, type Database, type OpenDatabaseOptions } from './db/database.js';
import { LocalFileStore, type FileStore } from './files/file-store.js';
import { JobQueue } from './jobs/job-queue.js';
import { loadKeys, type Keys } from './keys.js';
import { createLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { Outbox } from './outbox/outbox.js';
import { MemoryLocationStore, RedisLocationStore, type LocationStore } from './geo/location-store.js';
import { MemoryPresenceStore, RedisPresenceStore, type PresenceStore } from './presence/presence-store.js';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from './rate-limit/rate-limiter.js';
import { createRealtimePublisher, type RealtimePublisher } from './realtime/publisher.js';
import { connectRedis, type Redis } from './redis.js';
import { DataProtector } from './crypto.js';
import { DevOutbox } from './dev-outbox.js';
import { createMailer } from './mail/create-mailer.js';
import type { Mailer } from './mail/mailer.js';
import { createOAuthProviders } from './oauth/create-providers.js';
import type { OAuthProvider, OAuthProviderName } from './oauth/oauth.js';
import { createSmsSender } from './sms/create-sms-sender.js';
import type { SmsSender } from './sms/sms.js';

/**
 * Every adapter a process needs, chosen from config: PGlite or PostgreSQL, Redis or in-process, local files.
 * Modules receive the ports they use from here; nothing above this layer knows which adapter is behind a port.
 */
export interface Infra {
  config: Config;
  logger: Logger;
  clock: Clock;
  database: Database;
  redis: Redis | undefined;
  limiter: RateLimiter;
  /** Who is connected, across nodes (Redis) or in this process. */
  presence: PresenceStore;
  /** Live positions by layer, across nodes (Redis GEO) or in this process (a grid index). */
  locations: LocationStore;
  jobs: JobQueue;
  outbox: Outbox;
  files: FileStore;
  keys: Keys;
  /** Encryption and keyed hashing of personal data and secrets, with the deployment's data key. */
  protector: DataProtector;
  metrics: Metrics;
  gateway: Gateway;
  /** Reaches connected clients from any process (API node or worker). */
  realtime: RealtimePublisher;
  sms: SmsSender;
  mailer: Mailer;
  /** The configured social login providers. */
  oauthProviders: ReadonlyMap<OAuthProviderName, OAuthProvider>;
  /** What the `log` SMS and mail adapters would have sent (development and tests). */
  devOutbox: DevOutbox;
  /** Set when the process has begun shutting down; readiness answers 503 from then on. */
  lifecycle: { draining: boolean };
  /**
   * Closes the relay, job queue, Redis and database, in that order; `budgetMs` is what is left of the shutdown
   * timeout (at most SHUTDOWN_TIMEOUT_MS), so neither a relay pass nor running jobs push the process past it.
   */
  close(budgetMs?: number): Promise<void>;
}

export interface InfraOverrides {
  logger?: Logger;
  clock?: Clock;
  /** An already open database (tests pass a clone of the migrated template). */
  database?: Database;
  /** Skip the default Node metrics (tests build many apps in one process). */
  defaultMetrics?: boolean;
  outboxPollMs?: number;
}

/** Of a shutdown's budget, what is kept for closing Redis and the database after the relay and the jobs. */
const CLOSE_RESERVE_MS = 1_000;

/** Waits for `work` to settle, but no longer than `ms`. */
async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, ms));
    }),
  ]);
  clearTimeout(timer);
}

/** Where this deployment's database is: PostgreSQL when configured, else PGlite in the data directory. */
export function databaseOptions(config: Config, poolMax = config.db.poolMax): OpenDatabaseOptions {
  return {
    url: config.db.url,
    poolMax,
    preparedStatements: config.db.preparedStatements,
    pgliteDir: path.join(config.dataDir, 'pglite'),
  };
}

export async function createInfra(config: Config, overrides: InfraOverrides = {}): Promise<Infra> {
  const logger = overrides.logger ?? createLogger(config);
  const clock = overrides.clock ?? systemClock;
  const keys = loadKeys(config);
  const database = overrides.database ?? (await openDatabase(databaseOptions(config)));
  let redis: Redis | undefined;
  try {
    if (!overrides.database) await database.migrate();
    redis = config.redis.url ? await connectRedis(config.redis.url) : undefined;
  } catch (err) {
    await database.close();
    throw err;
  }
  const limiter: RateLimiter = redis
    ? new RedisRateLimiter(redis, config.redis.prefix, clock, logger)
    : new MemoryRateLimiter(clock);
  const metrics = new Metrics({
    defaultMetrics: overrides.defaultMetrics ?? true,
    poolStats: () => database.poolStats(),
  });
  const jobs = new JobQueue(database, logger, { timeZone: config.timeZone });
  const outbox = new Outbox(database, clock, logger, {
    pollIntervalMs: overrides.outboxPollMs ?? 500,
    retentionDays: 7,
  });
  const gateway = new Gateway({ logger, metrics, clock, corsOrigins: config.http.corsOrigins });
  const realtime = createRealtimePublisher(
    gateway,
    redis ? { client: redis, prefix: config.redis.prefix } : undefined,
    logger,
  );

  const devOutbox = new DevOutbox({ clock });
  let closed = false;
  return {
    config,
    logger,
    clock,
    database,
    redis,
    limiter,
    presence: redis
      ? new RedisPresenceStore(redis, config.redis.prefix, config.presence.staleMs)
      : new MemoryPresenceStore(clock),
    locations: redis
      ? new RedisLocationStore(redis, config.redis.prefix, clock, {
          writeBatchMs: config.locations.writeBatchMs,
        })
      : new MemoryLocationStore(),
    jobs,
    outbox,
    files: new LocalFileStore(config.files.dir),
    keys,
    protector: new DataProtector(keys.dataKey),
    metrics,
    gateway,
    realtime,
    sms: createSmsSender(config, logger, devOutbox, { clock }),
    mailer: createMailer(config, logger, devOutbox),
    oauthProviders: createOAuthProviders(config),
    devOutbox,
    lifecycle: { draining: false },
    async close(budgetMs) {
      if (closed) return;
      closed = true;
      const deadline = Date.now() + Math.min(config.http.shutdownTimeoutMs, budgetMs ?? Infinity);
      // A relay pass stuck on a busy database gets at most half the time before the close's second: running jobs
      // must still be handed back to pg-boss within the budget, or they wait out their expiry (up to 15 minutes)
      // before anyone runs them again. Its transaction dies with the connection; its events stay due.
      await settleWithin(outbox.stop(), (deadline - CLOSE_RESERVE_MS - Date.now()) / 2);
      // pg-boss waits this long for running jobs, then fails them so that they run again after their retry delay.
      await jobs
        .stop(Math.max(100, deadline - Date.now() - CLOSE_RESERVE_MS))
        .catch((err: unknown) => logger.warn({ err }, 'job queue stop failed'));
      // The relay's last emits may still be queued for the end of this turn; Redis must still be there for them.
      realtime.flush();
      redis?.disconnect();
      await database.close();
    },
  };
}
