import { Redis } from 'ioredis';
import pg from 'pg';

export interface BenchDatabase {
  /** DATABASE_URL pointing at the fresh database. */
  url: string;
  name: string;
  version: string;
  drop(): Promise<void>;
}

/**
 * A database of its own for one run, created next to the one `baseUrl` names and dropped afterwards: Moim
 * migrates whatever DATABASE_URL points at, and the shared `test` database belongs to the test suites.
 */
export async function freshDatabase(baseUrl: string): Promise<BenchDatabase> {
  const name = `moim_bench_${Date.now()}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  let version: string;
  try {
    version = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    version: version.split(' ')[0]!,
    async drop() {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      try {
        // FORCE: a server killed after a timeout can leave its pool's connections behind for a moment.
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export interface BenchRedis {
  /** REDIS_PREFIX for the run, so its keys never mix with a test suite's or a developer's. */
  prefix: string;
  version: string;
  cleanup(): Promise<void>;
}

export async function redisScope(url: string): Promise<BenchRedis> {
  const prefix = `moim-bench-${Date.now()}:`;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let version: string;
  try {
    version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
  return {
    prefix,
    version,
    async cleanup() {
      const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await client.connect();
      try {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          if (keys.length > 0) await client.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        client.disconnect();
      }
    },
  };
}
