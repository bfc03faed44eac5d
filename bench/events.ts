import type { Request } from 'autocannon';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import pg from 'pg';
import type { Executor } from '../src/infra/db/database.js';
import { DiscoveryRepository } from '../src/modules/discovery/discovery.repository.js';
import { DiscoveryService, type SearchInput } from '../src/modules/discovery/discovery.service.js';
import type { BenchContext } from './lib/bench.js';
import { startMoim, startServer, stopAll, type ServerProcess } from './lib/processes.js';
import { caveats, roundsTable, summarize, summaryTable } from './lib/report.js';
import { interleavedRounds } from './lib/rounds.js';
import { freshDatabase, redisScope, type BenchRedis } from './lib/services.js';

const BASELINE = 'Fastify hello-world (baseline)';
const EVENTS = 100_000;
const HOSTS = 500;
const TIME_ZONE = 'Asia/Seoul';

/** Where people search from: city centres, most of the load where most events are (Seoul). */
const POINTS = [
  { name: 'Seoul City Hall', lat: 37.5665, lng: 126.978 },
  { name: 'Gangnam', lat: 37.4979, lng: 127.0276 },
  { name: 'Yeouido', lat: 37.5283, lng: 126.9326 },
  { name: 'Hongdae', lat: 37.5563, lng: 126.9236 },
  { name: 'Busan Seomyeon', lat: 35.1578, lng: 129.0597 },
  { name: 'Daegu', lat: 35.8714, lng: 128.6014 },
  { name: 'Incheon', lat: 37.4563, lng: 126.7052 },
  { name: 'Daejeon', lat: 36.3504, lng: 127.3845 },
];
const KEYWORDS = ['run', 'river', 'yoga', 'hike', '러닝'];

/**
 * Discovery on PostgreSQL with 100,000 events spread over Korea: the filtered search (keyword + date range +
 * 5 km radius + open only, first page) and the map pins of a 5 km circle (open events of the coming week,
 * nearest first, capped), beside bare Fastify in the same run. The events are written by one SQL statement
 * (generate_series), clustered around cities as people are; the query plans of the very SQL the API runs
 * (built by the same repository) are printed with EXPLAIN (ANALYZE, BUFFERS).
 */
export async function events(ctx: BenchContext): Promise<string> {
  const { options, pinning, dir } = ctx;
  const baseUrl = process.env.DATABASE_URL;
  if (!baseUrl)
    throw new Error('The events benchmark runs on PostgreSQL: set DATABASE_URL (and optionally REDIS_URL).');
  const db = await freshDatabase(baseUrl);
  ctx.note(`PostgreSQL ${db.version} on the same machine, fresh database \`${db.name}\``);
  let redis: BenchRedis | undefined;
  const servers: ServerProcess[] = [];
  const client = new pg.Client({ connectionString: db.url });
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
    // Moim migrates the fresh database as it starts; the events are loaded after.
    const moim = await startMoim({
      name: 'moim',
      dataDir: dir.sub('data'),
      logFile: `${dir.path}/moim.log`,
      pinning,
      databaseUrl: db.url,
      ...(redisUrl && redis ? { redisUrl, redisPrefix: redis.prefix } : {}),
      env: { TIME_ZONE },
    });
    servers.push(moim);

    await client.connect();
    ctx.progress(`loading ${EVENTS.toLocaleString('en')} events`);
    const loadStarted = Date.now();
    await loadEvents(client);
    const loadMs = Date.now() - loadStarted;
    const stats = (
      await client.query<{ total: string; open_public: string; seoul: string }>(
        `select count(*) as total,
                count(*) filter (where visibility = 'public' and status = 'scheduled' and starts_at > now()) as open_public,
                count(*) filter (where region = 'seoul') as seoul
         from events`,
      )
    ).rows[0]!;
    ctx.note(
      `Data: ${Number(stats.total).toLocaleString('en')} events (${Number(stats.open_public).toLocaleString('en')} ` +
        `public and upcoming, ${Number(stats.seoul).toLocaleString('en')} in Seoul) by ${HOSTS} hosts, loaded ` +
        `with one INSERT … SELECT over generate_series plus VACUUM ANALYZE in ${(loadMs / 1000).toFixed(1)} s`,
    );

    const day = (offset: number) =>
      new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE }).format(
        new Date(Date.now() + offset * 86_400_000),
      );
    const from = day(1);
    const to = day(7);
    const searchInput = (i: number): SearchInput => {
      const p = POINTS[i % POINTS.length]!;
      return {
        q: KEYWORDS[i % KEYWORDS.length]!,
        from,
        to,
        lat: p.lat,
        lng: p.lng,
        radiusKm: 5,
        openOnly: true,
      };
    };
    const mapInput = (i: number): SearchInput => {
      const p = POINTS[i % POINTS.length]!;
      return { from, to, lat: p.lat, lng: p.lng, radiusKm: 5, openOnly: true };
    };
    const query = (input: SearchInput) =>
      Object.entries(input)
        .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
        .join('&');
    const rotating = (path: string, input: (i: number) => SearchInput): Request[] => {
      let next = 0;
      return [
        {
          method: 'GET',
          setupRequest: (req) => ({ ...req, path: `${path}?${query(input(next++))}` }),
        },
      ];
    };

    // Sanity: both answer with content before anything is measured.
    const probe = await fetch(`${moim.url}/v1/events?${query(searchInput(0))}`);
    const probeBody = (await probe.json()) as { items?: unknown[] };
    const pins = (await (await fetch(`${moim.url}/v1/events/map?${query(mapInput(0))}`)).json()) as {
      items?: unknown[];
      truncated?: boolean;
    };
    if (!probe.ok || !pins.items)
      throw new Error(`probe failed: ${probe.status} ${JSON.stringify(probeBody)}`);
    ctx.note(
      `Probe from ${POINTS[0]!.name}: search “${KEYWORDS[0]}” → ${probeBody.items?.length ?? 0} events on the ` +
        `first page; map → ${pins.items.length} pins${pins.truncated ? ' (capped)' : ''}`,
    );

    const plans = await explainPlans(client, searchInput(0), mapInput(0), searchInput(KEYWORDS.length - 1));

    const results = await interleavedRounds(
      [
        { label: BASELINE, server: baseline, load: () => ({ url: `${baseline.url}/` }) },
        {
          label: 'GET /v1/events (search)',
          server: moim,
          load: () => ({ url: moim.url, requests: rotating('/v1/events', searchInput) }),
        },
        {
          label: 'GET /v1/events/map (pins)',
          server: moim,
          load: () => ({ url: moim.url, requests: rotating('/v1/events/map', mapInput) }),
        },
      ],
      options,
      ctx.progress,
    );
    const rows = summarize(results, BASELINE);
    const verdict = (label: string) => {
      const row = rows.find((r) => r.label === label)!;
      return `${label}: p99 ${row.p99} ms — ${row.p99 <= 30 ? 'met' : 'NOT met'}`;
    };
    return [
      `${options.connections} connections; each request rotates over ${POINTS.length} places` +
        ` (${POINTS.map((p) => p.name).join(', ')}) and, for the search, ${KEYWORDS.length} keywords ` +
        `(${KEYWORDS.join(', ')}). Search: \`GET /v1/events?q=…&from=${from}&to=${to}&lat=…&lng=…&radiusKm=5` +
        `&openOnly=true\` (first page of 20, nearest first). Map: \`GET /v1/events/map?from=${from}&to=${to}` +
        `&lat=…&lng=…&radiusKm=5&openOnly=true\` (at most 300 pins, nearest first). Medians of ${options.rounds} ` +
        `interleaved rounds of ${options.durationSec} s after a warm-up.`,
      '',
      summaryTable(rows),
      '',
      ...caveats(results, options.quietPct).flatMap((line) => [line, '']),
      `Goal: p99 ≤ 30 ms at 32 connections. ${verdict('GET /v1/events (search)')}; ${verdict('GET /v1/events/map (pins)')}.`,
      '',
      roundsTable(results, BASELINE),
      '',
      ...plans,
    ].join('\n');
  } finally {
    await client.end().catch(() => {});
    await stopAll(servers);
    await db.drop();
    await redis?.cleanup();
  }
}

/** 100,000 events around 15 cities (Gaussian spread of ~5 km), over the last 10 and the next 60 days. */
export async function loadEvents(client: pg.Client): Promise<void> {
  await client.query(
    `insert into users (nickname) select 'bench_host_' || i from generate_series(1, ${HOSTS}) i`,
  );
  await client.query(`
    with hosts as (select array_agg(id order by nickname) as ids from users where nickname like 'bench_host_%'),
    cities(lat, lng, region, sd, cum) as (values
      (37.5665, 126.9780, 'seoul', 0.060, 0.36), (35.1796, 129.0756, 'gyeongnam', 0.050, 0.46),
      (37.4563, 126.7052, 'incheon', 0.040, 0.52), (35.8714, 128.6014, 'gyeongbuk', 0.040, 0.58),
      (37.2636, 127.0286, 'gyeonggi', 0.050, 0.66), (36.3504, 127.3845, 'chungcheong', 0.040, 0.71),
      (35.1595, 126.8526, 'jeolla', 0.040, 0.76), (35.5384, 129.3114, 'gyeongnam', 0.030, 0.80),
      (33.4996, 126.5312, 'jeju', 0.050, 0.84), (37.8813, 127.7298, 'gangwon', 0.030, 0.86),
      (37.7519, 128.8761, 'gangwon', 0.030, 0.88), (35.8242, 127.1480, 'jeolla', 0.030, 0.91),
      (36.6424, 127.4890, 'chungcheong', 0.030, 0.94), (35.2281, 128.6811, 'gyeongnam', 0.030, 0.97),
      (36.0190, 129.3435, 'gyeongbuk', 0.030, 1.00)),
    base as (
      select i, c.*, r.*
      from generate_series(1, ${EVENTS}) i
      cross join lateral (select random() as pick, i as j) p
      cross join lateral (select * from cities c where c.cum >= p.pick order by c.cum limit 1) c
      cross join lateral (select
          sqrt(-2 * ln(1 - random())) as rad, 2 * pi() * random() as ang,
          random() as r_kind, random() as r_adj, random() as r_noun, random() as r_desc, random() as r_start,
          random() as r_cap, random() as r_going, random() as r_vis, random() as r_status, random() as r_lock,
          random() as r_len, random() as r_theme, random() as r_tag1, random() as r_tag2, random() as r_like,
          random() as r_created, p.j) r),
    shaped as (
      select *,
        lat + sd * rad * cos(ang) as plat,
        date_trunc('hour', now() + (r_start * 70 - 10) * interval '1 day') as starts,
        case when r_cap < 0.2 then null else 2 + floor(r_cap * 100)::int % 19 end as cap,
        (array['meetup','run','workout','family','other'])[1 + floor(r_kind * 5)::int] as kind
      from base)
    insert into events (host_id, kind, title, description, starts_at, ends_at, place_name, lat, lng, region,
      distance_m, theme, tags, capacity, going_count, visibility, status, locked_at, cancelled_at, like_count,
      created_at)
    select (select ids from hosts)[1 + i % ${HOSTS}], kind,
      (array['Han River','Morning','Evening','Night','Weekend','Trail','City','Beach','Park','Track','Riverside',
        'Mountain'])[1 + floor(r_adj * 12)::int] || ' ' ||
      (array['run','walk','meetup','ride','hike','yoga','board games','coffee chat','study group','cleanup',
        'photo walk','picnic'])[1 + floor(r_noun * 12)::int] || ' #' || i,
      (array['한강에서 함께 달려요', '주말 등산 모임', '초보 환영 러닝 크루', '퇴근 후 요가', '보드게임 같이 해요',
        'Bring water and a smile', null, null])[1 + floor(r_desc * 8)::int],
      starts, starts + interval '2 hours', 'Exit ' || (1 + i % 9) || ', station ' || (i % 300),
      plat, lng + sd * rad * sin(ang) / cos(radians(plat)), region,
      case when kind in ('run', 'workout') then 2000 + floor(r_len * 20000)::int end,
      (array['mountain','city','riverside','beach','park','track',null,null])[1 + floor(r_theme * 8)::int],
      array_remove(array[
        (array['running','hiking','yoga','social','beginner','weekend','night','photo','boardgame','coffee'])
          [1 + floor(r_tag1 * 10)::int],
        case when r_tag2 < 0.5 then (array['casual','fast','family','outdoor','indoor'])[1 + floor(r_tag2 * 10)::int] end
      ], null),
      cap,
      case when cap is null then 1 + floor(r_going * 30)::int else least(cap, 1 + floor(r_going * (cap + 3))::int) end,
      case when r_vis < 0.1 then 'private' else 'public' end,
      case when r_status < 0.02 then 'cancelled' else 'scheduled' end,
      case when r_lock < 0.03 then now() end,
      case when r_status < 0.02 then now() end,
      floor(power(r_like, 3) * 100)::int,
      least(now(), starts) - r_created * interval '30 days'
    from shaped`);
  // VACUUM as well as ANALYZE: the map is answered by an index-only scan, which skips the heap only for pages the
  // visibility map marks all-visible. Autovacuum sets it after a bulk insert like this one within a minute or so
  // (autovacuum_vacuum_insert_threshold); the benchmark does not wait for it.
  await client.query('vacuum analyze events');
  await client.query('analyze users');
}

/**
 * The plans of the SQL the API runs for the first probe of each target: the repository builds it against an
 * executor that only records it. The API runs these queries as named prepared statements, so they are explained
 * the same way: prepared, executed six times (PostgreSQL plans the first five with the parameters, then keeps a
 * generic plan if it costs no more), then explained with the same parameters.
 */
async function explainPlans(
  client: pg.Client,
  search: SearchInput,
  map: SearchInput,
  searchNoTrigram: SearchInput,
): Promise<string[]> {
  const dialect = new PgDialect();
  let captured: { sql: string; params: unknown[] } | undefined;
  const recorder = {
    execute: async (query: SQL) => {
      captured = dialect.sqlToQuery(query);
      return { rows: [] };
    },
    // queryRows with a statement name goes through the session (database.ts).
    session: {
      prepareQuery: (query: { sql: string; params: unknown[] }) => ({
        execute: async () => {
          captured = query;
          return { rows: [] };
        },
      }),
    },
  } as unknown as Executor;
  const service = new DiscoveryService({
    repo: new DiscoveryRepository(TIME_ZONE),
    db: recorder,
    clock: { now: () => new Date() },
    groups: {
      findGroup: async () => null,
      membership: async () => null,
      bannedGroupIds: async () => [],
      holdMembership: async () => false,
    },
    preferences: { preferences: async () => null },
    config: { maxRadiusKm: 50, mapMaxPins: 300 },
  });
  let statements = 0;
  const explain = async (title: string, run: () => Promise<unknown>) => {
    captured = undefined;
    await run();
    const { sql: text, params } = captured!;
    const name = `bench_explain_${++statements}`;
    // The repository's parameters are strings, numbers and dates (drizzle has turned dates into strings).
    const literal = (v: unknown) =>
      v === null || v === undefined
        ? 'null'
        : client.escapeLiteral(v instanceof Date ? v.toISOString() : String(v as string | number));
    const literals = params.map(literal).join(', ');
    await client.query(`prepare ${name} as ${text}`);
    for (let i = 0; i < 6; i++) await client.query(`execute ${name}(${literals})`);
    const plan = await client.query<{ 'QUERY PLAN': string }>(
      `explain (analyze, buffers) execute ${name}(${literals})`,
    );
    await client.query(`deallocate ${name}`);
    const lines = plan.rows.map((r) => r['QUERY PLAN']);
    const seqScan = lines.some((l) => /Seq Scan on events/.test(l));
    return [
      `${title} (${seqScan ? 'WARNING: a sequential scan of events' : 'indexes only, no sequential scan of events'}):`,
      '',
      '```',
      text.replace(/\s+/g, ' ').trim(),
      '',
      ...lines,
      '```',
      '',
    ];
  };
  return [
    `Plans (\`EXPLAIN (ANALYZE, BUFFERS) EXECUTE\` of the prepared statement after six runs, as the API's ` +
      `pooled connections run it; after the load, with the parameters of the first search and map request, and ` +
      `of a search for a keyword without trigrams). \`$n\` in a plan are the parameters, or values computed ` +
      `once per query (InitPlans).`,
    '',
    ...(await explain(`Search “${search.q}”`, () => service.search(null, search))),
    ...(await explain(`Search “${searchNoTrigram.q}” (no trigram)`, () =>
      service.search(null, searchNoTrigram),
    )),
    ...(await explain('Map pins', () => service.map(null, map))),
  ];
}
