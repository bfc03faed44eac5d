import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { migrate as drizzleMigratePg } from 'drizzle-orm/node-postgres/migrator';
import { migrate as drizzleMigratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, pgErrorCode, queryRows, type Database } from '../../src/infra/db/database.js';
import { MIGRATIONS_DIR, readConcurrentMigrations } from '../../src/infra/db/migrate.js';
import { servicesMode } from '../helpers/app.js';

/** 0013 as it first shipped: the covering index built in the migration transaction, blocking writes meanwhile. */
const SHIPPED_0013 = `DROP INDEX "events_public_geo_time_idx";--> statement-breakpoint
CREATE INDEX "events_public_geo_time_idx" ON "events" USING gist ("geo_time") include ("id", "lat", "lng", "title", "starts_at", "going_count", "capacity", "locked_at", "apply_deadline") WHERE "events"."geo_time" is not null and "events"."visibility" = 'public' and "events"."status" = 'scheduled';`;

const INDEX = 'events_public_geo_time_idx';

interface IndexState {
  oid: number;
  valid: boolean;
  covering: boolean;
}

async function indexState(database: Database, name = INDEX): Promise<IndexState | undefined> {
  const [row] = await queryRows<{ oid: string | number; valid: boolean; covering: boolean }>(
    database.db,
    sql`select c.oid, i.indisvalid as valid, i.indnatts > i.indnkeyatts as covering
        from pg_class c join pg_index i on i.indexrelid = c.oid where c.relname = ${name}`,
  );
  return row && { oid: Number(row.oid), valid: row.valid, covering: row.covering };
}

/** How many transactional migrations the release has. */
async function journalLength(): Promise<number> {
  const journal = JSON.parse(await fs.readFile(path.join(MIGRATIONS_DIR, 'meta/_journal.json'), 'utf8')) as {
    entries: unknown[];
  };
  return journal.entries.length;
}

async function appliedCount(database: Database): Promise<{ transactional: number; concurrent: string[] }> {
  const [t] = await queryRows<{ n: number }>(
    database.db,
    sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
  );
  const c = await queryRows<{ name: string }>(
    database.db,
    sql`select name from drizzle.moim_concurrent_migrations order by name`,
  );
  return { transactional: t?.n ?? 0, concurrent: c.map((r) => r.name) };
}

/**
 * The migrations folder of an earlier release: the journal's first `upTo + 1` entries, with 0013 as it shipped
 * when included, applied with drizzle's own migrator (what Moim used before its runner).
 */
async function earlierRelease(dir: string, upTo: number): Promise<string> {
  const out = path.join(dir, `release-${upTo}-${randomBytes(3).toString('hex')}`);
  await fs.mkdir(path.join(out, 'meta'), { recursive: true });
  const journal = JSON.parse(await fs.readFile(path.join(MIGRATIONS_DIR, 'meta/_journal.json'), 'utf8')) as {
    entries: { idx: number; tag: string }[];
  };
  journal.entries = journal.entries.filter((e) => e.idx <= upTo);
  await fs.writeFile(path.join(out, 'meta/_journal.json'), JSON.stringify(journal));
  for (const { tag } of journal.entries) {
    const text = tag.startsWith('0013_')
      ? SHIPPED_0013
      : await fs.readFile(path.join(MIGRATIONS_DIR, `${tag}.sql`), 'utf8');
    await fs.writeFile(path.join(out, `${tag}.sql`), text);
  }
  return out;
}

/** An empty database of its own: PGlite in memory, or a new PostgreSQL database (dropped after the run). */
const created: string[] = [];
async function emptyDatabase(): Promise<{ database: Database; url?: string }> {
  if (!servicesMode) return { database: await openDatabase({ pgliteDir: 'memory://' }) };
  const name = `moim_t_migrations_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`).finally(() => admin.end());
  created.push(name);
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${name}`;
  return { database: await openDatabase({ url: url.toString(), poolMax: 4 }), url: url.toString() };
}

async function migrateWithDrizzle(database: Database, folder: string): Promise<void> {
  if (database.kind === 'postgres')
    await drizzleMigratePg(database.db as never, { migrationsFolder: folder });
  else await drizzleMigratePglite(database.db as never, { migrationsFolder: folder });
}

describe('migrations: index builds outside the migration transaction', () => {
  const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'moim-migrations-'));
  const open: Database[] = [];
  afterAll(async () => {
    for (const d of open) await d.close();
    await fs.rm(await tmp, { recursive: true, force: true });
    if (created.length === 0) return;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    for (const name of created) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  const fresh = async () => {
    const opened = await emptyDatabase();
    open.push(opened.database);
    return opened;
  };

  it('a new database gets the covering index, built by the concurrent step, and migrating again changes nothing', async () => {
    const { database } = await fresh();
    await database.migrate();
    const built = await indexState(database);
    expect(built).toMatchObject({ valid: true, covering: true });
    expect(await indexState(database, `${INDEX}_0009`)).toBeUndefined();
    const applied = await appliedCount(database);
    expect(applied.concurrent).toEqual(['0001_events_public_geo_time_covering']);

    await database.migrate();
    expect(await indexState(database)).toEqual(built);
    expect(await appliedCount(database)).toEqual(applied);
  });

  it('a database that applied 0013 as it first shipped keeps its index as it is', async () => {
    const { database } = await fresh();
    await migrateWithDrizzle(database, await earlierRelease(await tmp, 14));
    const before = await indexState(database);
    expect(before).toMatchObject({ valid: true, covering: true });

    await database.migrate();
    // Not renamed, dropped or built again: the same index; nothing applied twice.
    expect(await indexState(database)).toEqual(before);
    expect(await indexState(database, `${INDEX}_0009`)).toBeUndefined();
    expect(await appliedCount(database)).toEqual({
      transactional: await journalLength(),
      concurrent: ['0001_events_public_geo_time_covering'],
    });
  });

  it('accepts only idempotent index statements in a concurrent migration', async () => {
    const dir = path.join(await tmp, 'concurrent-bad');
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, '0001_ok.sql'), 'DROP INDEX CONCURRENTLY IF EXISTS "x_idx";');
    expect(readConcurrentMigrations(dir)).toEqual([
      {
        name: '0001_ok',
        statements: [{ kind: 'drop', index: 'x_idx', text: 'DROP INDEX CONCURRENTLY IF EXISTS "x_idx";' }],
      },
    ]);
    // Without IF NOT EXISTS a build cut short could never be run again; anything else belongs in a transaction.
    for (const bad of [
      'CREATE INDEX CONCURRENTLY "x_idx" ON "events" ("title");',
      'ALTER TABLE events ADD COLUMN x int;',
    ]) {
      await fs.writeFile(path.join(dir, '0002_bad.sql'), bad);
      expect(() => readConcurrentMigrations(dir)).toThrow(/may run outside the migration transaction/);
    }
  });

  /**
   * A database one release behind (at 0012, with 0009's index), migrated by two processes at once while a
   * writer keeps a transaction open on events: a plain CREATE INDEX would queue behind the writer and every
   * later write behind it; a concurrent build lets writes through.
   */
  describe.runIf(servicesMode)('on PostgreSQL', () => {
    it('builds the index while writes go on, once, however many processes migrate together', async () => {
      const { database, url } = await fresh();
      await migrateWithDrizzle(database, await earlierRelease(await tmp, 12));
      expect(await indexState(database)).toMatchObject({ valid: true, covering: false });
      const second = await openDatabase({ url: url!, poolMax: 4 });
      open.push(second);

      const writer = new pg.Client({ connectionString: url });
      const other = new pg.Client({ connectionString: url });
      await writer.connect();
      await other.connect();
      try {
        await writer.query('begin');
        await writer.query('update events set title = title where false');
        const migrations = Promise.all([database.migrate(), second.migrate()]);
        // The build has begun (it waits for the open writer before scanning).
        await expect
          .poll(
            async () =>
              (
                await other.query(
                  `select count(*)::int as n from pg_stat_progress_create_index where relid = 'events'::regclass`,
                )
              ).rows[0].n,
            { timeout: 30_000 },
          )
          .toBe(1);
        // Meanwhile another write neither waits nor fails.
        await other.query(`set lock_timeout = '2s'`);
        await other.query(`update events set title = title where false`);
        await writer.query('commit');
        await migrations;
      } finally {
        await writer.query('rollback').catch(() => undefined);
        await writer.end();
        await other.end();
      }
      expect(await indexState(database)).toMatchObject({ valid: true, covering: true });
      expect(await indexState(database, `${INDEX}_0009`)).toBeUndefined();
      const [{ n, distinct } = { n: 0, distinct: 0 }] = await queryRows<{ n: number; distinct: number }>(
        database.db,
        sql`select count(*)::int as n, count(distinct created_at)::int as distinct from drizzle.__drizzle_migrations`,
      );
      expect(n).toBe(distinct);
      expect(n).toBe(await journalLength());
    });

    it('an index build that was cut short is dropped and built again by the next run', async () => {
      const { database, url } = await fresh();
      await migrateWithDrizzle(database, await earlierRelease(await tmp, 12));
      const writer = new pg.Client({ connectionString: url });
      const admin = new pg.Client({ connectionString: url });
      await writer.connect();
      await admin.connect();
      try {
        await writer.query('begin');
        await writer.query('update events set title = title where false');
        // Settled at once, so that its failure is not reported as unhandled while the test waits.
        const first = database.migrate().then(() => 'finished', pgErrorCode);
        let pid: number | undefined;
        await expect
          .poll(
            async () => {
              const { rows } = await admin.query(
                `select pid from pg_stat_progress_create_index where relid = 'events'::regclass`,
              );
              pid = rows[0]?.pid as number | undefined;
              return pid;
            },
            { timeout: 30_000 },
          )
          .toBeDefined();
        await admin.query('select pg_cancel_backend($1)', [pid]);
        // query_canceled: the build stopped half-way, leaving its index behind, invalid.
        expect(await first).toBe('57014');
        await writer.query('commit');
      } finally {
        await writer.query('rollback').catch(() => undefined);
        await writer.end();
        await admin.end();
      }
      const broken = await indexState(database);
      expect(broken).toMatchObject({ valid: false });
      expect((await appliedCount(database)).concurrent).toEqual([]);

      await database.migrate();
      const repaired = await indexState(database);
      expect(repaired).toMatchObject({ valid: true, covering: true });
      expect(repaired!.oid).not.toBe(broken!.oid);
      expect(await indexState(database, `${INDEX}_0009`)).toBeUndefined();
      expect((await appliedCount(database)).concurrent).toEqual(['0001_events_public_geo_time_covering']);
    });
  });
});
