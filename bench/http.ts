import type { BenchContext } from './lib/bench.js';
import { startMoim, startServer, stopAll, type ServerProcess } from './lib/processes.js';
import { caveats, roundsTable, summarize, summaryTable } from './lib/report.js';
import { interleavedRounds, type Target } from './lib/rounds.js';
import { freshDatabase, redisScope, type BenchDatabase, type BenchRedis } from './lib/services.js';

const BASELINE = 'Fastify hello-world (baseline)';

/**
 * Framework overhead: what Moim's full stack (every plugin and hook, request ids, metrics, logging at warn)
 * costs on its cheapest route, `GET /health/live`, against bare Fastify answering `GET /` in the same run.
 * Embedded mode always; services mode as well when DATABASE_URL or REDIS_URL is set, on a fresh database and
 * a Redis key prefix of its own.
 */
export async function http(ctx: BenchContext): Promise<string> {
  const { options, pinning, dir } = ctx;
  const servers: ServerProcess[] = [];
  const targets: Target[] = [];
  let database: BenchDatabase | undefined;
  let redis: BenchRedis | undefined;
  try {
    ctx.progress('starting the baseline');
    const baseline = await startServer({
      name: 'baseline',
      args: ['bench/baseline/fastify-hello.ts'],
      readyPath: '/',
      pinning,
      logFile: `${dir.path}/baseline.log`,
    });
    servers.push(baseline);
    targets.push({ label: BASELINE, server: baseline, load: () => ({ url: `${baseline.url}/` }) });

    ctx.progress('starting Moim (embedded: PGlite, no Redis)');
    const embedded = await startMoim({
      name: 'moim-embedded',
      dataDir: dir.sub('embedded-data'),
      logFile: `${dir.path}/moim-embedded.log`,
      pinning,
    });
    servers.push(embedded);
    targets.push({
      label: 'Moim `/health/live`, embedded (PGlite)',
      server: embedded,
      load: () => ({ url: `${embedded.url}/health/live` }),
    });

    const databaseUrl = process.env.DATABASE_URL || undefined;
    const redisUrl = process.env.REDIS_URL || undefined;
    if (databaseUrl || redisUrl) {
      if (databaseUrl) {
        database = await freshDatabase(databaseUrl);
        ctx.note(`PostgreSQL ${database.version} on the same machine, fresh database \`${database.name}\``);
      }
      if (redisUrl) {
        redis = await redisScope(redisUrl);
        ctx.note(`Redis ${redis.version} on the same machine, key prefix \`${redis.prefix}\``);
      }
      const mode = [database ? 'PostgreSQL' : 'PGlite', ...(redis ? ['Redis'] : [])].join(' + ');
      ctx.progress(`starting Moim (services: ${mode})`);
      const services = await startMoim({
        name: 'moim-services',
        dataDir: dir.sub('services-data'),
        logFile: `${dir.path}/moim-services.log`,
        pinning,
        ...(database ? { databaseUrl: database.url } : {}),
        ...(redisUrl && redis ? { redisUrl, redisPrefix: redis.prefix } : {}),
      });
      servers.push(services);
      targets.push({
        label: `Moim \`/health/live\`, services (${mode})`,
        server: services,
        load: () => ({ url: `${services.url}/health/live` }),
      });
    } else {
      ctx.note('Services mode skipped: set DATABASE_URL and REDIS_URL to measure it too');
    }

    const results = await interleavedRounds(targets, options, ctx.progress);
    const rows = summarize(results, BASELINE);
    const ratios = rows
      .filter((r) => r.label !== BASELINE)
      .map((r) => `- ${r.label} / baseline: **${r.ratio.toFixed(2)}×** req/s`);
    return [
      `Each target is a separate process; autocannon sends \`GET\` without pipelining over ` +
        `${options.connections} connections. After a ${options.warmupSec} s warm-up per target, ` +
        `${options.rounds} rounds of ${options.durationSec} s run the targets in turn (baseline first); ` +
        `the targets not being measured are paused (SIGSTOP) so their background timers stay off the core. ` +
        `The table shows medians over the rounds. Latencies are in whole milliseconds (autocannon's resolution); ` +
        `CPU figures are % of one core.`,
      '',
      summaryTable(rows),
      '',
      ...ratios,
      '',
      ...caveats(results, options.quietPct).flatMap((line) => [line, '']),
      'Rounds ("load CPU" is autocannon; "other CPU" is the rest of the machine, PostgreSQL and Redis included):',
      '',
      roundsTable(results, BASELINE),
    ].join('\n');
  } finally {
    await stopAll(servers);
    await database
      ?.drop()
      .catch((err: unknown) => console.error(`warning: dropping ${database?.name}:`, err));
    await redis?.cleanup().catch((err: unknown) => console.error('warning: cleaning Redis keys:', err));
  }
}
