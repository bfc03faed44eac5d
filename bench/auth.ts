import type { Request } from 'autocannon';
import type { BenchContext } from './lib/bench.js';
import { startMoim, startServer, stopAll, type ServerProcess } from './lib/processes.js';
import { caveats, roundsTable, summarize, summaryTable } from './lib/report.js';
import { interleavedRounds } from './lib/rounds.js';
import { freshDatabase, redisScope, type BenchRedis } from './lib/services.js';

interface Session {
  accessToken: string;
  refreshToken: string;
}

const BASELINE = 'Fastify hello-world (baseline)';

/**
 * The authenticated read and the token rotation, on PostgreSQL: `GET /v1/me` (JWT verification, the session
 * and user check, one read) and `POST /v1/auth/refresh` (a locked rotation in a transaction), beside bare
 * Fastify in the same run. Every connection uses its own session, and refresh chains carry each new token into
 * the next request, as real clients do.
 */
export async function auth(ctx: BenchContext): Promise<string> {
  const { options, pinning, dir } = ctx;
  const baseUrl = process.env.DATABASE_URL;
  if (!baseUrl) {
    throw new Error('The auth benchmark runs on PostgreSQL: set DATABASE_URL (and optionally REDIS_URL).');
  }
  const db = await freshDatabase(baseUrl);
  ctx.note(`PostgreSQL ${db.version} on the same machine, fresh database \`${db.name}\``);
  let redis: BenchRedis | undefined;
  const servers: ServerProcess[] = [];
  try {
    const redisUrl = process.env.REDIS_URL || undefined;
    if (redisUrl) {
      redis = await redisScope(redisUrl);
      ctx.note(`Redis ${redis.version} on the same machine, key prefix \`${redis.prefix}\``);
    }
    const baseline = await startServer({
      name: 'baseline',
      args: ['bench/baseline/fastify-hello.ts'],
      readyPath: '/',
      pinning,
      logFile: `${dir.path}/baseline.log`,
    });
    servers.push(baseline);
    const moim = await startMoim({
      name: 'moim',
      dataDir: dir.sub('data'),
      logFile: `${dir.path}/moim.log`,
      pinning,
      databaseUrl: db.url,
      ...(redisUrl && redis ? { redisUrl, redisPrefix: redis.prefix } : {}),
      // Sessions for the run are created from many simulated client addresses, under the sign-in limits; the
      // measured load all comes from one address, so the per-IP API limit is lifted to time the work, not 429s.
      env: { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_PER_MINUTE: '1000000' },
    });
    servers.push(moim);

    // Separate sessions for the two targets: a refresh chain that loses a race (a response not yet applied when
    // autocannon sends the next request) is token reuse, which rightly revokes the session; the reads must not
    // be measured on revoked sessions.
    const perTarget = Math.max(options.connections, 8);
    const all = await createSessions(moim.url, perTarget * 2);
    const sessions = all.slice(0, perTarget);
    const refreshSessions = all.slice(perTarget);
    const meRequests = (): Request[] => {
      let next = 0;
      return [
        {
          method: 'GET',
          path: '/v1/me',
          setupRequest: (req, context: { token?: string }) => {
            context.token ??= sessions[next++ % sessions.length]!.accessToken;
            return { ...req, headers: { ...req.headers, authorization: `Bearer ${context.token}` } };
          },
        },
      ];
    };
    const refreshRequests = (): Request[] => {
      let next = 0;
      return [
        {
          method: 'POST',
          path: '/v1/auth/refresh',
          setupRequest: (req, context: { session?: Session }) => {
            context.session ??= refreshSessions[next++ % refreshSessions.length]!;
            return {
              ...req,
              headers: { ...req.headers, 'content-type': 'application/json' },
              body: JSON.stringify({ refreshToken: context.session.refreshToken }),
            };
          },
          onResponse: (status, body, context: { session?: Session }) => {
            if (status === 200 && context.session)
              context.session.refreshToken = (JSON.parse(body) as Session).refreshToken;
          },
        },
      ];
    };

    const results = await interleavedRounds(
      [
        { label: BASELINE, server: baseline, load: () => ({ url: `${baseline.url}/` }) },
        { label: 'GET /v1/me', server: moim, load: () => ({ url: moim.url, requests: meRequests() }) },
        {
          label: 'POST /v1/auth/refresh',
          server: moim,
          load: () => ({ url: moim.url, requests: refreshRequests() }),
        },
      ],
      options,
      ctx.progress,
    );
    const rows = summarize(results, BASELINE);
    const me = rows.find((r) => r.label === 'GET /v1/me')!;
    return [
      `${options.connections} connections, one session each; medians of ${options.rounds} interleaved rounds ` +
        `of ${options.durationSec} s after a warm-up.`,
      '',
      summaryTable(rows),
      '',
      ...caveats(results, options.quietPct).flatMap((line) => [line, '']),
      `Goal: \`GET /v1/me\` ≥ 0.25 × baseline req/s with p99 ≤ 25 ms at 64 connections. Measured: ` +
        `${me.ratio.toFixed(2)} × and p99 ${me.p99} ms: ${me.ratio >= 0.25 && me.p99 <= 25 ? 'met' : 'NOT met'}.`,
      '',
      roundsTable(results, BASELINE),
    ].join('\n');
  } finally {
    await stopAll(servers);
    await db.drop();
    await redis?.cleanup();
  }
}

/** Creates `count` sessions over a few accounts, each sign-in from its own simulated address. */
async function createSessions(url: string, count: number): Promise<Session[]> {
  const accounts = Math.ceil(count / 8);
  const password = 'bench-password-1234';
  const sessions: Session[] = [];
  let ip = 1;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(url + path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-forwarded-for': `10.77.${Math.floor(ip / 250)}.${(ip++ % 250) + 1}`,
      },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { tokens: Session };
  };
  for (let a = 0; a < accounts && sessions.length < count; a++) {
    const email = `bench${a}-${Date.now()}@example.com`;
    sessions.push(
      (
        await post('/v1/auth/signup/email', {
          email,
          password,
          nickname: `bench_${a}_${Date.now() % 100000}`,
        })
      ).tokens,
    );
    while (sessions.length < Math.min(count, (a + 1) * 8))
      sessions.push((await post('/v1/auth/login', { email, password })).tokens);
  }
  return sessions;
}
